package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"math/rand"
	"testing"

	"cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func header() *types.SessionHeader {
	return &types.SessionHeader{
		ApplicationAddress:      "pokt1app",
		ServiceId:               "svc",
		SessionId:               "abcd",
		SessionStartBlockHeight: 5,
		SessionEndBlockHeight:   8,
	}
}

func newRelay(rng *rand.Rand) *types.Relay {
	payload := make([]byte, 16+rng.Intn(64))
	rng.Read(payload)
	return &types.Relay{
		Req: &types.RelayRequest{
			Meta:    types.RelayRequestMetadata{SessionHeader: header(), Signature: []byte("sig"), SupplierOperatorAddress: "pokt1sup"},
			Payload: payload,
		},
		Res: &types.RelayResponse{
			Meta:    types.RelayResponseMetadata{SessionHeader: header(), SupplierSignature: []byte("ssig")},
			Payload: []byte("ok"),
		},
	}
}

func TestLeafBytesIsCanonicalCompactForm(t *testing.T) {
	r := newRelay(rand.New(rand.NewSource(1)))
	leaf, err := protocol.LeafBytes(r)
	require.NoError(t, err)
	back, err := protocol.DecodeLeaf(leaf)
	require.NoError(t, err)
	require.Empty(t, back.Req.Payload)
	require.Empty(t, back.Res.Payload)
	reqHash, resHash := sha256.Sum256(r.Req.Payload), sha256.Sum256(r.Res.Payload)
	require.Equal(t, reqHash[:], back.Req.PayloadHash)
	require.Equal(t, resHash[:], back.Res.PayloadHash)
	again, err := protocol.LeafBytes(back)
	require.NoError(t, err)
	require.Equal(t, leaf, again, "the compact form is its own compact form")
	require.NotEmpty(t, r.Req.Payload, "caller's relay not modified")

	// a big payload gives the same small leaf size
	big := newRelay(rand.New(rand.NewSource(1)))
	big.Res.Payload = make([]byte, 3<<20)
	bigLeaf, err := protocol.LeafBytes(big)
	require.NoError(t, err)
	require.Equal(t, len(leaf), len(bigLeaf))

	_, err = protocol.LeafBytes(nil)
	require.Error(t, err)
	both := newRelay(rand.New(rand.NewSource(1)))
	both.Req.PayloadHash = reqHash[:]
	_, err = protocol.LeafBytes(both)
	require.Error(t, err, "payload and payload hash both set")
	short := newRelay(rand.New(rand.NewSource(1)))
	short.Res.Payload, short.Res.PayloadHash = nil, []byte{1, 2}
	_, err = protocol.LeafBytes(short)
	require.Error(t, err, "payload hash of the wrong size")
}

// TestDecodeLeafRejectsNonCanonicalEncodings re-encodes one relay in ways
// that decode to the same relay: each must be refused, so a relay has one
// leaf encoding.
func TestDecodeLeafRejectsNonCanonicalEncodings(t *testing.T) {
	leaf, err := protocol.LeafBytes(newRelay(rand.New(rand.NewSource(3))))
	require.NoError(t, err)
	var r types.Relay
	require.NoError(t, r.Unmarshal(leaf))
	reqBz, err := r.Req.Marshal()
	require.NoError(t, err)
	resBz, err := r.Res.Marshal()
	require.NoError(t, err)
	field := func(num int, body []byte) []byte { // length-delimited field
		return append(append([]byte{byte(num<<3 | 2)}, protowire(len(body))...), body...)
	}
	tests := map[string][]byte{
		"unknown field appended":   append(bytes.Clone(leaf), 0x78, 0x01), // field 15, varint 1
		"fields reordered":         append(field(2, resBz), field(1, reqBz)...),
		"non-minimal length":       append(append([]byte{0x0a}, nonMinimal(len(reqBz))...), append(reqBz, field(2, resBz)...)...),
		"field repeated":           append(field(1, reqBz), append(field(1, reqBz), field(2, resBz)...)...),
		"unknown field in request": append(field(1, append(bytes.Clone(reqBz), 0x78, 0x01)), field(2, resBz)...),
	}
	for name, bz := range tests {
		var back types.Relay
		require.NoError(t, back.Unmarshal(bz), "%s still decodes", name)
		_, err := protocol.DecodeLeaf(bz)
		require.ErrorIs(t, err, protocol.ErrLeafNotCanonical, name)
	}

	wire := newRelay(rand.New(rand.NewSource(3)))
	wireBz, err := wire.Marshal()
	require.NoError(t, err)
	_, err = protocol.DecodeLeaf(wireBz)
	require.ErrorIs(t, err, protocol.ErrLeafMalformed, "the wire form (payloads in full) is not a leaf")
	_, err = protocol.DecodeLeaf([]byte{0xff, 0xff})
	require.ErrorIs(t, err, protocol.ErrLeafMalformed)
	_, err = protocol.DecodeLeaf(field(1, reqBz))
	require.ErrorIs(t, err, protocol.ErrLeafMalformed, "no response")
}

