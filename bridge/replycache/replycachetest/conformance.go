// Package replycachetest is the conformance suite every replycache.Cache
// passes.
package replycachetest

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/replycache"
)

// NewCache returns an empty cache that keeps replies for ttl.
type NewCache func(t *testing.T, ttl time.Duration) replycache.Cache

func key(id byte) replycache.Key {
	return replycache.Key{Local: "192.0.2.10:1812", Remote: "192.0.2.1:40000", NAS: "vpn", Src: netip.MustParseAddrPort("192.0.2.1:40000"), Code: 1, ID: id}
}

func auth(i byte) [16]byte { return [16]byte{0xa5, i, 0, 0xff} }

// RunConformance runs the suite against caches made by newCache.
func RunConformance(t *testing.T, newCache NewCache) {
	ctx := context.Background()
	begin := func(t *testing.T, c replycache.Cache, k replycache.Key, a [16]byte) (replycache.Verdict, []byte) {
		t.Helper()
		v, r, err := c.Begin(ctx, k, a)
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		return v, r
	}
	finish := func(t *testing.T, c replycache.Cache, k replycache.Key, a [16]byte, reply []byte) {
		t.Helper()
		if err := c.Finish(ctx, k, a, reply); err != nil {
			t.Fatalf("Finish: %v", err)
		}
	}
	t.Run("InFlightIsAbsorbed", func(t *testing.T) {
		c := newCache(t, time.Minute)
		if v, _ := begin(t, c, key(1), auth(1)); v != replycache.New {
			t.Fatalf("first: %v", v)
		}
		if v, r := begin(t, c, key(1), auth(1)); v != replycache.InFlight || r != nil {
			t.Fatalf("retransmission in flight: %v", v)
		}
	})
	t.Run("AnsweredIsReplayedByteForByte", func(t *testing.T) {
		c := newCache(t, time.Minute)
		reply := []byte{2, 1, 0, 20, 0, 0xff, 'a', 0}
		begin(t, c, key(2), auth(2))
		finish(t, c, key(2), auth(2), reply)
		for range 2 {
			if v, r := begin(t, c, key(2), auth(2)); v != replycache.Replay || !bytes.Equal(r, reply) {
				t.Fatalf("retransmission after the answer: %v %x", v, r)
			}
		}
	})
	t.Run("NewAuthenticatorIsANewRequest", func(t *testing.T) {
		c := newCache(t, time.Minute)
		begin(t, c, key(3), auth(3))
		finish(t, c, key(3), auth(3), []byte("reply"))
		if v, _ := begin(t, c, key(3), auth(4)); v != replycache.New {
			t.Fatalf("same key, new Request Authenticator: %v", v)
		}
	})
	t.Run("SilenceStaysSilent", func(t *testing.T) {
		c := newCache(t, time.Minute)
		begin(t, c, key(5), auth(5))
		finish(t, c, key(5), auth(5), nil)
		if v, r := begin(t, c, key(5), auth(5)); v != replycache.InFlight || r != nil {
			t.Fatalf("retransmission of a request answered by silence: %v %x", v, r)
		}
	})
	t.Run("ForgottenRequestIsProcessedAgain", func(t *testing.T) {
		c := newCache(t, time.Minute)
		begin(t, c, key(6), auth(6))
		if err := c.Forget(ctx, key(6), auth(6)); err != nil {
			t.Fatal(err)
		}
		if v, _ := begin(t, c, key(6), auth(6)); v != replycache.New {
			t.Fatalf("retransmission of a shed request: %v", v)
		}
		// An answered request is not forgotten.
		finish(t, c, key(6), auth(6), []byte("kept"))
		_ = c.Forget(ctx, key(6), auth(6))
		if v, r := begin(t, c, key(6), auth(6)); v != replycache.Replay || string(r) != "kept" {
			t.Fatalf("Forget dropped an answer: %v %q", v, r)
		}
	})
	t.Run("KeysAreApart", func(t *testing.T) {
		c := newCache(t, time.Minute)
		begin(t, c, key(7), auth(7))
		finish(t, c, key(7), auth(7), []byte("seven"))
		other := []replycache.Key{key(8)}
		k := key(7)
		k.NAS, k.Remote = "other-nas", "192.0.2.2:40000"
		k.Src = netip.MustParseAddrPort(k.Remote)
		other = append(other, k)
		k = key(7)
		k.Code = 4
		other = append(other, k)
		for _, k := range other {
			if v, _ := begin(t, c, k, auth(7)); v != replycache.New {
				t.Errorf("%+v: %v, want new", k, v)
			}
		}
	})
	t.Run("AnswersExpire", func(t *testing.T) {
		c := newCache(t, 100*time.Millisecond)
		begin(t, c, key(9), auth(9))
		finish(t, c, key(9), auth(9), []byte("short"))
		deadline := time.Now().Add(3 * time.Second)
		for {
			time.Sleep(50 * time.Millisecond)
			v, _, err := c.Begin(ctx, key(9), auth(9))
			if err == nil && v == replycache.New {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %v 3 s after a 100 ms ttl", v)
			}
		}
	})
}
