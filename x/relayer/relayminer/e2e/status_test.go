package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/client/cli"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/status"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// relayMinerStatus runs `poktrolld relayminer status` with args and
// returns its output.
func relayMinerStatus(t *testing.T, args ...string) string {
	t.Helper()
	cmd := cli.RelayMinerStatusCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	require.NoError(t, cmd.ExecuteContext(context.Background()))
	return out.String()
}

// statusJSON is the RelayMiner's status report read through the command's
// JSON output.
func statusJSON(t *testing.T, addr string) status.Report {
	t.Helper()
	var r status.Report
	require.NoError(t, json.Unmarshal([]byte(relayMinerStatus(t, "--addr", addr, "-o", "json")), &r))
	return r
}

// sessionIn is the report's row of a supplier's session, if any.
func sessionIn(r status.Report, supplier, service, sessionID string) (status.Session, bool) {
	for _, svc := range r.Services {
		if svc.Supplier != supplier || svc.Service != service {
			continue
		}
		for _, s := range svc.Sessions {
			if s.SessionID == sessionID {
				return s, true
			}
		}
	}
	return status.Session{}, false
}

// txWith finds the tx carrying a message matching is in the blocks
// from..to committed so far, and returns its hash (as the status report
// writes it) and height.
func txWith(t *testing.T, n *network.Network, from, to int64, is func(m any) bool) (hash string, height int64) {
	t.Helper()
	latest, err := n.LatestHeight()
	require.NoError(t, err)
	eachTx(t, n, from, min(to, latest), func(h int64, raw []byte, m sdk.Msg) {
		if hash == "" && is(m) {
			hash, height = fmt.Sprintf("%X", cmttypes.Tx(raw).Hash()), h
		}
	})
	require.NotEmpty(t, hash, "no such tx in blocks %d-%d", from, to)
	return hash, height
}

// statusScenario: a RelayMiner serves 5 relays of a session; `relayminer
// status` shows the open session's counts, then the claim and proof txs
// with the hashes and heights the chain has, and the earnings the chain's
// settlement events say.
func statusScenario(t *testing.T, n *network.Network, p types.Params, backendURL string) {
	sup3 := meterSupplier{"sup3", "btc", network.FreeAddr(t)}
	t.Run("relayminer status shows sessions, claims and proofs with their tx hashes, and earnings", func(t *testing.T) {
		t.Parallel()
		stakeFor(t, n, "app3", "btc", meterAppStake, sup3)
		path, cfg := meterConfig(t, n.RPCURL(), backendURL, sup3)
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		addr := cfg.Health.Listen
		c := newClient(t, n, "app3", "sup3", "http://"+sup3.listen)
		sup := c.supplier

		hdr := nextSessionOf(t, n, "app3", "btc").Header
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		const relays = 5
		for i := 0; i < relays; i++ {
			status, res := c.send(t, c.request(t, hdr, "app3", i))
			require.Equal(t, http.StatusOK, status, "%v", res.Error)
		}
		r := statusJSON(t, addr)
		s, ok := sessionIn(r, sup, "btc", hdr.SessionId)
		require.True(t, ok, "the open session is reported: %+v", r.Services)
		require.Equal(t, status.StateOpen, s.State)
		require.EqualValues(t, relays, s.Relays)
		require.EqualValues(t, relays*cupr, s.ComputeUnits)
		require.Equal(t, fmt.Sprintf("%dupokt", relays*relayTokens), s.ExpectedTokens)
		require.Equal(t, hdr.SessionStartBlockHeight, s.StartHeight)
		require.Equal(t, hdr.SessionEndBlockHeight, s.EndHeight)
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		var windows []string
		for _, u := range r.Upcoming {
			if u.SessionID == hdr.SessionId {
				windows = append(windows, fmt.Sprintf("%d %s", u.Height, u.What))
			}
		}
		require.Contains(t, windows, fmt.Sprintf("%d claim window opens", w.ClaimWindowOpen))
		require.Contains(t, windows, fmt.Sprintf("%d proof window closes: settlement", w.ProofWindowClose))

		// The proof lands: the report names both txs as the chain has them.
		waitFor(t, n, 60*time.Second, "the proof", func() bool {
			r = statusJSON(t, addr)
			return len(r.Proofs) > 0 && r.Proofs[0].SessionID == hdr.SessionId && r.Proofs[0].Result == status.TxLanded
		})
		claimHash, claimHeight := txWith(t, n, w.ClaimWindowOpen-1, w.ClaimWindowClose, func(m any) bool {
			c, ok := m.(*types.MsgCreateClaim)
			return ok && c.SupplierOperatorAddress == sup && c.SessionHeader.SessionId == hdr.SessionId
		})
		proofHash, proofHeight := txWith(t, n, w.ProofWindowOpen-1, w.ProofWindowClose, func(m any) bool {
			p, ok := m.(*types.MsgSubmitProof)
			return ok && p.SupplierOperatorAddress == sup && p.SessionHeader.SessionId == hdr.SessionId
		})
		require.NotEmpty(t, r.Claims)
		for _, tc := range []struct {
			got    status.Tx
			hash   string
			height int64
		}{{r.Claims[0], claimHash, claimHeight}, {r.Proofs[0], proofHash, proofHeight}} {
			require.Equal(t, hdr.SessionId, tc.got.SessionID)
			require.Equal(t, sup, tc.got.Supplier)
			require.Equal(t, "btc", tc.got.Service)
			require.Equal(t, status.TxLanded, tc.got.Result)
			require.Equal(t, tc.hash, tc.got.TxHash)
			require.Equal(t, tc.height, tc.got.Height)
		}
		if s, ok := sessionIn(r, sup, "btc", hdr.SessionId); ok {
			require.Contains(t, []string{status.StateProving, status.StateProven}, s.State)
			require.EqualValues(t, relays, s.Relays)
			require.EqualValues(t, relays*cupr, s.ComputeUnits, "the claimed compute units")
		}

		// Settled: the earnings are the chain's settlement.
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 60*time.Second)
		require.NoError(t, err)
		waitFor(t, n, 10*time.Second, "the relay miner to see the settlement", func() bool { return rm.Chain.LatestHeight() > w.ProofWindowClose })
		r = statusJSON(t, addr)
		paid := fmt.Sprintf("%dupokt", relays*relayTokens)
		require.Equal(t, paid, r.Earnings.Total)
		require.Equal(t, map[string]string{sup: paid}, r.Earnings.BySupplier)
		require.Len(t, r.Earnings.Settlements, 1)
		st := r.Earnings.Settlements[0]
		require.Equal(t, status.Settlement{Height: w.ProofWindowClose, SessionID: hdr.SessionId, Supplier: sup, Service: "btc", Result: "settled", Amount: paid}, st)

		// The settled session is no longer held.
		waitFor(t, n, 10*time.Second, "the settled session to be forgotten", func() bool {
			_, held := sessionIn(statusJSON(t, addr), sup, "btc", hdr.SessionId)
			return !held
		})

		// The table, reading the address from the config.
		table := relayMinerStatus(t, "--config", path)
		require.Contains(t, table, "earned over the last 10 sessions: "+paid)
		require.Contains(t, table, claimHash)
		require.Contains(t, table, proofHash)
	})
}