func protowire(n int) []byte {
	var out []byte
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	return append(out, byte(n))
}

// nonMinimal encodes n as a varint with a redundant continuation byte.
func nonMinimal(n int) []byte {
	v := protowire(n)
	v[len(v)-1] |= 0x80
	return append(v, 0x00)
}

func TestRelayKeyDependsOnTheSignedRequestOnly(t *testing.T) {
	key := secp256k1.GenPrivKey()
	r := newRelay(rand.New(rand.NewSource(4)))
	k1, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	require.Len(t, k1, 32)

	other := *r.Req
	other.Meta.Signature, err = key.Sign(k1)
	require.NoError(t, err)
	k2, err := protocol.RelayKey(&other)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the signature is not part of the key")

	compact, err := protocol.CompactRequest(r.Req)
	require.NoError(t, err)
	k3, err := protocol.RelayKey(&compact)
	require.NoError(t, err)
	require.Equal(t, k1, k3, "wire and compact forms have one key")

	nonced := *r.Req
	nonced.Meta.Nonce = []byte{1}
	k4, err := protocol.RelayKey(&nonced)
	require.NoError(t, err)
	require.NotEqual(t, k1, k4, "the nonce makes identical calls two relays")
}

func TestMinabilityIsDrawnFromTheClaimSeed(t *testing.T) {
	low := target(0x0f) // 1/16 of hashes
	minable := map[string]int{}
	for _, seed := range []string{"seed-a", "seed-b"} {
		for i := 0; i < 4000; i++ {
			k := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
			require.True(t, protocol.IsMinable([]byte(seed), k[:], protocol.BaseDifficultyTarget))
			if protocol.IsMinable([]byte(seed), k[:], low) {
				minable[seed]++
				require.True(t, protocol.IsMinable([]byte(seed), k[:], low), "deterministic")
			}
		}
	}
	for seed, n := range minable {
		// 4 standard deviations of a binomial(4000, 1/16): 4 × 15.3
		require.InDelta(t, 4000/16, n, 62, "%s: %d minable", seed, n)
	}
	k := sha256.Sum256([]byte("k"))
	require.Equal(t, protocol.MinableHash([]byte("s"), k[:]), protocol.MinableHash([]byte("s"), k[:]))
	require.NotEqual(t, protocol.MinableHash([]byte("s"), k[:]), protocol.MinableHash([]byte("t"), k[:]))
}

func TestSupplierShare(t *testing.T) {
	require.Equal(t, int64(333), protocol.SupplierShare(math.NewInt(1000), 3).Int64())
	require.True(t, protocol.SupplierShare(math.NewInt(1000), 0).IsZero())
	require.True(t, protocol.SupplierShare(math.Int{}, 2).IsZero())
	require.True(t, protocol.SupplierShare(math.NewInt(-5), 2).IsZero())
}

