package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cosmossdk.io/log"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Defaults of the settings left zero.
const (
	DefaultReplicas        = 3
	DefaultPrefix          = "relayminer"
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultLeaseTTL        = 5 * time.Second
	DefaultPublishTimeout  = 2 * time.Second
	// SealMarkerTTL is how long a session's seal marker stays in the
	// stream: far past any session's proof window, after which no replica
	// serves the session's relays any more (they are refused by height).
	SealMarkerTTL = 24 * time.Hour
	// sealWait bounds how long sealing waits for the mirror to reach the
	// seal marker (a new holder catching up); it is tried again next block.
	sealWait = 30 * time.Second
	// recentKeys bounds the relay keys a replica remembers having appended
	// (two generations of recentKeys/2).
	recentKeys = 1 << 17
)

// Config says how to reach JetStream and how to lay the fleet out in it.
// Every replica of a fleet must use the same Prefix.
type Config struct {
	// URLs are the JetStream servers (nats://host:port), several for a
	// cluster.
	URLs []string
	// CredentialsFile is a NATS .creds file (user JWT and nkey seed); Token
	// a bearer token. At most one of them.
	CredentialsFile string
	Token           string
	// TLS, when CA is set, verifies the servers against it; Cert and Key,
	// when set, are this client's certificate.
	TLS TLS
	// Replicas is how many JetStream servers store each message (3: a
	// publish is acknowledged once two of them stored it).
	Replicas int
	// Prefix names the stream (<PREFIX>_RELAYS), the lease bucket
	// (<PREFIX>_LEASES), the relay meter bucket (<PREFIX>_METER) and the
	// subjects (<prefix>.relays..., ...).
	Prefix string
	// DuplicateWindow is how long the server remembers a relay's key to
	// refuse it again.
	DuplicateWindow time.Duration
	// LeaseTTL is how long a lease outlives its holder's last renewal; it
	// is renewed every LeaseTTL/3.
	LeaseTTL time.Duration
	// PublishTimeout bounds appending a relay (a relay not acknowledged in
	// time is refused as not durable).
	PublishTimeout time.Duration
	// CheckpointEvery is how many relays the lease holder mirrors between
	// two checkpoints (default DefaultCheckpointEvery; negative: none).
	CheckpointEvery int
	// ReplicaID names this RelayMiner in the lease bucket and logs
	// (default: host name, process id and a random suffix).
	ReplicaID string
}

// TLS are PEM file paths.
type TLS struct {
	CA, Cert, Key string
}

// SettingError is a problem with one setting of Config: Setting is the
// setting's name in the configuration file (urls, credentials_file, token,
// tls, replicas, prefix, ...).
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// withDefaults fills the zero settings with their defaults and checks
// what can be checked without a server.
func (c Config) withDefaults() (Config, error) {
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		c.ReplicaID = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), r)
	}
	switch {
	case len(c.URLs) == 0:
		return c, &SettingError{"urls", errors.New("at least one JetStream server URL is required")}
	case c.Replicas < 1 || c.Replicas > 5:
		return c, &SettingError{"replicas", fmt.Errorf("must be 1 to 5, got %d", c.Replicas)}
	case !prefixRE.MatchString(c.Prefix):
		return c, &SettingError{"prefix", fmt.Errorf("%q may only hold letters, digits, '-' and '_'", c.Prefix)}
	case c.DuplicateWindow < 0:
		return c, &SettingError{"duplicate_window", fmt.Errorf("must be positive, got %v", c.DuplicateWindow)}
	case c.LeaseTTL < 100*time.Millisecond:
		return c, &SettingError{"lease_ttl", fmt.Errorf("must be at least 100ms, got %v", c.LeaseTTL)}
	case c.PublishTimeout < 0:
		return c, &SettingError{"publish_timeout", fmt.Errorf("must be positive, got %v", c.PublishTimeout)}
	case c.CredentialsFile != "" && c.Token != "":
		return c, &SettingError{"token", errors.New("set either credentials_file or token, not both")}
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		return c, &SettingError{"tls", errors.New("cert and key go together")}
	}
	return c, nil
}

