package network

import (
	"net"
	"testing"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// FreeAddr returns a loopback address whose port is free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil/network: free address: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("testutil/network: free address: %v", err)
	}
	return addr
}

// E2EParams are the relayer params of the daemon end-to-end tests: 8-block
// sessions, long enough to relay through a rollover under -race, and claim
// and proof windows wide enough for a slow RelayMiner (11 and 7 blocks).
func E2EParams() types.Params {
	p := types.DefaultParams()
	p.NumBlocksPerSession = 8
	p.GracePeriodEndOffsetBlocks = 2
	p.ClaimWindowOpenOffsetBlocks = 2
	p.ClaimWindowCloseOffsetBlocks = 10
	p.ProofWindowOpenOffsetBlocks = 1
	p.ProofWindowCloseOffsetBlocks = 6
	return p
}
