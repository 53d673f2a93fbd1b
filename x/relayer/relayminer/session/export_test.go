package session

import "github.com/pokt-network/poktroll/x/relayer/types"

// ProveForTest opens t's claim trie at points, as the proof phase does.
func ProveForTest(t *Tree, points []uint64, target []byte) ([]types.LeafProof, error) {
	return t.prove(points, target)
}
