package conversation

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestWakeupsFireInOrder: requests set on the clock are due in the order
// of their times, each once and at its time; one set again is due at its
// new time; one taken off is not due.
func TestWakeupsFireInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		type fired struct {
			name string
			at   time.Duration
		}
		var got []fired
		names := map[*parked]string{}
		began := time.Now()
		w := &wakeups{onDue: func(p *parked) {
			mu.Lock()
			got = append(got, fired{names[p], time.Since(began)})
			mu.Unlock()
		}}
		mk := func(name string) *parked {
			p := &parked{at: -1}
			names[p] = name
			return p
		}
		a, b, c, d := mk("a"), mk("b"), mk("c"), mk("d")
		w.set(a, 3*time.Second)
		w.set(b, time.Second)
		w.set(c, 2*time.Second)
		w.set(d, 4*time.Second)
		w.stop(c)
		w.set(d, 500*time.Millisecond) // earlier than every other
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := []fired{{"d", 500 * time.Millisecond}, {"b", time.Second}, {"a", 3 * time.Second}}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("due %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("due %v, want %v", got, want)
			}
		}
		if len(w.queue) != 0 || a.at != -1 || c.at != -1 {
			t.Fatalf("left on the clock: %d (a at %d, c at %d)", len(w.queue), a.at, c.at)
		}
	})
}