func target(first byte) []byte {
	return append([]byte{first}, bytes.Repeat([]byte{0xff}, 31)...)
}

func TestDifficultyTarget(t *testing.T) {
	require.Equal(t, bytes.Repeat([]byte{0xff}, 32), protocol.BaseDifficultyTarget)
	p := types.Params{RelayDifficultyTargets: []types.RelayDifficultyTarget{
		{ServiceId: "a", Target: target(0x0f)}, {ServiceId: "b", Target: target(0x7f)},
	}}
	require.Equal(t, target(0x0f), protocol.DifficultyTarget(p, "a"))
	require.Equal(t, target(0x7f), protocol.DifficultyTarget(p, "b"))
	require.Equal(t, protocol.BaseDifficultyTarget, protocol.DifficultyTarget(p, "c"))

}

func TestValidateDifficultyTarget(t *testing.T) {
	tests := []struct {
		target []byte
		ok     bool
	}{
		{protocol.BaseDifficultyTarget, true},
		{target(0x00), true},
		{append(make([]byte, 31), 1), true},
		{make([]byte, 32), false},
		{nil, false},
		{make([]byte, 31), false},
		{bytes.Repeat([]byte{0xff}, 33), false},
	}
	for i, tt := range tests {
		err := protocol.ValidateDifficultyTarget(tt.target)
		require.Equal(t, tt.ok, err == nil, "case %d: %v", i, err)
	}
}

func TestClaimedTokens(t *testing.T) {
	maxInt := math.NewIntFromBigInt(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)))
	tests := []struct {
		cu, mult uint64
		target   []byte
		want     math.Int
	}{
		{100, 3, protocol.BaseDifficultyTarget, math.NewInt(300)},
		{100, 3, target(0x7f), math.NewInt(600)},
		{100, 3, target(0x3f), math.NewInt(1200)},
		{1, 1, target(0x00), math.NewInt(256)},
		{0, 3, target(0x3f), math.ZeroInt()},
		{7, 0, protocol.BaseDifficultyTarget, math.ZeroInt()},
		// 2^256 / (2^255 + 1) = 1.99…: floored
		{1, 1, append([]byte{0x80}, make([]byte, 31)...), math.NewInt(1)},
		{^uint64(0), ^uint64(0), protocol.BaseDifficultyTarget,
			math.NewIntFromUint64(^uint64(0)).Mul(math.NewIntFromUint64(^uint64(0)))},
		// would exceed 256 bits: saturates instead of panicking
		{^uint64(0), ^uint64(0), append(make([]byte, 31), 1), maxInt},
	}
	for i, tt := range tests {
		require.True(t, tt.want.Equal(protocol.ClaimedTokens(tt.cu, tt.mult, tt.target)),
			"case %d: got %s want %s", i, protocol.ClaimedTokens(tt.cu, tt.mult, tt.target), tt.want)
	}
}

func signedRequest(t *testing.T, key *secp256k1.PrivKey) *types.RelayRequest {
	req := &types.RelayRequest{
		Meta:    types.RelayRequestMetadata{SessionHeader: header(), SupplierOperatorAddress: "pokt1sup"},
		Payload: []byte(`{"method":"eth_blockNumber"}`),
	}
	bz, err := protocol.RequestSignableBytes(req)
	require.NoError(t, err)
	req.Meta.Signature, err = key.Sign(bz)
	require.NoError(t, err)
	return req
}

