package bridge

import (
	"sync"
	"time"
)

// maxTracked bounds the users the lockout table follows, so a flood of
// made-up user names cannot exhaust memory.
const maxTracked = 100000

// lockout counts failed logins per user and locks out a user who fails too
// often, so that guessing is answered locally without calling the identity
// provider.
type lockout struct {
	attempts         int
	window, duration time.Duration
	now              func() time.Time

	mu    sync.Mutex
	users map[string]*lockState
}

type lockState struct {
	failures    int
	since       time.Time // start of the counting window
	lockedUntil time.Time
}

func newLockout(attempts int, window, duration time.Duration, now func() time.Time) *lockout {
	return &lockout{attempts: attempts, window: window, duration: duration, now: now, users: map[string]*lockState{}}
}

// locked returns how much longer user is locked out, or 0.
func (l *lockout) locked(user string) time.Duration {
	if l.attempts == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.users[user]
	if st == nil {
		return 0
	}
	if d := st.lockedUntil.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failed login and reports whether it locked the user out.
func (l *lockout) fail(user string) bool {
	if l.attempts == 0 {
		return false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.users[user]
	if st == nil {
		if len(l.users) >= maxTracked {
			l.sweepLocked(now)
			if len(l.users) >= maxTracked {
				return false
			}
		}
		st = &lockState{since: now}
		l.users[user] = st
	}
	if now.Sub(st.since) > l.window {
		st.failures, st.since = 0, now
	}
	st.failures++
	if st.failures >= l.attempts {
		st.lockedUntil = now.Add(l.duration)
		st.failures, st.since = 0, now
		return true
	}
	return false
}

// succeed forgets the failures of user.
func (l *lockout) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users, user)
}

func (l *lockout) sweepLocked(now time.Time) {
	for u, st := range l.users {
		if now.After(st.lockedUntil) && now.Sub(st.since) > l.window {
			delete(l.users, u)
		}
	}
}
