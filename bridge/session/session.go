// Package session keeps RADIUS conversations between an Access-Challenge and
// the Access-Request that answers it, keyed by the State attribute.
//
// A Store creates a session with an expiry and consumes it exactly once:
// whoever takes a State first gets it, every later take finds nothing. The
// in-process Memory store is the default; stores shared by several mfabridge
// instances pass the same conformance suite (package sessiontest).
package session

import (
	"context"
	"errors"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// Phase is what a conversation waits for.
type Phase string

// The phases of a conversation at an Access-Challenge.
const (
	// PhaseMenu waits for the user to pick a mechanism from Choices.
	PhaseMenu Phase = "menu"
	// PhaseAnswer waits for a typed answer for Current.
	PhaseAnswer Phase = "answer"
	// PhaseApprove waits for the user to approve Current out of band and
	// press Enter.
	PhaseApprove Phase = "approve"
)

// Session is a conversation waiting at an Access-Challenge. It holds no
// password, code or token of the user.
type Session struct {
	// NAS is the name of the client the challenge was sent to.
	NAS string `json:"nas"`
	// User is the User-Name the conversation started with.
	User string `json:"user"`
	// Txn is the provider's transaction.
	Txn identity.Txn `json:"txn"`
	// Phase says what the user is asked for.
	Phase Phase `json:"phase"`
	// Choices are the mechanisms of a menu.
	Choices []identity.Mechanism `json:"choices,omitempty"`
	// Current is the mechanism in progress.
	Current *identity.Mechanism `json:"current,omitempty"`
	// Pending is true when Current was started out of band.
	Pending bool `json:"pending,omitempty"`
	// Display is extra text such as a number-matching value.
	Display string `json:"display,omitempty"`
	// Rounds counts the challenges sent so far in this conversation.
	Rounds int `json:"rounds"`
	// Started is when the conversation began.
	Started time.Time `json:"started"`
}

// Errors of a Store.
var (
	// ErrNotFound is a State that is unknown, expired or already used.
	ErrNotFound = errors.New("session: unknown, expired or already used State")
	// ErrFull is a store at its size bound.
	ErrFull = errors.New("session: the store is full")
	// ErrExists is a key that is already in use.
	ErrExists = errors.New("session: the key is already in use")
)

// Starts reports whether s is the first challenge of a conversation (a new
// login) rather than one that continues.
func (s Session) Starts() bool { return s.Rounds <= 1 }

// Reserve is how many of a store's max places are kept for conversations
// that continue: a new login may fill the store only up to limit - Reserve,
// so that a flood of new logins never takes the place a continuing
// conversation frees when it takes its State (RFC 5080 §2.2.3 asks the
// same of a server's work).
func Reserve(limit int) int {
	if limit < 2 {
		return 0
	}
	return max(1, limit/10)
}

// Store keeps sessions by key. Its calls bound their own time (the Redis
// store by redis.timeout) and need not end with their context.
type Store interface {
	// Create stores s under key for ttl. It fails with ErrExists if the key
	// is in use and ErrFull if the store is at its bound: max for a session
	// that continues a conversation, max - Reserve(max) for one that
	// Starts. It never walks the whole store.
	Create(ctx context.Context, key string, s Session, ttl time.Duration) error
	// Take returns the session under key and removes it, atomically: of
	// several concurrent takes of one key, one succeeds.
	Take(ctx context.Context, key string) (Session, error)
	// Len is the number of sessions stored (expired ones may count until
	// they are swept).
	Len() int
}
