package protocol

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"cosmossdk.io/math"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// RelayHashSize is the size of a relay hash and of a difficulty target.
const RelayHashSize = sha256.Size

// BaseDifficultyTarget is the easiest target: every relay hash is at or
// below it, so every relay is minable.
var BaseDifficultyTarget = bytes.Repeat([]byte{0xff}, RelayHashSize)

// RelayBytes is the canonical encoding of a relay: the trie leaf value and
// the preimage of its hash.
func RelayBytes(r *types.Relay) ([]byte, error) {
	if r == nil {
		return nil, errors.New("relay is nil")
	}
	return r.Marshal()
}

// RelayHash is sha256(relayBytes).
func RelayHash(relayBytes []byte) []byte {
	h := sha256.Sum256(relayBytes)
	return h[:]
}

// DifficultyTarget is the service's target from p.RelayDifficultyTargets, or
// BaseDifficultyTarget when the service is not listed.
func DifficultyTarget(p types.Params, serviceID string) []byte {
	for _, t := range p.RelayDifficultyTargets {
		if t.ServiceId == serviceID {
			return t.Target
		}
	}
	return BaseDifficultyTarget
}

// IsMinable reports whether relayHash is at or below target (big-endian).
func IsMinable(relayHash, target []byte) bool {
	return bytes.Compare(relayHash, target) <= 0
}

// ValidateDifficultyTarget requires exactly 32 bytes, not all zero.
func ValidateDifficultyTarget(target []byte) error {
	if len(target) != RelayHashSize {
		return fmt.Errorf("difficulty target must be %d bytes, got %d", RelayHashSize, len(target))
	}
	if bytes.Count(target, []byte{0}) == RelayHashSize {
		return errors.New("difficulty target must not be all zero")
	}
	return nil
}

var (
	two256     = new(big.Int).Lsh(big.NewInt(1), 256)
	maxMathInt = new(big.Int).Sub(two256, big.NewInt(1))
)

// ClaimedTokens is floor(computeUnits × multiplier × 2^256 / (target+1)):
// each minable relay stands for 2^256/(target+1) relays on average, so the
// base target pays exactly computeUnits × multiplier. The result saturates
// at 2^256-1, the largest math.Int.
func ClaimedTokens(computeUnits, computeUnitsToTokensMultiplier uint64, target []byte) math.Int {
	v := new(big.Int).SetUint64(computeUnits)
	v.Mul(v, new(big.Int).SetUint64(computeUnitsToTokensMultiplier))
	v.Mul(v, two256)
	v.Quo(v, new(big.Int).Add(new(big.Int).SetBytes(target), big.NewInt(1)))
	if v.Cmp(maxMathInt) > 0 {
		v.Set(maxMathInt)
	}
	return math.NewIntFromBigInt(v)
}

// RequestSignableBytes is sha256 of the request marshalled with
// Meta.Signature cleared. The caller's request is not modified. The
// application signs these bytes with its key's Sign method.
func RequestSignableBytes(req *types.RelayRequest) ([]byte, error) {
	if req == nil {
		return nil, errors.New("relay request is nil")
	}
	unsigned := *req
	unsigned.Meta.Signature = nil
	bz, err := unsigned.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal relay request: %w", err)
	}
	return RelayHash(bz), nil
}

// ResponseSignableBytes is sha256 of the response marshalled with
// Meta.SupplierSignature cleared. The caller's response is not modified. The
// supplier operator signs these bytes with its key's Sign method.
func ResponseSignableBytes(res *types.RelayResponse) ([]byte, error) {
	if res == nil {
		return nil, errors.New("relay response is nil")
	}
	unsigned := *res
	unsigned.Meta.SupplierSignature = nil
	bz, err := unsigned.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal relay response: %w", err)
	}
	return RelayHash(bz), nil
}

// VerifyRequestSignature checks the application's signature on req.
func VerifyRequestSignature(req *types.RelayRequest, pub cryptotypes.PubKey) error {
	bz, err := RequestSignableBytes(req)
	if err != nil {
		return err
	}
	return verify("relay request", bz, req.Meta.Signature, pub)
}

// VerifyResponseSignature checks the supplier operator's signature on res.
func VerifyResponseSignature(res *types.RelayResponse, pub cryptotypes.PubKey) error {
	bz, err := ResponseSignableBytes(res)
	if err != nil {
		return err
	}
	return verify("relay response", bz, res.Meta.SupplierSignature, pub)
}

func verify(what string, signable, sig []byte, pub cryptotypes.PubKey) error {
	switch {
	case pub == nil:
		return fmt.Errorf("%s: no public key to verify against", what)
	case len(sig) == 0:
		return fmt.Errorf("%s: missing signature", what)
	case !pub.VerifySignature(signable, sig):
		return fmt.Errorf("%s: invalid signature", what)
	}
	return nil
}
