package localchain

import (
	"fmt"
	"math/rand"
	"net"
	"time"
)

// Ports are the local TCP ports of a chain and its off-chain processes, all
// on 127.0.0.1. A zero port is not used (AppGateHealth: no health server).
type Ports struct {
	P2P, RPC, GRPC, Relay, RelayHealth, AppGate, AppGateHealth int
}

func (p Ports) list() []int {
	var out []int
	for _, port := range []int{p.P2P, p.RPC, p.GRPC, p.Relay, p.RelayHealth, p.AppGate, p.AppGateHealth} {
		if port != 0 {
			out = append(out, port)
		}
	}
	return out
}

// Busy returns the ports something already listens on.
func (p Ports) Busy() []int {
	var busy []int
	for _, port := range p.list() {
		if Listening(port) {
			busy = append(busy, port)
		}
	}
	return busy
}

// Listening reports whether something accepts connections on
// 127.0.0.1:port.
func Listening(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// FreePorts picks free ports in [low, high), all seven of them. Pick them
// below the kernel's ephemeral range (Linux: from 32768; macOS: from
// 49152), so that no outgoing connection can hold one when a restarted
// process binds it again.
func FreePorts(low, high int) (Ports, error) {
	var ps [7]int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := range ps {
		for try := 0; ; try++ {
			if try == 100 {
				return Ports{}, fmt.Errorf("no free port in %d-%d after 100 tries", low, high)
			}
			port := low + rng.Intn(high-low)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			held = append(held, l)
			ps[i] = port
			break
		}
	}
	return Ports{ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], ps[6]}, nil
}
