package session_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// BenchmarkClaimTrie100k logs 100,000 distinct signed relays of one session
// in a leveldb store, then times what the claim window adds: sealing (the
// claim trie built in one pass from the relay log) and the proof (the
// default 3 leaf proofs). Use -benchtime 1x.
func BenchmarkClaimTrie100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		f := newFixture(b)
		hdr := f.header(1)
		// Distinct relays: one signed template, its nonce varied (signing
		// 100k relays would time the signer, not the trie).
		tmpl := relaytest.NewRelay(b, hdr, f.app, f.sup, 1)
		res, err := protocol.CompactResponse(tmpl.Res)
		require.NoError(b, err)
		start := time.Now()
		for j := 0; j < n; j++ {
			req := *tmpl.Req
			req.Meta.Nonce = binary.BigEndian.AppendUint64(nil, uint64(j))
			c, err := protocol.CompactRequest(&req)
			require.NoError(b, err)
			key, err := protocol.RelayKey(&c)
			require.NoError(b, err)
			leaf, err := (&types.Relay{Req: &c, Res: &res}).Marshal()
			require.NoError(b, err)
			require.NoError(b, f.manager.AddRelay(hdr, f.sup.Address, cupr, protocol.LeafPath(key), key, leaf))
		}
		logged := time.Since(start)
		peak, err := f.db.Size()
		require.NoError(b, err)

		w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
		b.ResetTimer()
		start = time.Now()
		f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
		f.manager.Wait()
		sealed := time.Since(start)
		claim := claimsOf(f.tx.all())[hdr.SessionId]
		require.NotNil(b, claim)
		root, err := protocol.ParseRoot(claim.RootHash)
		require.NoError(b, err)
		require.EqualValues(b, n, root.Count)

		start = time.Now()
		f.manager.OnBlock(context.Background(), w.ProofWindowOpen)
		f.manager.Wait()
		done := time.Now()
		b.StopTimer()
		var proofBytes int
		var proved time.Time
		f.tx.mu.Lock()
		for i, tx := range f.tx.txs {
			if p, ok := tx[0].(*types.MsgSubmitProof); ok {
				proofBytes, proved = p.Size(), f.tx.at[i]
			}
		}
		f.tx.mu.Unlock()
		require.NotZero(b, proofBytes, "a proof was submitted")
		b.ReportMetric(float64(n)/logged.Seconds(), "logged-relays/s")
		b.ReportMetric(sealed.Seconds()*1000, "seal-ms")
		b.ReportMetric(proved.Sub(start).Seconds()*1000, "prove-ms")
		b.ReportMetric(done.Sub(proved).Seconds()*1000, "delete-ms")
		b.ReportMetric(float64(proofBytes), "proof-bytes")
		// leveldb removes the files compactions made obsolete in the
		// background: wait until the size settles.
		after, err := f.db.Size()
		require.NoError(b, err)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			now, err := f.db.Size()
			require.NoError(b, err)
			if now == after {
				break
			}
			after = now
		}
		b.ReportMetric(time.Since(done).Seconds()*1000, "disk-freed-ms")
		b.ReportMetric(float64(peak)/(1<<20), "store-peak-MB")
		b.ReportMetric(float64(after)/(1<<20), "store-after-proof-MB")
	}
}
