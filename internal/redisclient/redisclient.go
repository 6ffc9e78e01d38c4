// Package redisclient opens the Redis client that the shared stores
// (conversations, failed-login counts, the reply cache, logins repeated
// at another instance) use, from the [redis] settings.
package redisclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

// New returns a client for the [redis] settings: a single server,
// a Cluster (found by asking the servers listed), or Sentinels (with
// master_name).
//
// The client is rueidis, for its automatic pipelining: the commands that
// every request in flight sends at the same moment go to Redis in one
// write and their replies come back in one read, where a client with a
// pool of connections (go-redis) makes a write and a read system call,
// and wakes a goroutine, per command. make bench measured mfabridge's CPU
// per request with Redis at several times the memory store's with one
// round trip a command; see docs/performance-history.md.
func New(r *config.Redis) (rueidis.Client, error) {
	o := rueidis.ClientOption{
		InitAddress: r.Address,
		Username:    r.Username,
		Password:    r.Password,
		SelectDB:    r.DB,
		Dialer:      dialer(r),
		// Fail fast when Redis stops answering: a connection whose replies
		// are late by timeout is closed and its commands fail, so that
		// mfabridge answers (or falls back) while the NAS still waits.
		ConnWriteTimeout: r.Timeout.Duration,
		// While several requests wait on Redis, their commands are gathered
		// for up to 50 µs before a write: fewer system calls for a delay no
		// NAS notices (a lone request's command goes at once). When the
		// process has nothing else to do meanwhile, the Go runtime's
		// network poller sleeps in whole milliseconds, so at light load a
		// round trip can take a millisecond; under load it is what makes a
		// round trip cheap (BenchmarkRoundTrip, one Go processor: 1.3 µs of
		// CPU with 128 callers against 8.1 µs without the delay; with 2
		// callers, a round trip of about 1 ms against 70 µs).
		MaxFlushDelay:     50 * time.Microsecond,
		PipelineMultiplex: PipelineMultiplex(r.PoolSize),
		// mfabridge reads what it has just written; no client-side cache.
		DisableCache: true,
		// One retry of a command that reads, after a connection failed
		// (rueidis's own retries go on until the request's deadline):
		// while Redis is down, a request falls back at once.
		RetryDelay: func(attempts int, _ rueidis.Completed, _ error) time.Duration {
			if attempts > 1 {
				return -1
			}
			return 10 * time.Millisecond
		},
	}
	if r.MasterName != "" {
		o.Sentinel = rueidis.SentinelOption{MasterSet: r.MasterName, Username: r.Username, Password: r.Password}
	}
	if r.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if r.CAFile != "" {
			pool, err := upstream.RootCAs(r.CAFile)
			if err != nil {
				return nil, fmt.Errorf("redis.%w", err)
			}
			tc.RootCAs = pool
		}
		o.TLSConfig = tc
		if r.MasterName != "" {
			o.Sentinel.TLSConfig = tc
		}
	}
	// One address is one server (or a proxy in front of several): the
	// client is made even while it cannot be reached, and connects when
	// it can, so that mfabridge starts and applies redis.fallback. A
	// Cluster or Sentinels must answer at start, to say where the data is.
	o.ForceSingleClient = len(r.Address) == 1 && r.MasterName == ""
	c, err := rueidis.NewClient(o)
	if err != nil && (c == nil || !o.ForceSingleClient) {
		if c != nil {
			c.Close()
		}
		what := "Redis Cluster"
		if r.MasterName != "" {
			what = "Redis Sentinels"
		}
		return nil, fmt.Errorf("redis: cannot reach the %s at %v: %v; mfabridge needs one of them answering to start (systemd starts it again)", what, r.Address, err)
	}
	return &resting{Client: c}, nil
}

// ErrResting is the error of a command not sent: Redis failed to answer a
// moment ago.
var ErrResting = errors.New("redis: not asked, it failed to answer less than a second ago")

// resting is the client with a rest after a failure: when a command fails
// because Redis did not answer (a connection refused, closed or timed
// out), every command for the next second fails at once with ErrResting.
// A login makes several calls to Redis one after another (the reply
// cache, the failed-login counter, the session store): without the rest a
// Redis that hangs cost each of them its own wait, and together they
// outlasted the NAS's. rueidis has no such setting; the wrapper is the
// least code that gives it.
type resting struct {
	rueidis.Client
	failedAt atomic.Int64 // UnixNano; 0: never
}

// rest is how long Redis is left alone after a failure.
const rest = time.Second

func (c *resting) isResting() bool {
	at := c.failedAt.Load()
	return at != 0 && time.Now().UnixNano()-at < int64(rest)
}

// note starts a rest when err says Redis did not answer; an error of the
// caller's context (a request that ended) says nothing about Redis.
func (c *resting) note(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil && !errors.Is(err, rueidis.ErrClosing) {
		c.failedAt.Store(time.Now().UnixNano())
	}
}

func (c *resting) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if c.isResting() {
		return rueidis.NewErrorResult(ErrResting)
	}
	r := c.Client.Do(ctx, cmd)
	c.note(ctx, r.NonRedisError())
	return r
}

func (c *resting) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if c.isResting() {
		out := make([]rueidis.RedisResult, len(multi))
		for i := range out {
			out[i] = rueidis.NewErrorResult(ErrResting)
		}
		return out
	}
	out := c.Client.DoMulti(ctx, multi...)
	for _, r := range out {
		if err := r.NonRedisError(); err != nil {
			c.note(ctx, err)
			break
		}
	}
	return out
}

// dialer connects to Redis within redis.dial_timeout. Its KeepAlive is
// not TCP's here (KeepAliveConfig is, at 30 s) but how often rueidis looks
// at a pipelined connection: when no reply came in that long, it sends a
// PING, and closes the connection, failing the commands waiting on it, when
// the PING is not answered within redis.timeout. With rueidis's default
// (the TCP keepalive's 30 s) a Redis that hangs with its connections open
// kept every request waiting a minute, not redis.timeout: a look every
// half timeout bounds the wait to about twice the timeout, at the cost of
// a PING every half timeout on an idle connection.
func dialer(r *config.Redis) net.Dialer {
	look := r.Timeout.Duration / 2
	if look <= 0 {
		look = 500 * time.Millisecond
	}
	return net.Dialer{
		Timeout:         r.DialTimeout.Duration,
		KeepAlive:       look,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 30 * time.Second, Count: 9},
	}
}

// PipelineMultiplex is rueidis's setting for redis.pool_size connections
// to each server: 2^n, the first power of two at or above pool_size; -1
// (one connection, where rueidis would take 0 as "its default") for 0
// and 1.
func PipelineMultiplex(poolSize int) int {
	if poolSize <= 1 {
		return -1
	}
	n := 0
	for 1<<n < poolSize {
		n++
	}
	return n
}
