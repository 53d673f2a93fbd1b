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

// Relay rules. A relay has two forms:
//   - the wire form, as sent and answered: payloads in full;
//   - the compact form, held by a trie leaf: each payload replaced by its
//     sha256 in payload_hash.
//
// Both signatures are over the compact form, so they verify on a leaf
// without the payloads, and a leaf (hence a proof) is a few hundred bytes
// whatever the relay's size. A relay's key, which places it in its
// session's trie, is its request's signable bytes: the application alone
// decides it, so one request has exactly one place in the trie whatever the
// supplier answers.

// HashSize is the size of a relay key, a payload hash and a difficulty
// target.
const HashSize = sha256.Size

// MaxNonceSize bounds RelayRequestMetadata.nonce.
const MaxNonceSize = 32

// BaseDifficultyTarget is the easiest target: every relay is minable.
var BaseDifficultyTarget = bytes.Repeat([]byte{0xff}, HashSize)

// Sentinel errors of DecodeLeaf; returned errors wrap one of them.
var (
	ErrLeafMalformed    = errors.New("malformed relay leaf")
	ErrLeafNotCanonical = errors.New("relay leaf is not in canonical encoding")
)

// CompactRequest returns a copy of req in compact form. A request already in
// compact form (no payload, a 32-byte payload hash) is returned as is; one
// carrying both a payload and a payload hash is rejected, so a request has
// one compact form.
func CompactRequest(req *types.RelayRequest) (types.RelayRequest, error) {
	if req == nil {
		return types.RelayRequest{}, errors.New("relay request is nil")
	}
	c := *req
	h, err := compactPayload(c.Payload, c.PayloadHash)
	if err != nil {
		return types.RelayRequest{}, fmt.Errorf("relay request: %w", err)
	}
	c.Payload, c.PayloadHash = nil, h
	return c, nil
}

// CompactResponse is CompactRequest for a response.
func CompactResponse(res *types.RelayResponse) (types.RelayResponse, error) {
	if res == nil {
		return types.RelayResponse{}, errors.New("relay response is nil")
	}
	c := *res
	h, err := compactPayload(c.Payload, c.PayloadHash)
	if err != nil {
		return types.RelayResponse{}, fmt.Errorf("relay response: %w", err)
	}
	c.Payload, c.PayloadHash = nil, h
	return c, nil
}

func compactPayload(payload, payloadHash []byte) ([]byte, error) {
	switch {
	case len(payload) > 0 && len(payloadHash) > 0:
		return nil, errors.New("both payload and payload_hash are set")
	case len(payloadHash) > 0 && len(payloadHash) != HashSize:
		return nil, fmt.Errorf("payload_hash must be %d bytes, got %d", HashSize, len(payloadHash))
	case len(payloadHash) > 0:
		return payloadHash, nil
	}
	h := sha256.Sum256(payload)
	return h[:], nil
}

// RequestSignableBytes is sha256 of the request's compact form marshalled
// with Meta.Signature cleared. The caller's request is not modified. The
// application signs these bytes with its key's Sign method; they are also
// the relay's key (RelayKey).
func RequestSignableBytes(req *types.RelayRequest) ([]byte, error) {
	c, err := CompactRequest(req)
	if err != nil {
		return nil, err
	}
	c.Meta.Signature = nil
	bz, err := c.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal relay request: %w", err)
	}
	h := sha256.Sum256(bz)
	return h[:], nil
}

// RelayKey is the key of req's leaf in its session's trie: its signable
// bytes. It depends on the application-signed request only (nonce
// included, signature excluded).
func RelayKey(req *types.RelayRequest) ([]byte, error) { return RequestSignableBytes(req) }

// ResponseSignableBytes is sha256 of the response's compact form marshalled
// with Meta.SupplierSignature cleared. The caller's response is not
// modified. The supplier operator signs these bytes with its key's Sign
// method.
func ResponseSignableBytes(res *types.RelayResponse) ([]byte, error) {
	c, err := CompactResponse(res)
	if err != nil {
		return nil, err
	}
	c.Meta.SupplierSignature = nil
	bz, err := c.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal relay response: %w", err)
	}
	h := sha256.Sum256(bz)
	return h[:], nil
}

