package session_test

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// heapInUse is the heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestMemoryStaysFlatWhileRelaysAreDurable logs 200,000 distinct relays of
// one session: once they are durable the RelayMiner holds nothing per relay
// (the heap grows by far less than the relays' size), and the claim trie
// built from the log has the root smt's in-memory trie gives the same
// relays.
func TestMemoryStaysFlatWhileRelaysAreDurable(t *testing.T) {
	const n = 200_000
	const bound = 48 << 20 // leveldb's memtable (16 MiB, twice while flushing) and caches
	f := newFixture(t)
	hdr := f.header(1)
	tmpl := relaytest.NewRelay(t, hdr, f.app, f.sup, 1)
	res, err := protocol.CompactResponse(tmpl.Res)
	require.NoError(t, err)
	ref := smt.NewSparseMerkleSumTrie(simplemap.NewSimpleMap(), sha256.New())
	leafOf := func(j int) (key, leaf []byte) {
		req := *tmpl.Req
		req.Meta.Nonce = binary.BigEndian.AppendUint64(nil, uint64(j))
		c, err := protocol.CompactRequest(&req)
		require.NoError(t, err)
		key, err = protocol.RelayKey(&c)
		require.NoError(t, err)
		leaf, err = (&types.Relay{Req: &c, Res: &res}).Marshal()
		require.NoError(t, err)
		return key, leaf
	}

	before := heapInUse()
	var logged uint64
	for j := 0; j < n; j++ {
		key, leaf := leafOf(j)
		logged += uint64(len(leaf))
		require.NoError(t, f.manager.AddRelay(hdr, f.sup.Address, cupr, protocol.LeafPath(key), key, leaf))
	}
	held := int64(heapInUse()) - int64(before)
	t.Logf("%d relays (%d MB of leaves) logged; heap grew by %d MB", n, logged>>20, held>>20)
	require.Less(t, held, int64(bound), "memory held after %d durable relays", n)
	require.Greater(t, logged, uint64(2*bound), "the relays are far bigger than the bound")

	// The reference trie, built after the measurement (it holds every node).
	for j := 0; j < n; j++ {
		key, leaf := leafOf(j)
		require.NoError(t, ref.Update(key, leaf, cupr))
	}
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen)
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, []byte(ref.Root()), claim.RootHash)
}
