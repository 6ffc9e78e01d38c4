package throttle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/bridge/throttle/throttletest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

func TestMemoryConformance(t *testing.T) {
	throttletest.RunConformance(t, func(t *testing.T, s throttle.Settings, now func() time.Time) throttle.Counter {
		return throttle.NewMemory(s, 10000, now)
	})
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	throttletest.RunConformance(t, func(t *testing.T, s throttle.Settings, now func() time.Time) throttle.Counter {
		return throttle.NewRedis(rdb, redistest.Prefix(), s, now)
	})
}

// TestRedisCountsAcrossInstances: guesses spread over two instances are
// counted together.
func TestRedisCountsAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix()
	a := throttle.NewRedis(srv.Client(), prefix, throttletest.Settings, nil)
	b := throttle.NewRedis(srv.Client(), prefix, throttletest.Settings, nil)
	ctx := context.Background()
	src := throttle.Source{NAS: "vpn", Station: "198.51.100.66"}
	for i := 0; i < 5; i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		if err := c.Fail(ctx, "bob", src); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*throttle.Redis{a, b} {
		if v, err := c.Check(ctx, "bob", src); err != nil || v.Refuse != throttle.LockedPair {
			t.Fatalf("after 3 failures at one instance and 2 at the other: %+v %v", v, err)
		}
	}
}

// TestMemoryNeverStopsCounting: with the table full of made-up names, a
// real user's failures are still counted (the oldest entries are evicted),
// and the table stays at its bound.
func TestMemoryNeverStopsCounting(t *testing.T) {
	m := throttle.NewMemory(throttletest.Settings, 300, nil)
	ctx := context.Background()
	for i := 0; i < 101_000; i++ {
		_ = m.Fail(ctx, fmt.Sprintf("random-%d", i), throttle.Source{NAS: "vpn"})
	}
	src := throttle.Source{NAS: "vpn", Station: "198.51.100.66"}
	for i := 0; i < 5; i++ {
		_ = m.Fail(ctx, "bob", src)
	}
	if v, _ := m.Check(ctx, "bob", src); v.Refuse != throttle.LockedPair {
		t.Fatalf("bob after 5 failures with the table full: %+v", v)
	}
	if m.Len() > 300 || m.Evicted() == 0 {
		t.Fatalf("%d entries, %d evicted", m.Len(), m.Evicted())
	}
}

// TestFallbackCountsWhileRedisIsDown: with Redis gone, counting goes on in
// memory.
func TestFallbackCountsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	var errs int
	f := &throttle.Fallback{
		Shared:  throttle.NewRedis(srv.Client(), redistest.Prefix(), throttletest.Settings, nil),
		Local:   throttle.NewMemory(throttletest.Settings, 1000, nil),
		OnError: func(error) { errs++ },
	}
	srv.Stop()
	ctx := context.Background()
	src := throttle.Source{NAS: "vpn", Station: "x"}
	for i := 0; i < 5; i++ {
		_ = f.Fail(ctx, "bob", src)
	}
	if v, err := f.Check(ctx, "bob", src); err != nil || v.Refuse != throttle.LockedPair || errs == 0 {
		t.Fatalf("with Redis down: %+v %v (%d errors seen)", v, err, errs)
	}
}
