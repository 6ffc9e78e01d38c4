// Package throttle slows password and code guessing down for the guesser,
// not for the user being guessed at.
//
// Failed logins are counted three ways within a window:
//
//   - per user and source (the NAS and the Calling-Station-Id the NAS
//     reports): after Attempts failures that source is locked out for that
//     user for Duration. A stranger locks out only himself.
//   - per source alone, where the NAS reports a Calling-Station-Id: after
//     SourceAttempts failures, whatever the user names, that station is
//     locked out (password spraying from one place).
//   - per user, over every source: from Attempts failures on, each new
//     login of the user from a source that has not succeeded for the user
//     lately waits a Delay that grows with the count (up to MaxDelay); from
//     UserAttempts failures on, such logins are told to try again later.
//     A source where the user logged in successfully within the window is
//     neither delayed nor refused, so the owner gets in while a stranger
//     guesses from elsewhere.
//
// The user name is case-folded for counting, whatever the NAS sends and
// whatever the client's lowercase setting says, because the identity
// providers match names without regard to case.
//
// Two implementations share Counter's contract and one conformance suite:
// Memory, bounded and evicting the least recently used entries (never
// refusing to count), and Redis, shared by every instance on one Redis.
package throttle

import (
	"context"
	"strings"
	"time"
)

// Source is where a login comes from.
type Source struct {
	// NAS is the client's name.
	NAS string
	// Station is the Calling-Station-Id the NAS reported, or "".
	Station string
}

// key is the source's counting key: the station as the NAS names it, or
// the NAS alone.
func (s Source) key() string {
	if s.Station == "" {
		return s.NAS
	}
	return s.NAS + "\x00" + s.Station
}

// Settings are the limits.
type Settings struct {
	// Attempts failures of a user from one source lock that source out for
	// that user; from as many failures of a user overall, its new logins
	// from unproven sources are delayed. 0 turns counting off.
	Attempts int
	// SourceAttempts failures from one station, whatever the users, lock
	// the station out. Default 4 × Attempts.
	SourceAttempts int
	// UserAttempts failures of a user overall make new logins from
	// unproven sources try again later. Default 10 × Attempts.
	UserAttempts int
	// Window is the time in which failures are counted, and how long a
	// successful login makes its source proven.
	Window time.Duration
	// Duration is how long a lockout lasts.
	Duration time.Duration
	// MaxDelay bounds the delay of a throttled login. Default 3s: below
	// every NAS's first timeout.
	MaxDelay time.Duration
}

// WithDefaults fills in the derived limits.
func (s Settings) WithDefaults() Settings {
	if s.SourceAttempts == 0 {
		s.SourceAttempts = 4 * s.Attempts
	}
	if s.UserAttempts == 0 {
		s.UserAttempts = 10 * s.Attempts
	}
	if s.MaxDelay == 0 {
		s.MaxDelay = 3 * time.Second
	}
	return s
}

// delayStep is the delay added by each failure past Attempts.
const delayStep = 500 * time.Millisecond

// delay is the wait for a user with n failures.
func (s Settings) delay(n int) time.Duration {
	if s.Attempts == 0 || n < s.Attempts {
		return 0
	}
	return min(s.MaxDelay, time.Duration(n-s.Attempts+1)*delayStep)
}

// Why says what a Verdict refuses.
type Why string

// The refusals.
const (
	// None: go on (after Delay).
	None Why = ""
	// LockedPair: this source failed too often for this user.
	LockedPair Why = "source_locked_for_user"
	// LockedStation: this station failed too often, for any users.
	LockedStation Why = "station_locked"
	// Busy: the user failed too often from many sources; new logins from
	// sources not proven lately must try again later.
	Busy Why = "user_throttled"
)

// Verdict is what Check decided for a new login.
type Verdict struct {
	// Refuse, when not None, says why the login is refused without
	// asking the identity provider.
	Refuse Why
	// For is how long the refusal lasts, when known.
	For time.Duration
	// Delay is how long to wait before asking the identity provider.
	Delay time.Duration
	// Failures is the user's count in the window.
	Failures int
}

// Counter counts failures and decides.
type Counter interface {
	// Check decides for a login of user from src.
	Check(ctx context.Context, user string, src Source) (Verdict, error)
	// Fail records a failed login (wrong password or code, a denied or
	// unanswered push).
	Fail(ctx context.Context, user string, src Source) error
	// Succeed records a successful login: src is proven for user for the
	// window, and its count for user is cleared.
	Succeed(ctx context.Context, user string, src Source) error
	// Clear forgets every count and lock of user (an operator's unlock).
	Clear(ctx context.Context, user string) error
}

// Canonical is the name failures are counted under.
func Canonical(user string) string { return strings.ToLower(user) }

// entry is what is known of a user, a pair or a station.
type entry struct {
	failures    int
	since       time.Time // start of the counting window
	lockedUntil time.Time
	provenUntil time.Time // a successful login from this source (pair entries)
}

// count returns the entry's failures within the window at now.
func (s Settings) count(e *entry, now time.Time) int {
	if e == nil || now.Sub(e.since) > s.Window {
		return 0
	}
	return e.failures
}

// decide is Check's rule over what is known (nil: nothing).
func (s Settings) decide(now time.Time, pair, station, user *entry) Verdict {
	if pair != nil && pair.lockedUntil.After(now) {
		return Verdict{Refuse: LockedPair, For: pair.lockedUntil.Sub(now)}
	}
	if station != nil && station.lockedUntil.After(now) {
		return Verdict{Refuse: LockedStation, For: station.lockedUntil.Sub(now)}
	}
	n := s.count(user, now)
	if pair != nil && pair.provenUntil.After(now) {
		return Verdict{Failures: n}
	}
	if n >= s.UserAttempts {
		return Verdict{Refuse: Busy, Failures: n, For: user.since.Add(s.Window).Sub(now)}
	}
	return Verdict{Delay: s.delay(n), Failures: n}
}

// Record is what a counter holds of a user, a user at a source, or a
// station, for an operator's listing.
type Record struct {
	// Kind is "user", "source" (a user at one source) or "station".
	Kind     string    `json:"kind"`
	User     string    `json:"user,omitempty"`
	Source   string    `json:"source,omitempty"` // NAS, then the station after a NUL
	Failures int       `json:"failures"`
	Since    time.Time `json:"since"`
	Locked   time.Time `json:"locked_until,omitzero"`
}

// recordOf reads a counting key back into a Record.
func recordOf(key string, e *entry, now time.Time, s Settings) (Record, bool) {
	kind, rest, _ := strings.Cut(key, "\x00")
	r := Record{Failures: s.count(e, now), Since: e.since}
	if e.lockedUntil.After(now) {
		r.Locked = e.lockedUntil
	}
	if r.Failures == 0 && r.Locked.IsZero() {
		return r, false
	}
	switch kind {
	case "u":
		r.Kind, r.User = "user", rest
	case "p":
		r.Kind = "source"
		r.User, r.Source, _ = strings.Cut(rest, "\x00")
	case "s":
		r.Kind, r.Source = "station", rest
	default:
		return r, false
	}
	return r, true
}

// Lister is a counter that can list what it holds.
type Lister interface {
	List(ctx context.Context) ([]Record, error)
}
