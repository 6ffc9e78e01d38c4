package session

import (
	"context"
	"errors"
	"time"
)

// Fallback keeps sessions in a shared store and, while that cannot be
// reached, in a local one, so that logins go on (on this instance only)
// when Redis is down. When the shared store answers again, new sessions go
// there; the local ones are used up or expire.
type Fallback struct {
	Shared Store
	Local  *Memory
	// OnFallback, when set, is told of each session stored locally because
	// the shared store failed.
	OnFallback func(err error)
}

var _ Store = (*Fallback)(nil)

// Create stores s in the shared store, or locally when it is unreachable.
func (f *Fallback) Create(ctx context.Context, key string, s Session, ttl time.Duration) error {
	err := f.Shared.Create(ctx, key, s, ttl)
	if !errors.Is(err, ErrUnavailable) {
		return err
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	return f.Local.Create(ctx, key, s, ttl)
}

// Take looks in the local store first (cheap), then in the shared one.
func (f *Fallback) Take(ctx context.Context, key string) (Session, error) {
	if s, err := f.Local.Take(ctx, key); err == nil {
		return s, nil
	}
	return f.Shared.Take(ctx, key)
}

// Len counts both stores.
func (f *Fallback) Len() int { return f.Shared.Len() + f.Local.Len() }
