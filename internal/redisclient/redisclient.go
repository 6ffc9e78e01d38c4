// Package redisclient opens the Redis client that the shared stores
// (conversations, failed-login counts, the reply cache, logins repeated
// at another instance) use, from the [redis] settings.
package redisclient

import (
	"crypto/tls"
	"fmt"
	"net"
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
		Dialer:      net.Dialer{Timeout: r.DialTimeout.Duration, KeepAlive: 30 * time.Second},
		// Fail fast when Redis stops answering: a connection whose replies
		// are late by timeout is closed and its commands fail, so that
		// mfabridge answers (or falls back) while the NAS still waits.
		ConnWriteTimeout: r.Timeout.Duration,
		// While several requests wait on Redis, their commands are gathered
		// for up to 50 µs before a write: fewer system calls for a delay no
		// NAS notices (a lone request's command goes at once).
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
	return c, nil
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
