package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Redis is a Store on Redis (or Valkey) shared by several mfabridge
// instances: a State issued by one can be answered at another. Sessions are
// JSON values with an expiry; an index (a sorted set by expiry) bounds their
// number. Create and Take are Lua scripts, so each is atomic; Take uses
// GETDEL, so a State is consumed once across all instances.
//
// Its calls are bounded by redis.timeout (the client gives up on a Redis
// that stops answering within about three of them), not by the context's
// deadline: a context that can end costs each call a channel and a select
// of its own, a few per cent of a request's CPU with Redis.
type Redis struct {
	rdb    rueidis.Client
	prefix string
	index  string
	max    int
	now    func() time.Time
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store keeping sessions under keys that start with
// prefix, at most max of them.
func NewRedis(rdb rueidis.Client, prefix string, max int) *Redis {
	// The hash tag keeps a session and the index in one Redis Cluster slot.
	p := prefix + "{sessions}:"
	return &Redis{rdb: rdb, prefix: p, index: p + "index", max: max, now: time.Now}
}

var createScript = rueidis.NewLuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`)

var takeScript = rueidis.NewLuaScript(`
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('ZREM', KEYS[2], KEYS[1]) end
return v
`)

// ErrUnavailable wraps a failure to reach the shared store.
var ErrUnavailable = errors.New("session: the shared store is not reachable")

func unavailable(err error) error { return fmt.Errorf("%w: %v", ErrUnavailable, err) }

// Create stores s under key for ttl.
func (r *Redis) Create(ctx context.Context, key string, s Session, ttl time.Duration) error {
	b := Marshal(s)
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	now := strconv.FormatInt(r.now().UnixMilli(), 10)
	limit := r.max
	if s.Starts() {
		limit -= Reserve(r.max)
	}
	res, err := createScript.Exec(context.WithoutCancel(ctx), r.rdb, []string{r.prefix + key, r.index},
		[]string{string(b), strconv.FormatInt(ms, 10), now, strconv.Itoa(limit)}).AsInt64()
	switch {
	case err != nil:
		return unavailable(err)
	case res == -1:
		return ErrFull
	case res == 0:
		return ErrExists
	}
	return nil
}

// Take returns and removes the session under key.
func (r *Redis) Take(ctx context.Context, key string) (Session, error) {
	v, err := takeScript.Exec(context.WithoutCancel(ctx), r.rdb, []string{r.prefix + key, r.index}, nil).ToString()
	if rueidis.IsRedisNil(err) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, unavailable(err)
	}
	return Unmarshal([]byte(v))
}

// Len returns the number of sessions not yet expired.
func (r *Redis) Len() int {
	n, err := r.rdb.Do(context.Background(), r.rdb.B().Zcount().Key(r.index).Min(strconv.FormatInt(r.now().UnixMilli(), 10)).Max("+inf").Build()).AsInt64()
	if err != nil {
		return 0
	}
	return int(n)
}

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.rdb.Do(ctx, r.rdb.B().Ping().Build()).Error(); err != nil {
		return unavailable(err)
	}
	return nil
}
