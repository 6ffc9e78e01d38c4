package throttle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Redis is a Counter shared by every mfabridge instance on one Redis (or
// Valkey), so that guesses spread over instances are counted together.
// Each entry is a hash (f: failures, s: window start, l: locked until,
// p: proven until, in Unix milliseconds) that expires when it can no longer
// matter. Check reads the three entries in one round trip; Fail is one Lua
// script, so concurrent failures on several instances are all counted.
type Redis struct {
	s      Settings
	rdb    rueidis.Client
	prefix string
	now    func() time.Time
}

var _ Counter = (*Redis)(nil)

// NewRedis returns a counter keeping its entries under prefix. now is the
// clock (nil: time.Now); instances sharing a Redis should keep time.
func NewRedis(rdb rueidis.Client, prefix string, s Settings, now func() time.Time) *Redis {
	if now == nil {
		now = time.Now
	}
	// One hash tag keeps a login's keys in one Redis Cluster slot, as the
	// script needs.
	return &Redis{s: s.WithDefaults(), rdb: rdb, prefix: prefix + "{throttle}:", now: now}
}

// ErrUnavailable wraps a failure to reach Redis.
var ErrUnavailable = errors.New("throttle: the shared counter is not reachable")

func (r *Redis) ttl() int64 { return max(r.s.Window, r.s.Duration).Milliseconds() + 1000 }

func (r *Redis) keys(user string, src Source) []string {
	k := []string{r.prefix + userKey(user), r.prefix + pairKey(user, src)}
	if src.Station != "" {
		k = append(k, r.prefix+stationKey(src))
	}
	return k
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// Check decides for a login of user from src.
func (r *Redis) Check(ctx context.Context, user string, src Source) (Verdict, error) {
	if r.s.Attempts == 0 {
		return Verdict{}, nil
	}
	keys := r.keys(user, src)
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = r.rdb.B().Hmget().Key(k).Field("f", "s", "l", "p").Build()
	}
	entries := make([]*entry, 3)
	for i, res := range r.rdb.DoMulti(ctx, cmds...) {
		v, err := res.ToArray()
		if err != nil {
			return Verdict{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if len(v) != 4 || v[1].IsNil() {
			continue
		}
		f := make([]string, 4)
		for j := range v {
			f[j], _ = v[j].ToString()
		}
		n, _ := strconv.Atoi(f[0])
		entries[i] = &entry{failures: n, since: fromMS(f[1]), lockedUntil: fromMS(f[2]), provenUntil: fromMS(f[3])}
	}
	return r.s.decide(r.now(), entries[1], entries[2], entries[0]), nil
}

// failScript counts a failure in KEYS[1] (the user), KEYS[2] (the pair)
// and KEYS[3] (the station, when there is one), locking the pair at
// ARGV[4] failures and the station at ARGV[5].
var failScript = rueidis.NewLuaScript(`
local now, window, duration = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = tonumber(ARGV[6])
local function bump(k)
  local v = redis.call('HMGET', k, 'f', 's')
  local n, s = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if now - s > window then n = 0; s = now end
  n = n + 1
  redis.call('HSET', k, 'f', n, 's', s)
  redis.call('PEXPIRE', k, ttl)
  return n
end
bump(KEYS[1])
if bump(KEYS[2]) >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'l', now + duration, 'f', 0, 's', now)
end
if #KEYS > 2 and bump(KEYS[3]) >= tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[3], 'l', now + duration, 'f', 0, 's', now)
end
return 1
`)

// Fail records a failed login.
func (r *Redis) Fail(ctx context.Context, user string, src Source) error {
	if r.s.Attempts == 0 {
		return nil
	}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	err := failScript.Exec(ctx, r.rdb, r.keys(user, src), []string{i64(ms(r.now())), i64(r.s.Window.Milliseconds()), i64(r.s.Duration.Milliseconds()),
		strconv.Itoa(r.s.Attempts), strconv.Itoa(r.s.SourceAttempts), i64(r.ttl())}).Error()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Succeed records a successful login.
func (r *Redis) Succeed(ctx context.Context, user string, src Source) error {
	if r.s.Attempts == 0 {
		return nil
	}
	now := r.now()
	k := r.prefix + pairKey(user, src)
	b := r.rdb.B()
	for _, res := range r.rdb.DoMulti(ctx,
		b.Multi().Build(),
		b.Del().Key(k).Build(),
		b.Hset().Key(k).FieldValue().FieldValue("f", "0").FieldValue("s", strconv.FormatInt(ms(now), 10)).FieldValue("p", strconv.FormatInt(ms(now.Add(r.s.Window)), 10)).Build(),
		b.Pexpire().Key(k).Milliseconds(r.ttl()).Build(),
		b.Exec().Build()) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return nil
}

// Clear forgets the user's counts and locks on every instance.
func (r *Redis) Clear(ctx context.Context, user string) error {
	if err := r.rdb.Do(ctx, r.rdb.B().Del().Key(r.prefix+userKey(user)).Build()).Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return r.scan(ctx, r.prefix+"p\x00"+Canonical(user)+"\x00*", func(k string) error {
		return r.rdb.Do(ctx, r.rdb.B().Del().Key(k).Build()).Error()
	})
}

// scan calls f with each key that matches pattern, on every Redis server
// (a Cluster's keys are spread over its masters).
func (r *Redis) scan(ctx context.Context, pattern string, f func(key string) error) error {
	for _, node := range r.rdb.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			for _, k := range e.Elements {
				if err := f(k); err != nil {
					return fmt.Errorf("%w: %v", ErrUnavailable, err)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// Fallback counts on Shared and, while it cannot be reached, on Local, so
// that a Redis outage never stops counting.
type Fallback struct {
	Shared, Local Counter
	// OnError is told of each failure of Shared.
	OnError func(error)
}

var _ Counter = (*Fallback)(nil)

func (f *Fallback) failed(err error) {
	if f.OnError != nil {
		f.OnError(err)
	}
}

// Check decides on Shared, or on Local while Shared is unreachable.
func (f *Fallback) Check(ctx context.Context, user string, src Source) (Verdict, error) {
	v, err := f.Shared.Check(ctx, user, src)
	if err != nil {
		f.failed(err)
		return f.Local.Check(ctx, user, src)
	}
	return v, nil
}

// Fail counts on both, so that Local knows the recent failures when it is
// needed.
func (f *Fallback) Fail(ctx context.Context, user string, src Source) error {
	if err := f.Shared.Fail(ctx, user, src); err != nil {
		f.failed(err)
	}
	return f.Local.Fail(ctx, user, src)
}

// Succeed records on both.
func (f *Fallback) Succeed(ctx context.Context, user string, src Source) error {
	if err := f.Shared.Succeed(ctx, user, src); err != nil {
		f.failed(err)
	}
	return f.Local.Succeed(ctx, user, src)
}

// Clear clears both.
func (f *Fallback) Clear(ctx context.Context, user string) error {
	err := f.Shared.Clear(ctx, user)
	return errors.Join(err, f.Local.Clear(ctx, user))
}

// List returns what every instance counted (a walk over the counter's
// keys: an operator's command).
func (r *Redis) List(ctx context.Context) ([]Record, error) {
	now := r.now()
	var out []Record
	err := r.scan(ctx, r.prefix+"*", func(k string) error {
		v, err := r.rdb.Do(ctx, r.rdb.B().Hmget().Key(k).Field("f", "s", "l").Build()).ToArray()
		if err != nil || len(v) != 3 || v[1].IsNil() {
			return nil
		}
		f := make([]string, 3)
		for j := range v {
			f[j], _ = v[j].ToString()
		}
		n, _ := strconv.Atoi(f[0])
		if rec, ok := recordOf(strings.TrimPrefix(k, r.prefix), &entry{failures: n, since: fromMS(f[1]), lockedUntil: fromMS(f[2])}, now, r.s); ok {
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// List lists Shared's records, or Local's while Shared is unreachable.
func (f *Fallback) List(ctx context.Context) ([]Record, error) {
	if l, ok := f.Shared.(Lister); ok {
		if out, err := l.List(ctx); err == nil {
			return out, nil
		}
	}
	if l, ok := f.Local.(Lister); ok {
		return l.List(ctx)
	}
	return nil, nil
}
