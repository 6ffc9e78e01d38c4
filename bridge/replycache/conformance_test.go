package replycache_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/bridge/replycache/replycachetest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

func TestMemoryConformance(t *testing.T) {
	replycachetest.RunConformance(t, func(t *testing.T, ttl time.Duration) replycache.Cache {
		return replycache.NewMemory(ttl, nil)
	})
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	replycachetest.RunConformance(t, func(t *testing.T, ttl time.Duration) replycache.Cache {
		return replycache.NewRedis(srv.Client(), redistest.Prefix(), ttl, 5*time.Second)
	})
}

// TestRedisBeginWith: BeginWith decides as Begin does and hands back the
// result of the command sent with it, also when Redis has not got the
// script yet (a restarted Redis: it is loaded and the check made again).
func TestRedisBeginWith(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	c := replycache.NewRedis(rdb, redistest.Prefix(), time.Minute, 5*time.Second)
	k := replycache.Key{NAS: "vpn", Remote: "192.0.2.1:40000", Code: 1, ID: 7}
	auth := [16]byte{1, 2, 3}
	other := redistest.Prefix() + "claim"
	for i, flush := range []bool{true, false} {
		if flush {
			if err := rdb.Do(ctx, rdb.B().ScriptFlush().Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		v, _, also, err := c.BeginWith(ctx, k, auth, rdb.B().Set().Key(other).Value("i").Nx().Build())
		want := []replycache.Verdict{replycache.New, replycache.InFlight}[i]
		if err != nil || v != want {
			t.Fatalf("try %d: %v %v, want %v", i, v, err, want)
		}
		if also == nil {
			t.Fatalf("try %d: no result for the command sent along", i)
		}
		if err := also.Error(); (i == 0) != (err == nil) {
			t.Fatalf("try %d: SET NX of the claim: %v", i, err)
		}
	}
	if err := c.Finished(rdb.Do(ctx, c.FinishCommand(k, auth, []byte("reply")))); err != nil {
		t.Fatal(err)
	}
	if v, r, _, err := c.BeginWith(ctx, k, auth, rdb.B().Get().Key(other).Build()); err != nil || v != replycache.Replay || string(r) != "reply" {
		t.Fatalf("after Finish: %v %q %v", v, r, err)
	}
}