// Fleet is this RelayMiner's part in a fleet: it appends the relays it
// serves to the shared log (as the miner's session store), and, for each
// supplier whose lease it holds, mirrors the log into the local session
// manager and lets it run the lifecycle (as the manager's Coordinator).
type Fleet struct {
	cfg     Config
	logger  log.Logger
	metrics *metrics.Metrics
	db      *store.DB // the local store: mirrored sequences

	nc      *nats.Conn
	link    *link
	js      jetstream.JetStream
	stream  jetstream.Stream
	leases  jetstream.KeyValue
	meter   jetstream.KeyValue // the relay meter's counts
	counter *Counter
	names   names

	recent  *recentSet
	headers *headerCache

	remoteReads atomic.Int64 // leaf bytes read from the stream for proofs (Leaf)

	mu       sync.Mutex
	sessions *session.Manager
	byID     map[string]*lease // by supplier
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// onLease, when set, is called on every lease change (tests).
	onLease func(supplier string, held bool)
}

// Open connects to JetStream and creates the stream and the lease bucket
// if missing (or updates their settings). A bad or unreachable setting is a
// *SettingError naming it. db is the local store the lease holder mirrors
// into; Start begins leasing.
func Open(ctx context.Context, cfg Config, db *store.DB, logger log.Logger, m *metrics.Metrics) (*Fleet, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("relayminer " + cfg.ReplicaID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A relay published while disconnected fails at once (not
		// durable, refused) rather than waiting in a buffer.
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
	}
	lk := &link{}
	opts = append(opts,
		nats.DisconnectErrHandler(func(*nats.Conn, error) { lk.down() }),
		nats.ReconnectHandler(func(*nats.Conn) { lk.up() }))
	if cfg.CredentialsFile != "" {
		if _, err := os.Stat(cfg.CredentialsFile); err != nil {
			return nil, &SettingError{"credentials_file", err}
		}
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLS.CA))
	}
	if cfg.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLS.Cert, cfg.TLS.Key))
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		setting := "urls"
		switch {
		case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired):
			setting = "token"
			if cfg.CredentialsFile != "" {
				setting = "credentials_file"
			}
		case cfg.TLS.CA != "" && strings.Contains(err.Error(), "tls"): // best effort: the client's TLS errors are not typed
			setting = "tls"
		}
		return nil, &SettingError{setting, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.URLs, ","), err)}
	}
	f := &Fleet{
		cfg: cfg, logger: logger.With("module", "fleet", "replica", cfg.ReplicaID), metrics: m, db: db,
		nc: nc, link: lk, names: newNames(cfg.Prefix), recent: newRecentSet(recentKeys), headers: newHeaderCache(), byID: map[string]*lease{},
	}
	if err := f.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	f.counter = newCounter(f)
	return f, nil
}

// setup creates or updates the stream and the lease bucket.
func (f *Fleet) setup(ctx context.Context) error {
	js, err := jetstream.New(f.nc)
	if err != nil {
		return &SettingError{"urls", err}
	}
	f.js = js
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	f.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        f.names.stream,
		Description: "RelayMiner fleet relay log and seal markers",
		Subjects:    []string{f.names.relays + ".>", f.names.seal + ".>", f.names.ckpt + ".>", f.names.commit + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    f.cfg.Replicas,
		Duplicates:  f.cfg.DuplicateWindow,
		// Relays are kept until their session is proven (then purged);
		// seal markers expire on their own.
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		AllowMsgTTL: true,
	})
	if err != nil {
		return &SettingError{"replicas", fmt.Errorf("creating stream %s with %d replicas: %w", f.names.stream, f.cfg.Replicas, err)}
	}
	f.leases, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      f.names.leases,
		Description: "RelayMiner fleet leases: one lifecycle runner per supplier",
		TTL:         f.cfg.LeaseTTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    f.cfg.Replicas,
	})
	if err != nil {
		return &SettingError{"replicas", fmt.Errorf("creating key-value bucket %s with %d replicas: %w", f.names.leases, f.cfg.Replicas, err)}
	}
	f.meter, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      f.names.meter,
		Description: "RelayMiner fleet relay meter: compute units reserved per supplier, application and session",
		TTL:         MeterTTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    f.cfg.Replicas,
	})
	if err != nil {
		return &SettingError{"replicas", fmt.Errorf("creating key-value bucket %s with %d replicas: %w", f.names.meter, f.cfg.Replicas, err)}
	}
	return nil
}

