package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
)

// The RelayMiner process is this program re-executed with roleEnv set to
// roleRelayMiner and the same flags; the load process hands it the backend
// URL and the keys in the environment.
const (
	roleEnv        = "SOAK_ROLE"
	roleRelayMiner = "relayminer"
	backendEnv     = "SOAK_BACKEND"
	appPubKeyEnv   = "SOAK_APP_PUBKEY"   // hex, compressed secp256k1
	supplierKeyEnv = "SOAK_SUPPLIER_KEY" // hex, secp256k1 private key
)

// ready is the one line (JSON) the RelayMiner process writes to its stdout
// once it serves relays.
type ready struct {
	Proxy    string // the proxy's address
	Control  string // the control server's address
	Dir      string // the store's directory
	GOGC     int    // the GC percent in effect (-1: off)
	MemLimit int64  // the soft memory limit in effect, bytes (math.MaxInt64: none)
	PID      int
}

// minerStats is the RelayMiner process's Go runtime and store, as GET
// /stats reports them.
type minerStats struct {
	HeapInuse  uint64 // bytes in in-use spans
	HeapAlloc  uint64 // bytes of live and not yet swept objects
	HeapSys    uint64
	Sys        uint64 // bytes obtained from the OS by the runtime
	TotalAlloc uint64 // cumulative bytes allocated
	Mallocs    uint64 // cumulative objects allocated
	NumGC      uint32
	PauseTotal time.Duration
	GCCPU      float64       // the share of the process's CPU the GC used since it started
	CPU        time.Duration // the process's user + system CPU time
	Store      int64         // store size, bytes (-1: unknown)
	Height     int64         // the newest block handed to the manager
}

// minerReport is GET /report: every session's lifecycle, the errors the
// RelayMiner logged and the trees it still holds.
type minerReport struct {
	Sessions []lifecycle
	Errors   int64
	Trees    int
	Stats    minerStats
}

// runRelayMiner is the RelayMiner process: the fake chain, the store, the
// session manager, the miner and the proxy, with the fake submitter and the
// recorder, plus a control server on loopback through which the load
// process drives the heights and reads the figures:
//
//	POST /height?h=N[&wait=1]  set the chain's height to N and hand it to
//	                           Manager.OnBlock (wait=1: wait for the
//	                           manager's background work before and after)
//	GET  /stats                minerStats, as JSON
//	POST /memprofile           write the heap profile to -memprofile
//	GET  /report               minerReport, as JSON, once the store sizes
//	                           after the last proof have settled
//
// It stops, cleaning up, when its stdin is closed (by the load process, or
// because that process died).
func runRelayMiner(o options) error {
	backendURL, err := url.Parse(os.Getenv(backendEnv))
	if err != nil || backendURL.Host == "" {
		return fmt.Errorf("%s: not a backend URL: %q", backendEnv, os.Getenv(backendEnv))
	}
	appPubRaw, err := hex.DecodeString(os.Getenv(appPubKeyEnv))
	if err != nil || len(appPubRaw) != secp256k1.PubKeySize {
		return fmt.Errorf("%s: not a secp256k1 public key", appPubKeyEnv)
	}
	supRaw, err := hex.DecodeString(os.Getenv(supplierKeyEnv))
	if err != nil || len(supRaw) != secp256k1.PrivKeySize {
		return fmt.Errorf("%s: not a secp256k1 private key", supplierKeyEnv)
	}
	appPub, supKey := &secp256k1.PubKey{Key: appPubRaw}, &secp256k1.PrivKey{Key: supRaw}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.pprofAddr != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		runtime.SetMutexProfileFraction(100)
		go func() { fmt.Fprintln(os.Stderr, "soak relayminer: pprof:", http.ListenAndServe(o.pprofAddr, nil)) }()
	}

	// The store.
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "soak-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	db, err := store.Open(dir, store.Options{SyncWrites: o.syncWrites})
	if err != nil {
		return err
	}
	defer db.Close()

	// The fake chain and the RelayMiner's relay path.
	params, err := soakParams(o.blocksPerSession)
	if err != nil {
		return err
	}
	chain := newFakeChain(params, appPub, sdk.AccAddress(supKey.PubKey().Address()).String())
	rec := newRecorder(db, chain, o.sessions)
	logger := eventLog{rec: rec}
	ctx := context.Background()
	m := metrics.New()
	manager := session.NewManager(db, chain, &submitter{chain: chain, rec: rec}, logger, m, session.Options{})
	if err := manager.Load(); err != nil {
		return err
	}
	defer manager.Wait()
	srv := proxy.New("127.0.0.1:0", []proxy.Service{{ServiceID: serviceID, Supplier: chain.supplier, Key: supKey,
		Backend: backendURL, Timeout: 10 * time.Second, MaxBodyBytes: 1 << 20}}, chain, miner.New(chain, manager, m), logger, m)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	// The control server.
	stats := func() minerStats {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return minerStats{GCCPU: ms.GCCPUFraction, CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, HeapSys: ms.HeapSys, Sys: ms.Sys,
			TotalAlloc: ms.TotalAlloc, Mallocs: ms.Mallocs, NumGC: ms.NumGC, PauseTotal: time.Duration(ms.PauseTotalNs),
			Store: storeSize(db), Height: chain.height.Load()}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /height", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseInt(r.URL.Query().Get("h"), 10, 64)
		if err != nil || h != chain.height.Load()+1 {
			http.Error(w, fmt.Sprintf("height %q: want %d", r.URL.Query().Get("h"), chain.height.Load()+1), http.StatusBadRequest)
			return
		}
		wait := r.URL.Query().Get("wait") == "1"
		if wait {
			manager.Wait()
		}
		chain.height.Store(h)
		rec.block(h, time.Now())
		manager.OnBlock(ctx, h)
		if wait {
			manager.Wait()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(stats())
	})
	mux.HandleFunc("POST /memprofile", func(w http.ResponseWriter, _ *http.Request) {
		if o.memProfile == "" {
			http.Error(w, "no -memprofile", http.StatusBadRequest)
			return
		}
		if err := writeHeapProfile(o.memProfile); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, _ *http.Request) {
		rec.settling.Wait()
		_ = json.NewEncoder(w).Encode(minerReport{Sessions: rec.lifecycles(), Errors: rec.errors.Load(),
			Trees: len(manager.Trees()), Stats: stats()})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctl.Serve(ln) }()
	defer ctl.Close()

	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	line, _ := json.Marshal(ready{Proxy: srv.Addr(), Control: ln.Addr().String(), Dir: dir, GOGC: gogc,
		MemLimit: debug.SetMemoryLimit(-1), PID: os.Getpid()})
	if _, err := fmt.Printf("%s\n", line); err != nil {
		return err
	}

	// Serve until stdin is closed.
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
