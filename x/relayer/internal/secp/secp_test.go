package secp_test

import (
	"math/rand"
	"testing"

	"github.com/cosmos/cosmos-sdk/crypto/keys/ed25519"
	sdksecp "github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/secp"
)

// TestSignaturesAreTheSDKs: for random keys and messages the signer's
// signature is byte for byte the SDK's (with or without the
// libsecp256k1_sdk tag), and verifies with the SDK.
func TestSignaturesAreTheSDKs(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		key := sdksecp.GenPrivKey()
		s, err := secp.NewSigner(key)
		require.NoError(t, err)
		msg := make([]byte, rng.Intn(200))
		rng.Read(msg)
		want, err := key.Sign(msg)
		require.NoError(t, err)
		got, err := s.Sign(msg)
		require.NoError(t, err)
		require.Equal(t, want, got, "key %d", i)
		require.True(t, key.PubKey().VerifySignature(msg, got))
	}
	_, err := secp.NewSigner(ed25519.GenPrivKey())
	require.Error(t, err)
}

func BenchmarkSignSDK(b *testing.B) {
	key := sdksecp.GenPrivKey()
	msg := []byte("a relay response's signable bytes")
	for i := 0; i < b.N; i++ {
		_, _ = key.Sign(msg)
	}
}

func BenchmarkSign(b *testing.B) {
	s, _ := secp.NewSigner(sdksecp.GenPrivKey())
	msg := []byte("a relay response's signable bytes")
	for i := 0; i < b.N; i++ {
		_, _ = s.Sign(msg)
	}
}
