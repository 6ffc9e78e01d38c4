package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sharedReplies extends the reply cache to every mfabridge instance on one
// Redis, so that a retransmission that a load balancer or a failing-over
// NAS sends to another instance is not processed twice. It is consulted in
// the worker, after the local cache, so Redis latency never stalls the read
// loop; when Redis fails, each instance still absorbs its own
// retransmissions.
type sharedReplies struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration // of a reply

	// After a failure, Redis is left alone for a second, so that a dead
	// Redis costs each request nothing.
	mu       sync.Mutex
	failedAt time.Time
	now      func() time.Time
}

var errResting = errors.New("shared reply cache: Redis failed a moment ago; not asked")

func (r *sharedReplies) resting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now().Sub(r.failedAt) < time.Second
}

func (r *sharedReplies) failed(err error) error {
	if err != nil {
		r.mu.Lock()
		r.failedAt = r.now()
		r.mu.Unlock()
	}
	return err
}

// A value is "i" + Request Authenticator while in flight, "d" +
// Authenticator + reply when answered (no reply: stay silent).
var beginScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 2, 17) == ARGV[1] then return v end
redis.call('SET', KEYS[1], 'i' .. ARGV[1], 'PX', ARGV[2])
return false
`)

func (r *sharedReplies) key(nas, src string, k dupKey) string {
	return fmt.Sprintf("%sreplies:%s:%s:%d:%d", r.prefix, nas, src, k.code, k.id)
}

// begin registers a request across instances.
func (r *sharedReplies) begin(ctx context.Context, key string, auth [16]byte) (dupVerdict, []byte, error) {
	if r.resting() {
		return dupNew, nil, errResting
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	// The in-flight mark is a lease the worker renews (keepLeases), so that
	// a retransmission to another instance is answered again within
	// seconds when this one dies, not after request_timeout.
	v, err := beginScript.Run(ctx, r.rdb, []string{key}, string(auth[:]), joinLease.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return dupNew, nil, nil
	case err != nil:
		return dupNew, nil, r.failed(err)
	case len(v) >= 17 && v[0] == 'd':
		if len(v) == 17 {
			return dupInFlight, nil, nil // answered by staying silent
		}
		return dupReplay, []byte(v[17:]), nil
	}
	return dupInFlight, nil, nil
}

// finish records the reply (nil: none was sent).
func (r *sharedReplies) finish(key string, auth [16]byte, reply []byte) error {
	if r.resting() {
		return errResting
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return r.failed(r.rdb.Set(ctx, key, "d"+string(auth[:])+string(reply), r.ttl).Err())
}
