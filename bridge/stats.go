package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
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
// log. The keys are the drop reasons and the names of shared services: a
// short fixed list, kept in an expiring map (go-cache) that forgets a key
// an hour after its last line.
type rateLimitedLog struct {
	interval time.Duration
	keys     *cache.Cache // key -> *logKey
}

// logKey is when a key's last line was written, and how many were held
// back since.
type logKey struct {
	mu   sync.Mutex
	last time.Time
	held int
}

func newRateLimitedLog(interval time.Duration) *rateLimitedLog {
	return &rateLimitedLog{interval: interval, keys: cache.New(time.Hour, 10*time.Minute)}
}

func (r *rateLimitedLog) warn(log logrus.FieldLogger, key string, now time.Time, msg string) {
	k := &logKey{}
	if v, ok := r.keys.Get(key); ok {
		k = v.(*logKey)
	} else if r.keys.Add(key, k, cache.DefaultExpiration) != nil {
		if v, ok := r.keys.Get(key); ok {
			k = v.(*logKey) // added at the same moment by another request
		}
	}
	k.mu.Lock()
	if now.Sub(k.last) < r.interval {
		k.held++
		k.mu.Unlock()
		return
	}
	held := k.held
	k.last, k.held = now, 0
	k.mu.Unlock()
	r.keys.SetDefault(key, k) // an hour from this line
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
