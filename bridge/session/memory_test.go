package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/session/sessiontest"
)

func TestMemoryConformance(t *testing.T) {
	sessiontest.RunConformance(t, func(t *testing.T, max int) session.Store {
		return session.NewMemory(max, time.Minute)
	})
}

// Expired sessions are swept in chunks while other goroutines create and
// take sessions (run with -race): the store ends up holding only the live
// ones.
func TestMemorySweepsWhileInUse(t *testing.T) {
	m := session.NewMemory(100000, time.Millisecond)
	ctx := context.Background()
	for i := 0; i < 5000; i++ { // more than one sweep chunk, all short-lived
		if err := m.Create(ctx, fmt.Sprintf("%032x", i), session.Session{NAS: "vpn"}, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				key := fmt.Sprintf("live-%d-%d", g, i)
				if err := m.Create(ctx, key, session.Session{NAS: "vpn"}, time.Minute); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := m.Take(ctx, key); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for m.Len() != 4*250 && time.Now().Before(deadline) {
		_ = m.Create(ctx, "tick", session.Session{}, time.Nanosecond) // a create starts a due sweep
		time.Sleep(5 * time.Millisecond)
	}
	if n := m.Len(); n != 4*250 {
		t.Fatalf("%d sessions left, want the 1000 live ones", n)
	}
}
