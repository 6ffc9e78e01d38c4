package throttle

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Memory is a Counter in this process. Its entries live in one LRU list of
// at most a fixed size: a flood of made-up names evicts the least recently
// touched entries, one at a time and without a sweep, and counting goes on.
// (go-cache, which mfabridge uses for plain expiring maps, has no size
// bound: a flood would grow it until the window ends.)
type Memory struct {
	s   Settings
	now func() time.Time

	mu      sync.Mutex
	entries *simplelru.LRU[string, *entry]
	evicted atomic.Int64
}

var _ Counter = (*Memory)(nil)

// NewMemory returns a counter holding at most size entries (three per
// failing user and source at the most).
func NewMemory(s Settings, size int, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{s: s.WithDefaults(), now: now}
	m.entries, _ = simplelru.NewLRU[string, *entry](max(size, 3), func(string, *entry) { m.evicted.Add(1) })
	return m
}

// Evicted is how many entries were dropped to keep the bound.
func (m *Memory) Evicted() int64 { return m.evicted.Load() }

// Len is the number of entries held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries.Len()
}

func userKey(user string) string           { return "u\x00" + Canonical(user) }
func pairKey(user string, s Source) string { return "p\x00" + Canonical(user) + "\x00" + s.key() }
func stationKey(s Source) string           { return "s\x00" + s.key() }

// Check decides for a login of user from src.
func (m *Memory) Check(_ context.Context, user string, src Source) (Verdict, error) {
	if m.s.Attempts == 0 {
		return Verdict{}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	pair, _ := m.entries.Peek(pairKey(user, src))
	var station *entry
	if src.Station != "" {
		station, _ = m.entries.Peek(stationKey(src))
	}
	u, _ := m.entries.Peek(userKey(user))
	return m.s.decide(now, pair, station, u), nil
}

// bump counts a failure in the entry under key and returns it.
func (m *Memory) bump(key string, now time.Time) *entry {
	e, ok := m.entries.Get(key)
	if !ok {
		e = &entry{since: now}
		m.entries.Add(key, e)
	}
	if now.Sub(e.since) > m.s.Window {
		e.failures, e.since = 0, now
	}
	e.failures++
	return e
}

// Fail records a failed login.
func (m *Memory) Fail(_ context.Context, user string, src Source) error {
	if m.s.Attempts == 0 {
		return nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bump(userKey(user), now)
	if p := m.bump(pairKey(user, src), now); p.failures >= m.s.Attempts {
		p.lockedUntil, p.failures, p.since = now.Add(m.s.Duration), 0, now
	}
	if src.Station != "" {
		if st := m.bump(stationKey(src), now); st.failures >= m.s.SourceAttempts {
			st.lockedUntil, st.failures, st.since = now.Add(m.s.Duration), 0, now
		}
	}
	return nil
}

// Succeed records a successful login.
func (m *Memory) Succeed(_ context.Context, user string, src Source) error {
	if m.s.Attempts == 0 {
		return nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries.Add(pairKey(user, src), &entry{since: now, provenUntil: now.Add(m.s.Window)})
	return nil
}

// Clear forgets the user's counts and locks. Pair entries of the user from
// other sources are found by a walk over the entries: an operator's rare
// command, never a login's.
func (m *Memory) Clear(_ context.Context, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries.Remove(userKey(user))
	prefix := "p\x00" + Canonical(user) + "\x00"
	for _, k := range m.entries.Keys() {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			m.entries.Remove(k)
		}
	}
	return nil
}

// List returns the users, sources and stations with failures in the
// window or a lock in force.
func (m *Memory) List(context.Context) ([]Record, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, k := range m.entries.Keys() {
		e, _ := m.entries.Peek(k)
		if r, ok := recordOf(k, e, now, m.s); ok {
			out = append(out, r)
		}
	}
	return out, nil
}