func TestRequestSignature(t *testing.T) {
	key, other := secp256k1.GenPrivKey(), secp256k1.GenPrivKey()
	req := signedRequest(t, key)
	require.NoError(t, protocol.VerifyRequestSignature(req, key.PubKey()))

	sig := bytes.Clone(req.Meta.Signature)
	_, err := protocol.RequestSignableBytes(req)
	require.NoError(t, err)
	require.Equal(t, sig, req.Meta.Signature, "caller's request not mutated")

	tests := map[string]func(r *types.RelayRequest) *types.RelayRequest{
		"payload": func(r *types.RelayRequest) *types.RelayRequest { r.Payload = []byte("x"); return r },
		"nonce":   func(r *types.RelayRequest) *types.RelayRequest { r.Meta.Nonce = []byte("n"); return r },
		"session header": func(r *types.RelayRequest) *types.RelayRequest {
			r.Meta.SessionHeader.SessionEndBlockHeight++
			return r
		},
		"session id":        func(r *types.RelayRequest) *types.RelayRequest { r.Meta.SessionHeader.SessionId = "other"; return r },
		"supplier":          func(r *types.RelayRequest) *types.RelayRequest { r.Meta.SupplierOperatorAddress = "x"; return r },
		"signature":         func(r *types.RelayRequest) *types.RelayRequest { r.Meta.Signature[3] ^= 1; return r },
		"missing signature": func(r *types.RelayRequest) *types.RelayRequest { r.Meta.Signature = nil; return r },
		"nil request":       func(*types.RelayRequest) *types.RelayRequest { return nil },
	}
	for name, tamper := range tests {
		require.Error(t, protocol.VerifyRequestSignature(tamper(signedRequest(t, key)), key.PubKey()), name)
	}
	require.Error(t, protocol.VerifyRequestSignature(signedRequest(t, key), other.PubKey()), "wrong key")
	require.Error(t, protocol.VerifyRequestSignature(signedRequest(t, key), nil), "no key")

	compact, err := protocol.CompactRequest(signedRequest(t, key))
	require.NoError(t, err)
	require.Empty(t, compact.Payload)
	require.NoError(t, protocol.VerifyRequestSignature(&compact, key.PubKey()), "the signature verifies on the compact form")
	compact.PayloadHash[0] ^= 1
	require.Error(t, protocol.VerifyRequestSignature(&compact, key.PubKey()), "tampered payload hash")
}

func TestResponseSignature(t *testing.T) {
	key, other := secp256k1.GenPrivKey(), secp256k1.GenPrivKey()
	sign := func() *types.RelayResponse {
		res := &types.RelayResponse{
			Meta:    types.RelayResponseMetadata{SessionHeader: header()},
			Payload: []byte("result"),
		}
		bz, err := protocol.ResponseSignableBytes(res)
		require.NoError(t, err)
		res.Meta.SupplierSignature, err = key.Sign(bz)
		require.NoError(t, err)
		return res
	}
	res := sign()
	require.NoError(t, protocol.VerifyResponseSignature(res, key.PubKey()))
	withSig, err := protocol.ResponseSignableBytes(res)
	require.NoError(t, err)
	require.NotEmpty(t, res.Meta.SupplierSignature, "caller's response not mutated")
	res.Meta.SupplierSignature = []byte("anything")
	withOtherSig, err := protocol.ResponseSignableBytes(res)
	require.NoError(t, err)
	require.Equal(t, withSig, withOtherSig, "signature excluded from signable bytes")

	res = sign()
	res.Payload = []byte("forged")
	require.Error(t, protocol.VerifyResponseSignature(res, key.PubKey()), "tampered payload")
	res = sign()
	res.Meta.SessionHeader.ApplicationAddress = "pokt1other"
	require.Error(t, protocol.VerifyResponseSignature(res, key.PubKey()), "tampered session header")
	res = sign()
	res.Error = &types.RelayError{Code: 1}
	require.Error(t, protocol.VerifyResponseSignature(res, key.PubKey()), "added error")
	require.Error(t, protocol.VerifyResponseSignature(sign(), other.PubKey()), "wrong key")
	require.Error(t, protocol.VerifyResponseSignature(nil, key.PubKey()))
	res = sign()
	res.Meta.RelayKey = []byte("another request")
	require.Error(t, protocol.VerifyResponseSignature(res, key.PubKey()), "moved onto another request")

	compact, err := protocol.CompactResponse(sign())
	require.NoError(t, err)
	require.NoError(t, protocol.VerifyResponseSignature(&compact, key.PubKey()), "the signature verifies on the compact form")
}
