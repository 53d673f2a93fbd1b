package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// load sends relays from concurrent workers, each building and signing its
// request as it goes: relay i carries nonce i and id i in its JSON-RPC body,
// so every request is distinct.
type load struct {
	total    int64
	perBlock int64 // relays answered per block
	url      string
	client   *http.Client
	appKey   *secp256k1.PrivateKey
	supplier string
	chain    *fakeChain
	rec      *recorder
	blocks   chan<- struct{} // one send per perBlock relays answered

	next   atomic.Int64 // the next relay to send
	done   atomic.Int64 // relays answered 200
	failed atomic.Int64 // relays not answered 200

	start     time.Time
	at10k     atomic.Int64 // ns since start when the 10,000th relay was answered
	at90      atomic.Int64 // ns since start when 90% were
	atEnd     atomic.Int64 // ns since start when the last was
	latency   hist
	firstFail sync.Once
	failMsg   string
}

// run sends the relays from workers and returns once they are all answered
// or a relay failed.
func (l *load) run(workers int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.start = time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(ctx, cancel)
		}()
	}
	wg.Wait()
}

func (l *load) work(ctx context.Context, cancel func()) {
	for ctx.Err() == nil && l.failed.Load() == 0 {
		i := l.next.Add(1) - 1
		if i >= l.total {
			return
		}
		s := l.rec.session(l.chain.height.Load())
		if s == nil {
			l.fail(fmt.Sprintf("relay %d: no session at height %d", i, l.chain.height.Load()))
			cancel()
			return
		}
		body, err := l.request(i, s.hdr)
		if err != nil {
			l.fail(fmt.Sprintf("relay %d: building the request: %v", i, err))
			cancel()
			return
		}
		t0 := time.Now()
		err = l.send(body)
		l.latency.add(time.Since(t0))
		if err != nil {
			l.fail(fmt.Sprintf("relay %d (session %d-%d, height %d): %v", i, s.hdr.SessionStartBlockHeight, s.hdr.SessionEndBlockHeight, l.chain.height.Load(), err))
			cancel()
			return
		}
		s.relays.Add(1)
		n := l.done.Add(1)
		if n == 10_000 {
			l.at10k.Store(int64(time.Since(l.start)))
		}
		if n == l.total*9/10 {
			l.at90.Store(int64(time.Since(l.start)))
		}
		if n == l.total {
			l.atEnd.Store(int64(time.Since(l.start)))
		}
		if n%l.perBlock == 0 {
			l.blocks <- struct{}{}
		}
	}
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.firstFail.Do(func() { l.failMsg = msg })
}

// request builds relay i of session hdr, signed by the application.
func (l *load) request(i int64, hdr types.SessionHeader) ([]byte, error) {
	payload, err := (&types.HTTPRequest{
		Method:  "POST",
		Path:    "/",
		Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Body:    fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, i),
	}).Marshal()
	if err != nil {
		return nil, err
	}
	req := &types.RelayRequest{
		Meta:    types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: l.supplier, Nonce: binary.BigEndian.AppendUint64(nil, uint64(i))},
		Payload: payload,
	}
	signable, err := protocol.RequestSignableBytes(req)
	if err != nil {
		return nil, err
	}
	// The SDK's secp256k1 signature (R ‖ S, low S) of sha256(signable),
	// with decred's curve as the RelayMiner signs.
	h := sha256.Sum256(signable)
	req.Meta.Signature = ecdsa.SignCompact(l.appKey, h[:], false)[1:]
	return req.Marshal()
}

// send posts a relay request and checks it was answered 200 with a relay
// response.
func (l *load) send(body []byte) error {
	resp, err := l.client.Post(l.url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var res types.RelayResponse
	if uerr := res.Unmarshal(raw); uerr != nil {
		return fmt.Errorf("HTTP %d, not a relay response: %v", resp.StatusCode, uerr)
	}
	if resp.StatusCode != http.StatusOK || res.Error != nil {
		return fmt.Errorf("HTTP %d: %v", resp.StatusCode, res.Error)
	}
	return nil
}

// hist counts latencies in buckets 2^(1/8) wide (9% apart), from 1 µs.
type hist struct {
	buckets [256]atomic.Int64
	max     atomic.Int64 // ns, since the last takeMax
}

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return min(int(math.Log2(us)*8), 255)
}

func (h *hist) add(d time.Duration) {
	h.buckets[bucketOf(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// takeMax returns the longest latency since the last call.
func (h *hist) takeMax() time.Duration { return time.Duration(h.max.Swap(0)) }

// snapshot copies the counts.
func (h *hist) snapshot() (s [256]int64) {
	for i := range s {
		s[i] = h.buckets[i].Load()
	}
	return s
}

// quantile is the upper bound of the bucket holding quantile q of the
// counts now minus those of before.
func quantile(now, before [256]int64, q float64) time.Duration {
	var total int64
	for i := range now {
		total += now[i] - before[i]
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range now {
		if seen += now[i] - before[i]; seen >= want {
			return time.Duration(math.Exp2(float64(i+1)/8) * float64(time.Microsecond))
		}
	}
	return 0
}
