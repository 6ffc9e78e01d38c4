package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/session/sessiontest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	sessiontest.RunConformance(t, func(t *testing.T, max int) session.Store {
		return session.NewRedis(rdb, redistest.Prefix(), max)
	})
}

// TestRedisSharedBetweenInstances: two stores on one Redis (two mfabridge
// instances) see each other's sessions, and a session is taken once.
func TestRedisSharedBetweenInstances(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix()
	a := session.NewRedis(srv.Client(), prefix, 10)
	b := session.NewRedis(srv.Client(), prefix, 10)
	ctx := context.Background()
	if err := a.Create(ctx, "state", session.Session{NAS: "vpn", User: "alice"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("b.Len = %d", b.Len())
	}
	s, err := b.Take(ctx, "state")
	if err != nil || s.User != "alice" {
		t.Fatalf("take at b: %+v %v", s, err)
	}
	if _, err := a.Take(ctx, "state"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("take at a after b: %v", err)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	st := session.NewRedis(srv.Client(), redistest.Prefix(), 10)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := st.Create(ctx, "k", session.Session{}, time.Minute); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("create with Redis down: %v", err)
	}
	if _, err := st.Take(ctx, "k"); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("take with Redis down: %v", err)
	}
	srv.Restart()
	// The client leaves Redis alone for a second after a failure.
	var err error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = st.Create(context.Background(), "k", session.Session{}, time.Minute); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after Redis came back: %v", err)
	}
}
