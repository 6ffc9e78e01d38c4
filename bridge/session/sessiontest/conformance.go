// Package sessiontest is the conformance suite every session.Store passes.
package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/identity"
)

// NewStore returns an empty store bounded to max sessions.
type NewStore func(t *testing.T, max int) session.Store

// RunConformance runs the suite against stores made by newStore.
func RunConformance(t *testing.T, newStore NewStore) {
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, newStore(t, 10)) })
	t.Run("TakeOnce", func(t *testing.T) { takeOnce(t, newStore(t, 10)) })
	t.Run("ConcurrentTakeOnce", func(t *testing.T) { concurrentTake(t, newStore(t, 10)) })
	t.Run("Expiry", func(t *testing.T) { expiry(t, newStore(t, 10)) })
	t.Run("KeyInUse", func(t *testing.T) { keyInUse(t, newStore(t, 10)) })
	t.Run("Bound", func(t *testing.T) { bound(t, newStore(t, 3)) })
	t.Run("ReserveForContinuing", func(t *testing.T) { reserve(t, newStore(t, 20)) })
}

func sample() session.Session {
	return session.Session{
		NAS:     "vpn",
		User:    "alice",
		Txn:     identity.Txn{Provider: "corp", Data: json.RawMessage(`{"sid":"abc"}`)},
		Phase:   session.PhaseMenu,
		Choices: []identity.Mechanism{{ID: "m1", Kind: identity.KindCode, Name: "OATH", Label: "App", Prompt: "Code"}},
		Current: &identity.Mechanism{ID: "m1", Kind: identity.KindCode, Name: "OATH"},
		Pending: true,
		Display: "42",
		Rounds:  2,
		Started: time.Unix(1700000000, 0).UTC(),
	}
}

func roundTrip(t *testing.T, s session.Store) {
	ctx := context.Background()
	want := sample()
	if err := s.Create(ctx, "k1", want, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
	got, err := s.Take(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// normalize compares sessions by their serialized form, as a shared store
// keeps them.
func normalize(s session.Session) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func takeOnce(t *testing.T, s session.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, "k", sample(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "k"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("second take: %v, want ErrNotFound", err)
	}
	if _, err := s.Take(ctx, "never"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}
}

func concurrentTake(t *testing.T, s session.Store) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		key := fmt.Sprintf("race%d", round)
		if err := s.Create(ctx, key, sample(), time.Minute); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Take(ctx, key); err == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d takes succeeded, want 1", round, wins.Load())
		}
	}
}

func expiry(t *testing.T, s session.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, "short", sample(), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "long", sample(), time.Minute); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := s.Take(ctx, "short")
		if errors.Is(err, session.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Taken before it expired: put it back and wait.
		if time.Now().After(deadline) {
			t.Fatal("a session outlived its ttl")
		}
		if err := s.Create(ctx, "short", sample(), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if _, err := s.Take(ctx, "long"); err != nil {
		t.Fatalf("a live session expired: %v", err)
	}
}

func keyInUse(t *testing.T, s session.Store) {
	ctx := context.Background()
	if err := s.Create(ctx, "dup", sample(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "dup", sample(), time.Minute); !errors.Is(err, session.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
}

func bound(t *testing.T, s session.Store) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := s.Create(ctx, fmt.Sprint(i), sample(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, "over", sample(), time.Minute); !errors.Is(err, session.ErrFull) {
		t.Fatalf("create past the bound: %v, want ErrFull", err)
	}
	if _, err := s.Take(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "over", sample(), time.Minute); err != nil {
		t.Fatalf("create after a take freed room: %v", err)
	}
}

// reserve: new logins fill the store only up to max - Reserve(max); a
// conversation that continues always finds the place it freed, however
// many new logins are waiting for one.
func reserve(t *testing.T, s session.Store) {
	ctx := context.Background()
	fresh, next := sample(), sample()
	fresh.Rounds, next.Rounds = 1, 2
	created := 0
	for i := 0; i < 30; i++ {
		if err := s.Create(ctx, fmt.Sprint("c", i), fresh, time.Minute); err == nil {
			created++
		} else if !errors.Is(err, session.ErrFull) {
			t.Fatal(err)
		}
	}
	if want := 20 - session.Reserve(20); created != want {
		t.Fatalf("%d new logins stored, want %d", created, want)
	}
	// Conversations that continue fill the reserve.
	for i := 0; i < session.Reserve(20); i++ {
		if err := s.Create(ctx, fmt.Sprint("c", created+i), next, time.Minute); err != nil {
			t.Fatalf("a continuing conversation in the reserve: %v", err)
		}
	}
	if err := s.Create(ctx, "over", next, time.Minute); !errors.Is(err, session.ErrFull) {
		t.Fatalf("past max: %v, want ErrFull", err)
	}
	// The store is full. Each conversation takes its State and stores
	// its next challenge, with a new login trying for the place between.
	for i := 0; i < 20; i++ {
		if _, err := s.Take(ctx, fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, fmt.Sprint("flood", i), fresh, time.Minute); !errors.Is(err, session.ErrFull) {
			t.Fatalf("a new login took a continuing conversation's place: %v", err)
		}
		if err := s.Create(ctx, fmt.Sprint("d", i), next, time.Minute); err != nil {
			t.Fatalf("continuing conversation %d: %v", i, err)
		}
	}
}
