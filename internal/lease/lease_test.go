package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/internal/lease"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

// TestClaimsAreRenewedWhileHeld: a claim held past its lease is still
// there; let go of, it expires within a lease; a key held twice is
// renewed until both let go; an answered claim ("d...") is not renewed.
func TestClaimsAreRenewedWhileHeld(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	const l = 300 * time.Millisecond
	set := func(key, v string) {
		if err := rdb.Do(ctx, rdb.B().Set().Key(key).Value(v).PxMilliseconds(l.Milliseconds()).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(key string) bool {
		n, err := rdb.Do(ctx, rdb.B().Exists().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	p := redistest.Prefix()
	a, b, done := p+"a", p+"b", p+"done"
	set(a, "i")
	set(b, "i")
	set(done, "d-answer")
	k := lease.NewKeeper(rdb, l)
	stopA := k.Keep(a)
	stopB1, stopB2 := k.Keep(b), k.Keep(b)
	stopDone := k.Keep(done)
	time.Sleep(3 * l)
	if !exists(a) || !exists(b) {
		t.Fatalf("claims held for three leases expired: a %v, b %v", exists(a), exists(b))
	}
	if exists(done) {
		t.Fatal("an answered claim was renewed")
	}
	stopA()
	stopA() // twice is once
	stopB1()
	time.Sleep(2 * l)
	if exists(a) {
		t.Fatal("a claim let go of is still there after two leases")
	}
	if !exists(b) {
		t.Fatal("a claim held twice expired when one let go of it")
	}
	stopB2()
	stopDone()
	if n := k.Held(); n != 0 {
		t.Fatalf("%d claims held after all let go", n)
	}
}