// LeafBytes is the canonical encoding of a relay's compact form: the value
// of its trie leaf.
func LeafBytes(r *types.Relay) ([]byte, error) {
	if r == nil {
		return nil, errors.New("relay is nil")
	}
	req, err := CompactRequest(r.Req)
	if err != nil {
		return nil, err
	}
	res, err := CompactResponse(r.Res)
	if err != nil {
		return nil, err
	}
	return (&types.Relay{Req: &req, Res: &res}).Marshal()
}

// DecodeLeaf decodes a trie leaf. It accepts only the canonical encoding of
// a compact relay: decoding and re-encoding must give the same bytes, so
// unknown fields, non-minimal varints, reordered or default-valued fields
// are all rejected (ErrLeafNotCanonical), and one relay has exactly one
// leaf encoding.
func DecodeLeaf(leaf []byte) (*types.Relay, error) {
	var r types.Relay
	if err := r.Unmarshal(leaf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLeafMalformed, err)
	}
	if r.Req == nil || r.Res == nil {
		return nil, fmt.Errorf("%w: relay lacks its request or response", ErrLeafMalformed)
	}
	if len(r.Req.Payload) > 0 || len(r.Req.PayloadHash) != HashSize ||
		len(r.Res.Payload) > 0 || len(r.Res.PayloadHash) != HashSize {
		return nil, fmt.Errorf("%w: relay is not in compact form (payloads replaced by their %d-byte hashes)", ErrLeafMalformed, HashSize)
	}
	again, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLeafMalformed, err)
	}
	if !bytes.Equal(again, leaf) {
		return nil, ErrLeafNotCanonical
	}
	return &r, nil
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

// MinableHash is what the difficulty target is compared against:
// sha256 over the length-prefixed claim seed block hash (see
// Windows.ClaimSeed) and relay key. Neither side can grind it: the key is
// fixed by the application's signature before the seed block exists, and
// the seed block comes after the last height at which the session's relays
// are served.
func MinableHash(claimSeedBlockHash, relayKey []byte) []byte {
	return hashFields(tagMinable, claimSeedBlockHash, relayKey)
}

// IsMinable reports whether the relay with relayKey counts in its session's
// claim: MinableHash at or below target (big-endian).
func IsMinable(claimSeedBlockHash, relayKey, target []byte) bool {
	return bytes.Compare(MinableHash(claimSeedBlockHash, relayKey), target) <= 0
}

// ValidateDifficultyTarget requires exactly 32 bytes, not all zero.
func ValidateDifficultyTarget(target []byte) error {
	if len(target) != HashSize {
		return fmt.Errorf("difficulty target must be %d bytes, got %d", HashSize, len(target))
	}
	if bytes.Count(target, []byte{0}) == HashSize {
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

// SupplierShare is the most one supplier of a session can be paid: the
// application's stake at the session's start divided (rounding down) among
// the session's suppliers. With no suppliers it is zero.
func SupplierShare(stakeAtSessionStart math.Int, numSuppliers int) math.Int {
	if numSuppliers <= 0 || stakeAtSessionStart.IsNil() || !stakeAtSessionStart.IsPositive() {
		return math.ZeroInt()
	}
	return stakeAtSessionStart.QuoRaw(int64(numSuppliers))
}

// VerifyRequestSignature checks the application's signature on req.
func VerifyRequestSignature(req *types.RelayRequest, pub cryptotypes.PubKey) error {
	bz, err := RequestSignableBytes(req)
	if err != nil {
		return err
	}
	return VerifySignature("relay request", bz, req.Meta.Signature, pub)
}

// VerifyResponseSignature checks the supplier operator's signature on res.
func VerifyResponseSignature(res *types.RelayResponse, pub cryptotypes.PubKey) error {
	bz, err := ResponseSignableBytes(res)
	if err != nil {
		return err
	}
	return VerifySignature("relay response", bz, res.Meta.SupplierSignature, pub)
}

// VerifySignature checks sig over signable bytes already computed (what
// the ...SignableBytes functions return); what names the message in errors.
func VerifySignature(what string, signable, sig []byte, pub cryptotypes.PubKey) error {
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
