package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Drop reasons, as counted and logged.
const (
	dropUnknownClient = "unknown_client"
	dropMalformed     = "malformed"
	dropUnsupported   = "unsupported_code"
	dropNoMsgAuth     = "missing_message_authenticator"
	dropBadMsgAuth    = "bad_message_authenticator"
	dropProxyState    = "proxy_state_without_message_authenticator"
	dropInFlight      = "duplicate_in_flight"
	dropOverload      = "overload"
	dropRateLimited   = "rate_limited"
	dropUpstream      = "upstream_failure"
)

// Counts returns a snapshot of every counter, such as "drop:unknown_client"
// or "reply:Access-Accept".
func (s *Server) Counts() map[string]int64 {
	out := map[string]int64{}
	s.tally.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Count returns one counter.
func (s *Server) Count(name string) int64 { return s.tally.get(name) }

// rateLimitedLog writes a warning at most once per interval per key and
// says how many were held back, so a flood of bad packets cannot flood the
// log.
type rateLimitedLog struct {
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	held     map[string]int
}

func newRateLimitedLog(interval time.Duration) *rateLimitedLog {
	return &rateLimitedLog{interval: interval, last: map[string]time.Time{}, held: map[string]int{}}
}

func (r *rateLimitedLog) warn(log logrus.FieldLogger, key string, now time.Time, msg string) {
	r.mu.Lock()
	if now.Sub(r.last[key]) < r.interval {
		r.held[key]++
		r.mu.Unlock()
		return
	}
	held := r.held[key]
	r.last[key], r.held[key] = now, 0
	if len(r.last) > 10000 { // bound the keys an attacker can create
		r.last, r.held = map[string]time.Time{key: now}, map[string]int{}
	}
	r.mu.Unlock()
	if held > 0 {
		log = log.WithField("suppressed", held)
	}
	log.Warn(msg)
}

// Trace has lines of the conversations of user (case-folded) and/or nas
// sent on a channel until ctx ends (the channel is not closed: read it
// until ctx ends). A slow reader loses lines, never slows a login.
func (s *Server) Trace(ctx context.Context, user, nas string) <-chan string {
	return s.deps.Tracer.Watch(ctx, user, nas)
}
