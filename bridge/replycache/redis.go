package replycache

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/mfabridge/mfabridge/internal/lease"
	"github.com/mfabridge/mfabridge/internal/redisclient"
)

// Redis extends the reply cache to every mfabridge instance on one
// Redis, so that a retransmission that a load balancer or a failing-over
// NAS sends to another instance is not processed twice. It is consulted in
// the worker, after the local cache, so Redis latency never stalls the read
// loop; when Redis fails, each instance still absorbs its own
// retransmissions. After a call Redis did not answer, the client (from
// redisclient) fails every call at once for a second, so that a dead
// Redis costs each request nothing.
type Redis struct {
	rdb    rueidis.Client
	prefix string
	ttl    time.Duration // of a reply
	lease  time.Duration // of a request in flight (see Hold)
	keeper *lease.Keeper
}

// ErrResting is the error of a call not made: Redis failed to answer a
// moment ago.
var ErrResting = redisclient.ErrResting

// A value is "i" + Request Authenticator while in flight, "d" +
// Authenticator + reply when answered (no reply: stay silent).
var beginScript = rueidis.NewLuaScript(beginSource)

// beginSHA names beginScript for EVALSHA in a round trip of several
// commands (BeginWith).
var beginSHA = func() string { s := sha1.Sum([]byte(beginSource)); return hex.EncodeToString(s[:]) }()

const beginSource = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 2, 17) == ARGV[1] then return v end
redis.call('SET', KEYS[1], 'i' .. ARGV[1], 'PX', ARGV[2])
return false
`

// NewRedis returns a cache on rdb (a client from redisclient) under keys
// starting with prefix, that keeps replies for ttl and marks a request in
// flight for leaseFor (renewed by Hold).
func NewRedis(rdb rueidis.Client, prefix string, ttl, leaseFor time.Duration) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, ttl: ttl, lease: leaseFor, keeper: lease.NewKeeper(rdb, leaseFor)}
}

// key is prefix + "replies:<nas>:<source>:<code>:<id>" (appended, not
// formatted: it is made for every request).
func (r *Redis) key(k Key) string {
	b := make([]byte, 0, len(r.prefix)+len(k.NAS)+len(k.Remote)+18)
	b = append(b, r.prefix...)
	b = append(b, "replies:"...)
	b = append(b, k.NAS...)
	b = append(b, ':')
	b = append(b, k.Remote...)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(k.Code), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(k.ID), 10)
	return string(b)
}

// Hold renews the in-flight mark of k until stop is called, so that a
// retransmission to another instance is answered again within a lease
// when this one dies, not after request_timeout.
func (r *Redis) Hold(k Key) (stop func()) {
	return r.keeper.Keep(r.key(k))
}

// Begin registers a request across instances.
func (r *Redis) Begin(ctx context.Context, k Key, auth [16]byte) (Verdict, []byte, error) {
	// A Redis that stops answering fails the call within about three
	// redis.timeout (see redisclient), well inside the request's own
	// time: the call does not wait on the request's context too (a channel
	// and a select per call). The in-flight mark is a lease the worker
	// renews (Hold), so that a retransmission to another instance is
	// answered again within seconds when this one dies, not after
	// request_timeout.
	key, args := r.key(k), r.beginArgs(auth)
	return r.verdict(beginScript.Exec(context.WithoutCancel(ctx), r.rdb, []string{key}, args))
}

// BeginWith is Begin with also, a command of the caller's, sent in the
// same round trip; also's result is returned.
func (r *Redis) BeginWith(ctx context.Context, k Key, auth [16]byte, also rueidis.Completed) (Verdict, []byte, *rueidis.RedisResult, error) {
	key, args := r.key(k), r.beginArgs(auth)
	// Bounded as Begin's call is.
	res := r.rdb.DoMulti(context.WithoutCancel(ctx), r.rdb.B().Evalsha().Sha1(beginSHA).Numkeys(1).Key(key).Arg(args...).Build(), also)
	first := res[0]
	if e, ok := rueidis.IsRedisErr(first.Error()); ok && e.IsNoScript() {
		first = beginScript.Exec(ctx, r.rdb, []string{key}, args) // loads it
	}
	v, reply, err := r.verdict(first)
	return v, reply, &res[1], err
}

func (r *Redis) beginArgs(auth [16]byte) []string {
	return []string{string(auth[:]), strconv.FormatInt(r.lease.Milliseconds(), 10)}
}

// verdict reads beginScript's result.
func (r *Redis) verdict(res rueidis.RedisResult) (Verdict, []byte, error) {
	v, err := res.ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return New, nil, nil
	case err != nil:
		return New, nil, err
	case len(v) >= 17 && v[0] == 'd':
		if len(v) == 17 {
			return InFlight, nil, nil // answered by staying silent
		}
		return Replay, []byte(v[17:]), nil
	}
	return InFlight, nil, nil
}

// Finish records the reply (nil: none was sent).
func (r *Redis) Finish(ctx context.Context, k Key, auth [16]byte, reply []byte) error {
	ctx = context.WithoutCancel(ctx) // bounded by redis.timeout
	return r.Finished(r.rdb.Do(ctx, r.FinishCommand(k, auth, reply)))
}

// FinishCommand is Finish's command, for a caller to send in a round trip
// of its own; its result goes to Finished.
func (r *Redis) FinishCommand(k Key, auth [16]byte, reply []byte) rueidis.Completed {
	return r.rdb.B().Set().Key(r.key(k)).Value("d" + string(auth[:]) + string(reply)).PxMilliseconds(max(1, r.ttl.Milliseconds())).Build()
}

// Finished takes the result of FinishCommand's command.
func (r *Redis) Finished(res rueidis.RedisResult) error {
	return res.Error()
}

// forgetScript deletes KEYS[1] if it marks the request of ARGV[1] in
// flight.
var forgetScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == 'i' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// Forget removes the in-flight mark of a request that was never
// processed, so that its retransmission is processed.
func (r *Redis) Forget(ctx context.Context, k Key, auth [16]byte) error {
	ctx = context.WithoutCancel(ctx) // bounded by redis.timeout
	return forgetScript.Exec(ctx, r.rdb, []string{r.key(k)}, []string{string(auth[:])}).Error()
}
