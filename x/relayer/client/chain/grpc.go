package chain

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// GRPCReconnect is the dial option of a gRPC query connection to a node:
// reconnection attempts start 100 ms after a loss and are at most 1 s
// apart (gRPC's default grows to 120 s), and an attempt that hangs (a
// node whose host drops packets rather than refusing connections) is given
// up after 2 s (default 20 s), so a node that comes back is used within
// about a second. 2 s still leaves a TCP and HTTP/2 handshake of several
// round trips to a distant node time to complete.
func GRPCReconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  100 * time.Millisecond,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   time.Second,
		},
		MinConnectTimeout: 2 * time.Second,
	})
}