// Start begins taking and renewing the suppliers' leases; sessions is the
// local manager the holder mirrors relays into (its Coordinator must be
// this Fleet). It returns at once.
func (f *Fleet) Start(ctx context.Context, sessions *session.Manager, suppliers ...string) {
	ctx, cancel := context.WithCancel(ctx)
	f.mu.Lock()
	f.sessions, f.cancel = sessions, cancel
	for _, sup := range suppliers {
		if _, ok := f.byID[sup]; ok {
			continue
		}
		l := &lease{f: f, supplier: sup, key: f.names.token(sup), logger: f.logger.With("supplier", sup),
			ckptCh: make(chan checkpointBatch, 64)}
		f.byID[sup] = l
		f.metrics.FleetLeaseHolder.WithLabelValues(sup).Set(0)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			l.run(ctx)
		}()
	}
	f.mu.Unlock()
}

// Stop gives up the leases (so another replica takes them over at once),
// stops mirroring and closes the connection. It may be called more than
// once, and without Start.
func (f *Fleet) Stop() {
	f.stop(true)
}

// Close stops like a crash: the leases are left to expire.
func (f *Fleet) Close() {
	f.stop(false)
}

func (f *Fleet) stop(release bool) {
	f.mu.Lock()
	cancel := f.cancel
	leases := make([]*lease, 0, len(f.byID))
	for _, l := range f.byID {
		leases = append(leases, l)
	}
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
	for _, l := range leases {
		l.lose(release, "stopping")
	}
	f.nc.Close()
}

// ReplicaID names this RelayMiner in the fleet.
func (f *Fleet) ReplicaID() string { return f.cfg.ReplicaID }

func (f *Fleet) lease(supplier string) *lease {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[supplier]
}

// Leads reports whether this replica holds the supplier's lease
// (session.Coordinator).
func (f *Fleet) Leads(supplier string) bool {
	l := f.lease(supplier)
	return l != nil && l.holds()
}

// Holders lists the suppliers whose lease this replica holds.
func (f *Fleet) Holders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for sup, l := range f.byID {
		if l.holds() {
			out = append(out, sup)
		}
	}
	return out
}

// BeforeSeal closes the session in the shared log (publishes its seal
// marker, or finds the one published before) and waits until this
// replica's mirror has applied every message before it (session.Coordinator).
func (f *Fleet) BeforeSeal(ctx context.Context, hdr types.SessionHeader, supplier string) error {
	l := f.lease(supplier)
	if l == nil || !l.holds() {
		return fmt.Errorf("supplier %s: this replica does not hold the lease", supplier)
	}
	seq, err := f.seal(ctx, supplier, hdr.SessionId)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sealWait)
	defer cancel()
	if err := l.waitApplied(ctx, seq); err != nil {
		return fmt.Errorf("waiting for the mirror to reach the seal marker (sequence %d): %w", seq, err)
	}
	l.logger.Info("session closed in the fleet's relay log", "session_id", hdr.SessionId, "service", hdr.ServiceId, "seal_sequence", seq)
	return nil
}

