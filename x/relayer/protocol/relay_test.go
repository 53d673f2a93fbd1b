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

func TestRelayBytesAndHash(t *testing.T) {
	r := newRelay(rand.New(rand.NewSource(1)))
	bz, err := protocol.RelayBytes(r)
	require.NoError(t, err)
	var back types.Relay
	require.NoError(t, back.Unmarshal(bz))
	again, err := protocol.RelayBytes(&back)
	require.NoError(t, err)
	require.Equal(t, bz, again, "stable encoding")

	h := sha256.Sum256(bz)
	require.Equal(t, h[:], protocol.RelayHash(bz))
	require.Len(t, protocol.RelayHash(nil), 32)

	_, err = protocol.RelayBytes(nil)
	require.Error(t, err)
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

	rng := rand.New(rand.NewSource(2))
	low := target(0x03) // ~1/64 of hashes
	lowMinable := 0
	for i := 0; i < 1000; i++ {
		h := protocol.RelayHash([]byte{byte(i), byte(i >> 8), byte(rng.Intn(256))})
		require.True(t, protocol.IsMinable(h, protocol.BaseDifficultyTarget))
		if protocol.IsMinable(h, low) {
			lowMinable++
		}
	}
	require.Less(t, lowMinable, 60, "low target: mostly not minable")
	require.Greater(t, lowMinable, 0)

	require.True(t, protocol.IsMinable(target(0x10), target(0x10)), "equal to target is minable")
	above := target(0x10)
	above[0] = 0x11
	above[31] = 0
	require.False(t, protocol.IsMinable(above, target(0x10)))
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
}
