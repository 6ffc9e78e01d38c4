package redisclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/redisclient"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

// pipelined returns a client of s with redis.timeout, after commands at
// once: its connection is pipelined from then on, as under mfabridge's
// load (a command alone is sent and read with a deadline of its own).
func pipelined(t testing.TB, s *redistest.Server, timeout time.Duration) rueidis.Client {
	t.Helper()
	c, err := redisclient.New(&config.Redis{Address: []string{s.Addr}, DialTimeout: config.Duration{Duration: timeout}, Timeout: config.Duration{Duration: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	key := redistest.Prefix() + "k"
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := c.Do(context.Background(), c.B().Set().Key(key).Value("v").Build()).Error(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return c
}

func get(ctx context.Context, c rueidis.Client) error {
	err := c.Do(ctx, c.B().Get().Key("absent").Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	return err
}

// TestHungRedisFailsWithinTimeout: when Redis stops answering with its
// connection open, the commands waiting on it fail within a few times
// redis.timeout, whatever their context allows: the shared stores rely on
// the client for that bound. (rueidis looked at a pipelined connection
// every 30 s by default: a minute, with the retry of a read.)
func TestHungRedisFailsWithinTimeout(t *testing.T) {
	s := redistest.Start(t)
	timeout := 300 * time.Millisecond
	c := pipelined(t, s, timeout)
	s.Pause()
	began := time.Now()
	err := get(context.Background(), c)
	took := time.Since(began)
	if err == nil {
		t.Fatal("a command to a Redis that does not answer succeeded")
	}
	// A look every half timeout, a PING unanswered for a timeout, and the
	// one retry of a read on a new connection that hangs too.
	if took > 5*timeout {
		t.Fatalf("the command failed after %v, want within about 3 × redis.timeout (%v)", took, timeout)
	}
}

// TestRestsAfterAFailure: once Redis failed to answer, commands fail at
// once for a second (a login's next calls do not each wait for it again),
// then go to Redis again; a command whose own context ended starts no
// rest.
func TestRestsAfterAFailure(t *testing.T) {
	s := redistest.Start(t)
	c := pipelined(t, s, 300*time.Millisecond)
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := get(ended, c); err == nil {
		t.Fatal("a command with an ended context succeeded")
	}
	if err := get(ctx, c); err != nil {
		t.Fatalf("after a command whose context ended: %v, want an answer", err)
	}
	s.Pause()
	if err := get(ctx, c); err == nil || errors.Is(err, redisclient.ErrResting) {
		t.Fatalf("the first command to a hung Redis: %v, want its failure", err)
	}
	began := time.Now()
	err := get(ctx, c)
	if !errors.Is(err, redisclient.ErrResting) || time.Since(began) > 50*time.Millisecond {
		t.Fatalf("the next command: %v after %v, want ErrResting at once", err, time.Since(began))
	}
	for _, r := range c.DoMulti(ctx, c.B().Get().Key("a").Build(), c.B().Get().Key("b").Build()) {
		if !errors.Is(r.Error(), redisclient.ErrResting) {
			t.Fatalf("commands sent together while resting: %v, want ErrResting", r.Error())
		}
	}
	s.Resume()
	time.Sleep(1100 * time.Millisecond)
	if err := get(ctx, c); err != nil {
		t.Fatalf("a second after Redis answers again: %v", err)
	}
}
