package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
)

// startBackend serves the service's backend: every POST gets a small
// JSON-RPC result. It returns the backend's URL and a stop function.
func startBackend() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var served atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if req.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":{"backend":"faults","n":%d}}`, served.Add(1))
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// load sends relays through the AppGate at a fixed rate from a few workers
// and counts the answers: a relay is "answered" when the AppGate returns
// 200, which it does only with a supplier-signed response.
type load struct {
	url     string
	rate    int
	workers int
	heights *localchain.Heights
	blocks  uint64 // blocks per session
	first   int64  // start height of the run's first session

	mu       sync.Mutex
	answered map[int64]int64  // session start height → relays answered 200
	failed   map[string]int64 // failure kind → count
	skipped  int64            // ticks dropped because every worker was busy
	last     int64            // height of the last answered relay
}

func newLoad(url string, rate, workers int, h *localchain.Heights, blocksPerSession uint64, firstSession int64) *load {
	return &load{url: url, rate: rate, workers: workers, heights: h, blocks: blocksPerSession, first: firstSession,
		answered: map[int64]int64{}, failed: map[string]int64{}}
}

// run sends relays until ctx ends, then waits for those in flight.
func (l *load) run(ctx context.Context) {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: l.workers, MaxConnsPerHost: l.workers},
	}
	jobs := make(chan int64, l.workers)
	var wg sync.WaitGroup
	for range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				l.send(client, id)
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	var id int64
	for {
		select {
		case <-ctx.Done():
			close(jobs)
			wg.Wait()
			return
		case <-tick.C:
			id++
			select {
			case jobs <- id:
			default:
				l.mu.Lock()
				l.skipped++
				l.mu.Unlock()
			}
		}
	}
}

// send sends one relay and records its outcome against the session it was
// most likely served in.
func (l *load) send(client *http.Client, id int64) {
	h := l.heights.Now()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"faults_ping","params":[]}`, id)
	resp, err := client.Post(l.url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		l.fail("transport error")
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.fail(fmt.Sprintf("HTTP %d", resp.StatusCode))
		return
	}
	l.mu.Lock()
	l.answered[l.servedSession(h)]++
	l.last = max(l.last, h)
	l.mu.Unlock()
}

func (l *load) fail(kind string) {
	l.mu.Lock()
	l.failed[kind]++
	l.mu.Unlock()
}

// servedSession is the start height of the session a relay sent while
// height h was the latest was most likely served in: the AppGate serves the
// session of the latest height, except right at a session's first block,
// where it prefers the previous one (still in its grace period) because
// suppliers may not have seen the new session yet (unless the previous
// session is before the run's first, which the supplier was not part of).
func (l *load) servedSession(h int64) int64 {
	if h > l.first && protocol.SessionStartHeight(l.blocks, h) == h {
		h--
	}
	return max(protocol.SessionStartHeight(l.blocks, h), l.first)
}

// loadStats is a copy of the counters.
type loadStats struct {
	answered map[int64]int64
	failed   map[string]int64
	skipped  int64
	last     int64
}

func (l *load) stats() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := loadStats{answered: map[int64]int64{}, failed: map[string]int64{}, skipped: l.skipped, last: l.last}
	for k, v := range l.answered {
		s.answered[k] = v
	}
	for k, v := range l.failed {
		s.failed[k] = v
	}
	return s
}

func (s loadStats) totalAnswered() int64 {
	var n int64
	for _, v := range s.answered {
		n += v
	}
	return n
}

func (s loadStats) failures() string {
	if len(s.failed) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(s.failed))
	for k := range s.failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s ×%d", k, s.failed[k])
	}
	return out
}
