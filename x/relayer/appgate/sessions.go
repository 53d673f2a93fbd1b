package appgate

import (
	"context"
	"errors"
	"sync"

	"cosmossdk.io/log"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

var errNoCurrentSession = errors.New("the cached session is over and the node has no newer one yet")

// session is a session with the last height its relays are served.
type session struct {
	types.Session
	graceEnd int64
}

func (s *session) start() int64 { return s.Header.SessionStartBlockHeight }
func (s *session) end() int64   { return s.Header.SessionEndBlockHeight }

// servable reports whether relays of s may still be served at height h.
func (s *session) servable(h int64) bool { return s != nil && h <= s.graceEnd }

// sessions keeps, for each service, the application's current session and
// the previous one while its grace period lasts. The chain is asked again
// only once the current session has ended (at most once per block).
type sessions struct {
	app    string
	chain  Chain
	logger log.Logger
	by     map[string]*serviceSessions
}

type serviceSessions struct {
	service   string
	refreshMu sync.Mutex // one query at a time

	mu        sync.Mutex
	cur, prev *session
	err       error  // the last query's error, nil once a query succeeds
	askedAt   int64  // height of the last query
	logged    string // the last error logged by onBlock
}

func newSessions(app string, services []string, chain Chain, logger log.Logger) *sessions {
	s := &sessions{app: app, chain: chain, logger: logger, by: map[string]*serviceSessions{}}
	for _, id := range services {
		s.by[id] = &serviceSessions{service: id}
	}
	return s
}

// onBlock refreshes every service whose current session ended before h,
// and forgets previous sessions past their grace period.
func (s *sessions) onBlock(ctx context.Context, h int64) {
	for _, ss := range s.by {
		err := s.refresh(ctx, ss, h, false)
		ss.mu.Lock()
		if ss.prev != nil && h > ss.prev.graceEnd {
			ss.prev = nil
		}
		// The same refusal comes every block (e.g. a service the application
		// is not staked for): log it when it changes.
		logIt := err != nil && err.Error() != ss.logged
		ss.logged = ""
		if err != nil {
			ss.logged = err.Error()
		}
		ss.mu.Unlock()
		if logIt {
			s.logger.Info("no session", "service", ss.service, "height", h, "error", err)
		}
	}
}

// refresh asks the chain for the current session when the cached one
// ended before h (or always, when force), at most once per height unless
// force.
func (s *sessions) refresh(ctx context.Context, ss *serviceSessions, h int64, force bool) error {
	if !force {
		if done, err := ss.answered(h); done {
			return err
		}
	}
	ss.refreshMu.Lock()
	defer ss.refreshMu.Unlock()
	if !force {
		if done, err := ss.answered(h); done { // by the refresh we waited for
			return err
		}
	}

	got, err := s.chain.CurrentSession(ctx, s.app, ss.service)
	if err != nil {
		if ctx.Err() == nil { // a canceled request says nothing about the chain
			ss.mu.Lock()
			ss.err, ss.askedAt = err, max(ss.askedAt, h)
			ss.mu.Unlock()
		}
		return err
	}
	next := &session{Session: got, graceEnd: got.Header.SessionEndBlockHeight}
	if p, err := s.chain.ParamsAt(ctx, got.Header.SessionStartBlockHeight); err == nil {
		next.graceEnd = protocol.SessionWindows(p, got.Header.SessionEndBlockHeight).GracePeriodEnd
	} else {
		s.logger.Info("params unknown: serving the session without its grace period", "service", ss.service, "session_id", got.Header.SessionId, "error", err)
	}

	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.err, ss.askedAt = nil, max(ss.askedAt, h)
	switch {
	case ss.cur != nil && ss.cur.Header.SessionId == got.Header.SessionId:
		return nil // the node has not committed the next session's first block yet
	case ss.cur != nil && got.Header.SessionStartBlockHeight < ss.cur.start():
		return nil // a lagging node: keep the newer session
	}
	if ss.cur != nil {
		ss.prev = ss.cur
	}
	ss.cur = next
	s.logger.Info("new session", "service", ss.service, "session_id", got.Header.SessionId,
		"start", got.Header.SessionStartBlockHeight, "end", got.Header.SessionEndBlockHeight,
		"grace_end", next.graceEnd, "suppliers", len(got.Suppliers))
	return nil
}

// answered says whether the cached session (or error) answers for height
// h without asking the chain.
func (ss *serviceSessions) answered(h int64) (bool, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cur != nil && h <= ss.cur.end() {
		return true, nil
	}
	if ss.askedAt >= h {
		return true, ss.err
	}
	return false, nil
}

// candidates returns the sessions relays of service may be sent for at
// the latest height, in order of preference: the current session, and
// the previous one while its grace period lasts. Right at a session's
// start (or when the node is ahead of the block follower) the previous
// session comes first: suppliers that have not seen the new session's
// first block yet would refuse it. force asks the chain again even if the
// cached session looks current.
func (s *sessions) candidates(ctx context.Context, service string, force bool) ([]*session, error) {
	ss := s.by[service]
	h := s.chain.LatestHeight()
	err := s.refresh(ctx, ss, h, force)
	ss.mu.Lock()
	cur, prev := ss.cur, ss.prev
	ss.mu.Unlock()
	out := order(cur, prev, h)
	if len(out) == 0 {
		if err == nil {
			err = errNoCurrentSession
		}
		return nil, err
	}
	return out, nil
}

// order lists the sessions servable at height h, preferred first.
func order(cur, prev *session, h int64) []*session {
	var out []*session
	if cur.servable(h) {
		out = append(out, cur)
	}
	if prev.servable(h) && prev.start() <= h {
		if cur != nil && cur.start() >= h {
			out = append([]*session{prev}, out...)
		} else {
			out = append(out, prev)
		}
	}
	return out
}

// snapshot returns each service's current session id, or the error of
// the last query, for health reports.
func (s *sessions) snapshot() map[string]string {
	out := map[string]string{}
	for id, ss := range s.by {
		ss.mu.Lock()
		switch {
		case ss.cur != nil:
			out[id] = ss.cur.Header.SessionId
		case ss.err != nil:
			out[id] = "error: " + ss.err.Error()
		default:
			out[id] = "unknown"
		}
		ss.mu.Unlock()
	}
	return out
}
