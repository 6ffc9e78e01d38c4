// Package throttletest is the conformance suite every throttle.Counter
// passes: the in-memory counter and the one on Redis.
package throttletest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/throttle"
)

// Clock is a settable clock for the suite.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Settings are the limits the suite runs with.
var Settings = throttle.Settings{Attempts: 5, Window: 15 * time.Minute, Duration: 5 * time.Minute}

// RunConformance runs the suite on the counters open returns, each new and
// empty, with Settings and the clock given.
func RunConformance(t *testing.T, open func(t *testing.T, s throttle.Settings, now func() time.Time) throttle.Counter) {
	ctx := context.Background()
	st := func(station string) throttle.Source { return throttle.Source{NAS: "vpn", Station: station} }
	setup := func(t *testing.T) (throttle.Counter, *Clock) {
		c := &Clock{t: time.Unix(1_800_000_000, 0)}
		return open(t, Settings, c.Now), c
	}
	check := func(t *testing.T, c throttle.Counter, user string, src throttle.Source) throttle.Verdict {
		t.Helper()
		v, err := c.Check(ctx, user, src)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	fail := func(t *testing.T, c throttle.Counter, user string, src throttle.Source, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := c.Fail(ctx, user, src); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("a stranger locks out only his own source", func(t *testing.T) {
		c, _ := setup(t)
		fail(t, c, "bob", st("198.51.100.66"), 5)
		if v := check(t, c, "bob", st("198.51.100.66")); v.Refuse != throttle.LockedPair || v.For <= 0 {
			t.Fatalf("the guessing source: %+v", v)
		}
		v := check(t, c, "bob", st("192.0.2.10"))
		if v.Refuse != throttle.None {
			t.Fatalf("the owner's source is refused: %+v", v)
		}
		if v.Delay <= 0 {
			t.Fatalf("after 5 failures a login from an unproven source is not slowed: %+v", v)
		}
	})
	t.Run("names are counted case-folded", func(t *testing.T) {
		c, _ := setup(t)
		fail(t, c, "Bob", st("x"), 2)
		fail(t, c, "bOB", st("x"), 2)
		fail(t, c, "bob", st("x"), 1)
		if v := check(t, c, "BOB", st("x")); v.Refuse != throttle.LockedPair {
			t.Fatalf("5 failures as Bob, bOB and bob: %+v", v)
		}
	})
	t.Run("the owner's proven source is neither slowed nor refused", func(t *testing.T) {
		c, _ := setup(t)
		if err := c.Succeed(ctx, "bob", st("owner")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			fail(t, c, "bob", st(fmt.Sprintf("guesser-%d", i)), 1)
		}
		if v := check(t, c, "bob", st("owner")); v.Refuse != throttle.None || v.Delay != 0 {
			t.Fatalf("the owner: %+v", v)
		}
		if v := check(t, c, "bob", st("somewhere-new")); v.Refuse != throttle.Busy || v.Failures < 50 {
			t.Fatalf("a new source after 60 failures from 60 sources: %+v", v)
		}
		if v := check(t, c, "alice", st("somewhere-new")); v.Refuse != throttle.None || v.Delay != 0 {
			t.Fatalf("another user: %+v", v)
		}
	})
	t.Run("the delay grows with the failures and is bounded", func(t *testing.T) {
		c, _ := setup(t)
		var last time.Duration
		for i := 0; i < 20; i++ {
			fail(t, c, "carol", st(fmt.Sprintf("s%d", i)), 1)
			v := check(t, c, "carol", st("new"))
			if v.Delay < last || v.Delay > 3*time.Second {
				t.Fatalf("after %d failures: delay %v (before %v)", i+1, v.Delay, last)
			}
			last = v.Delay
		}
		if last != 3*time.Second {
			t.Fatalf("the delay after 20 failures is %v, want the 3s bound", last)
		}
	})
	t.Run("a station spraying many users is locked out", func(t *testing.T) {
		c, _ := setup(t)
		for i := 0; i < 20; i++ {
			fail(t, c, fmt.Sprintf("user%d", i), st("203.0.113.9"), 1)
		}
		if v := check(t, c, "dave", st("203.0.113.9")); v.Refuse != throttle.LockedStation {
			t.Fatalf("the spraying station: %+v", v)
		}
		if v := check(t, c, "dave", st("192.0.2.10")); v.Refuse != throttle.None {
			t.Fatalf("another station: %+v", v)
		}
		// A NAS that reports no station is never locked as a whole.
		for i := 0; i < 40; i++ {
			fail(t, c, fmt.Sprintf("other%d", i), throttle.Source{NAS: "sudo-host"}, 1)
		}
		if v := check(t, c, "erin", throttle.Source{NAS: "sudo-host"}); v.Refuse != throttle.None {
			t.Fatalf("a NAS without Calling-Station-Id: %+v", v)
		}
	})
	t.Run("locks end and windows pass", func(t *testing.T) {
		c, clock := setup(t)
		fail(t, c, "bob", st("x"), 5)
		clock.Advance(5*time.Minute + time.Second)
		if v := check(t, c, "bob", st("x")); v.Refuse != throttle.None {
			t.Fatalf("after the lockout's duration: %+v", v)
		}
		clock.Advance(15 * time.Minute)
		if v := check(t, c, "bob", st("y")); v.Delay != 0 || v.Failures != 0 {
			t.Fatalf("after the window: %+v", v)
		}
	})
	t.Run("clear unlocks a user", func(t *testing.T) {
		c, _ := setup(t)
		fail(t, c, "bob", st("x"), 5)
		if err := c.Clear(ctx, "BOB"); err != nil {
			t.Fatal(err)
		}
		if v := check(t, c, "bob", st("x")); v.Refuse != throttle.None || v.Failures != 0 {
			t.Fatalf("after Clear: %+v", v)
		}
	})
	t.Run("an operator lists what is counted", func(t *testing.T) {
		c, _ := setup(t)
		l, ok := c.(throttle.Lister)
		if !ok {
			t.Skip("this counter does not list")
		}
		fail(t, c, "Bob", st("198.51.100.66"), 5)
		recs, err := l.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var user, source bool
		for _, r := range recs {
			user = user || (r.Kind == "user" && r.User == "bob" && r.Failures == 5)
			source = source || (r.Kind == "source" && r.User == "bob" && strings.Contains(r.Source, "198.51.100.66") && !r.Locked.IsZero())
		}
		if !user || !source {
			t.Fatalf("records %+v", recs)
		}
	})
	t.Run("concurrent failures are all counted", func(t *testing.T) {
		c, _ := setup(t)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_ = c.Fail(ctx, "frank", st(fmt.Sprintf("c%d", i)))
			}(i)
		}
		wg.Wait()
		if v := check(t, c, "frank", st("new")); v.Failures != 8 {
			t.Fatalf("8 concurrent failures counted as %d", v.Failures)
		}
	})
}