// Forget purges the session's relays from the shared log once they are no
// longer needed (session.Coordinator). Its seal marker stays until it
// expires, so a late relay is still refused.
func (f *Fleet) Forget(ctx context.Context, hdr types.SessionHeader, supplier string) {
	if !f.Leads(supplier) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lg := f.logger.With("supplier", supplier, "session_id", hdr.SessionId, "service", hdr.ServiceId)
	if err := f.stream.Purge(ctx, jetstream.WithPurgeSubject(f.names.relaySubject(supplier, hdr.SessionId))); err != nil {
		// Left in the stream: the next holder may mirror them again and
		// drop them when the chain says the session is over.
		lg.Error("purging the session's relays from the fleet's relay log", "error", err)
		return
	}
	if err := f.stream.Purge(ctx, jetstream.WithPurgeSubject(f.names.checkpointSubject(supplier, hdr.SessionId))); err != nil {
		// They expire.
		lg.Error("purging the session's checkpoint from the fleet's relay log", "error", err)
	}
	lg.Info("session's relays purged from the fleet's relay log")
}

// names are the stream, bucket and subject names of a prefix.
type names struct {
	stream, leases, meter      string
	relays, seal, ckpt, commit string // subject prefixes
}

func newNames(prefix string) names {
	up, low := strings.ToUpper(prefix), strings.ToLower(prefix)
	return names{stream: up + "_RELAYS", leases: up + "_LEASES", meter: up + "_METER",
		relays: low + ".relays", seal: low + ".seal", ckpt: low + ".ckpt", commit: low + ".ckptc"}
}

// checkpointSubject holds a session's checkpoint messages.
func (n names) checkpointSubject(supplier, sessionID string) string {
	return n.ckpt + "." + n.token(supplier) + "." + n.token(sessionID)
}

// checkpointFilter matches every checkpoint message of supplier.
func (n names) checkpointFilter(supplier string) string {
	return n.ckpt + "." + n.token(supplier) + ".*"
}

// commitSubject holds supplier's checkpoint commits (the last one kept).
func (n names) commitSubject(supplier string) string { return n.commit + "." + n.token(supplier) }

// token makes an id one subject token (and a valid key-value key): an id of
// letters, digits, '-' and '_' as is, any other as '=' and its hex, so
// two ids never share a token.
func (names) token(id string) string {
	if plainToken(id) {
		return id
	}
	return "=" + hex.EncodeToString([]byte(id))
}

// plainToken reports whether id is made of letters, digits, '-' and '_'
// only (prefixRE, without a regular expression: it is on every relay's
// path).
func plainToken(id string) bool {
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return id != ""
}

// meterKey is key's key in the meter bucket.
func (n names) meterKey(key meter.Key) string {
	return n.token(key.Supplier) + "." + n.token(key.Application) + "." + n.token(key.Session)
}

func (n names) relaySubject(supplier, sessionID string) string {
	return n.relays + "." + n.token(supplier) + "." + n.token(sessionID)
}

func (n names) sealSubject(supplier, sessionID string, shard int) string {
	return n.seal + "." + n.token(supplier) + "." + n.token(sessionID) + "." + strconv.Itoa(shard)
}

// supplierFilters are the subjects of one supplier's relays and markers.
func (n names) supplierFilters(supplier string) []string {
	return []string{n.relays + "." + n.token(supplier) + ".*", n.seal + "." + n.token(supplier) + ".*.*"}
}

// ErrUnreachable marks a relay refused at once because no JetStream server
// has been reachable for longer than the publish timeout (an outage, not a
// fail-over to another server): it also wraps store.ErrUnavailable.
var ErrUnreachable = errors.New("no JetStream server reachable")

// link tracks since when the connection to JetStream has been down.
type link struct{ downSince atomic.Int64 } // unix nanoseconds; 0 while connected

func (l *link) down() { l.downSince.CompareAndSwap(0, time.Now().UnixNano()) }
func (l *link) up()   { l.downSince.Store(0) }

// outage is nil while connected, or down for no longer than grace (the
// client is moving to another server); after that, an error wrapping
// store.ErrUnavailable and ErrUnreachable, so a relay is refused at once
// rather than after waiting out the publish timeout in vain.
func (l *link) outage(grace time.Duration) error {
	since := l.downSince.Load()
	if since == 0 {
		return nil
	}
	if d := time.Since(time.Unix(0, since)); d > grace {
		return fmt.Errorf("%w: %w for %v", store.ErrUnavailable, ErrUnreachable, d.Round(time.Millisecond))
	}
	return nil
}
