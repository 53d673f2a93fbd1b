package network

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// RelayerEvents returns the relayer module's typed events emitted in blocks
// from..to (inclusive), from successful txs and block hooks alike, in
// order. Events of failed txs are left out: their state was discarded.
func (n *Network) RelayerEvents(t testing.TB, from, to int64) []proto.Message {
	t.Helper()
	var out []proto.Message
	for h := from; h <= to; h++ {
		res, err := n.RPCClient().BlockResults(context.Background(), &h)
		if err != nil {
			t.Fatalf("testutil/network: block results at %d: %v", h, err)
		}
		all := append([]abci.Event(nil), res.FinalizeBlockEvents...)
		for _, tx := range res.TxsResults {
			if tx.Code == 0 {
				all = append(all, tx.Events...)
			}
		}
		for _, e := range all {
			if !types.IsEvent(e) {
				continue
			}
			msg, err := types.ParseEvent(e)
			if err != nil {
				t.Fatalf("testutil/network: event %s at %d: %v", e.Type, h, err)
			}
			out = append(out, msg)
		}
	}
	return out
}
