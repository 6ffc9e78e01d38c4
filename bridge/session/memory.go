package session

import (
	"context"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// Memory is an in-process Store with expiry and a size bound.
type Memory struct {
	max int

	mu    sync.Mutex // makes Take's get-and-delete and Create's check-and-add atomic
	cache *gocache.Cache
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most max sessions. Expired sessions
// are swept every sweep.
func NewMemory(max int, sweep time.Duration) *Memory {
	return &Memory{max: max, cache: gocache.New(gocache.NoExpiration, sweep)}
}

// Create stores s under key for ttl.
func (m *Memory) Create(_ context.Context, key string, s Session, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache.ItemCount() >= m.max {
		m.cache.DeleteExpired()
		if m.cache.ItemCount() >= m.max {
			return ErrFull
		}
	}
	if err := m.cache.Add(key, s, ttl); err != nil {
		return ErrExists
	}
	return nil
}

// Take returns and removes the session under key.
func (m *Memory) Take(_ context.Context, key string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cache.Get(key)
	if !ok {
		return Session{}, ErrNotFound
	}
	m.cache.Delete(key)
	return v.(Session), nil
}

// Len returns the number of sessions stored.
func (m *Memory) Len() int { return m.cache.ItemCount() }
