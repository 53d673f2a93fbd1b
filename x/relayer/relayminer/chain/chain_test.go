package chain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/chain"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestChainClient runs the client against a real in-process chain (one
// network per test binary).
func TestChainClient(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	n := network.New(t, network.WithFundedAccounts("sup"))
	ctx := context.Background()
	c, err := chain.NewClient(n.RPCURL(), n.QueryConn(), n.Codec(), log.NewNopLogger())
	require.NoError(t, err)
	_, err = c.Sync(ctx)
	require.NoError(t, err)

	t.Run("the submitter recovers when the key signed elsewhere, and returns chain rejections as module errors", func(t *testing.T) {
		s := chain.NewSubmitter(c, n.ClientCtx().TxConfig, n.Keyring(), chain.TxConfig{ChainID: n.ChainID(), GasPrices: sdk.NewDecCoins()}, log.NewNopLogger(), metrics.New())
		addr, err := s.AddSigner("sup")
		require.NoError(t, err)
		service := func(id string, cu uint64) sdk.Msg {
			return &types.MsgAddService{OwnerAddress: addr, ServiceId: id, Name: id, ComputeUnitsPerRelay: cu}
		}
		require.NoError(t, s.Submit(ctx, addr, 0, service("a", 1)))

		// The operator uses the same key elsewhere: the submitter's sequence
		// is stale and must be refreshed, not fail the claim.
		n.MustSendTx(t, "sup", service("b", 1))
		require.NoError(t, s.Submit(ctx, addr, 0, service("c", 1)))
		for _, id := range []string{"a", "b", "c"} {
			_, err := n.RelayerQuery().Service(ctx, &types.QueryServiceRequest{Id: id})
			require.NoError(t, err, "service %s", id)
		}

		err = s.Submit(ctx, addr, 0, service("d", 0))
		require.ErrorIs(t, err, types.ErrInvalidService, "a refused tx comes back as the registered error")
		require.NoError(t, s.Submit(ctx, addr, 0, service("e", 1)), "a refused tx does not spoil the sequence")

		require.Error(t, s.Submit(ctx, n.Address(n.ValidatorName()), 0, service("f", 1)), "no key registered for that signer")
	})

	t.Run("blocks are handed out in order, each once", func(t *testing.T) {
		followCtx, cancel := context.WithCancel(ctx)
		var (
			mu      sync.Mutex
			heights []int64
			done    = make(chan struct{})
		)
		go func() {
			defer close(done)
			_ = c.FollowBlocks(followCtx, 200*time.Millisecond, func(_ context.Context, h int64) {
				mu.Lock()
				heights = append(heights, h)
				if len(heights) == 5 {
					cancel()
				}
				mu.Unlock()
			})
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("fewer than 5 blocks in 60 s")
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(heights); i++ {
			require.Equal(t, heights[i-1]+1, heights[i], "heights %v", heights)
		}
		require.Equal(t, heights[len(heights)-1], c.LatestHeight())
		hash, err := c.BlockHash(ctx, heights[0])
		require.NoError(t, err)
		require.Len(t, hash, 32)
		empty, err := c.BlockHash(ctx, 0)
		require.NoError(t, err)
		require.Nil(t, empty, "height 0 seeds the first session with the empty hash")
	})
}
