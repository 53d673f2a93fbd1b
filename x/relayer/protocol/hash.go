package protocol

import (
	"crypto/sha256"
	"encoding/binary"
)

// Domain tags keep the different hashes of this package apart, so that no
// preimage of one kind can be replayed as another.
const (
	tagSessionID    = "poktroll/relayer/session-id/v1"
	tagSupplierRank = "poktroll/relayer/supplier-rank/v1"
	tagMinable      = "poktroll/relayer/minable/v1"
	tagProofPoint   = "poktroll/relayer/proof-point/v1"
	tagProofDraw    = "poktroll/relayer/proof-draw/v1"
)

// hashFields returns sha256(tag ‖ len(f1) ‖ f1 ‖ len(f2) ‖ f2 ‖ …) where each
// length is 8 bytes big-endian. The length prefixes make the encoding
// injective: moving bytes from one field to its neighbour changes the hash.
func hashFields(tag string, fields ...[]byte) []byte {
	h := sha256.New()
	var n [8]byte
	for _, f := range append([][]byte{[]byte(tag)}, fields...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return h.Sum(nil)
}

// int64Bytes is the 8-byte big-endian encoding of v.
func int64Bytes(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}
