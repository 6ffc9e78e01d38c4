package redisclient

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/config"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func settings(addr ...string) *config.Redis {
	return &config.Redis{Address: addr, DialTimeout: config.Duration{Duration: 2 * time.Second}, Timeout: config.Duration{Duration: time.Second}}
}

// TestStartsWhileRedisIsDown: with one address, the client is made though
// Redis does not answer (mfabridge starts and applies redis.fallback), and
// a command fails within a second or two, not at the request's deadline.
func TestStartsWhileRedisIsDown(t *testing.T) {
	c, err := New(settings(closedAddr(t)))
	if err != nil {
		t.Fatalf("no client while Redis is down: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	err = c.Do(ctx, c.B().Get().Key("k").Build()).Error()
	if err == nil {
		t.Fatal("a command to a Redis that is down succeeded")
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("the command failed after %v, want within the dial timeout", took)
	}
}

// TestClusterMustAnswerAtStart: several addresses are a Cluster, which must
// answer at start; the error says so.
func TestClusterMustAnswerAtStart(t *testing.T) {
	c, err := New(settings(closedAddr(t), closedAddr(t)))
	if err == nil {
		c.Close()
		t.Fatal("a client for a Cluster that does not answer")
	}
	if !strings.Contains(err.Error(), "Redis Cluster") {
		t.Fatalf("error %q does not say what could not be reached", err)
	}
}

// TestPoolSize: redis.pool_size connections, rounded up to a power of two;
// 0 and 1 are one connection (-1 to rueidis, whose 0 is its own default).
func TestPoolSize(t *testing.T) {
	for n, want := range map[int]int{0: -1, 1: -1, 2: 1, 3: 2, 4: 2, 5: 3, 100: 7, 256: 8} {
		if got := PipelineMultiplex(n); got != want {
			t.Errorf("pool_size %d: %d, want %d", n, got, want)
		}
	}
}
