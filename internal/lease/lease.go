// Package lease holds Redis keys that mark work in flight by renewing
// their expiry while the work goes on: an instance that dies lets go of
// them within one lease, and another instance takes the work up.
package lease

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// renewScript extends the claims among KEYS that are still in flight (their
// value starts with "i").
var renewScript = rueidis.NewLuaScript(`
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, 1) == 'i' then redis.call('PEXPIRE', k, ARGV[1]) end
end
return 1
`)

// Keep renews the in-flight claims under keys every lease/3 until
// stop is called: an instance that dies lets go of them within a lease.
func Keep(rdb rueidis.Client, lease time.Duration, keys ...string) (stop func()) {
	if rdb == nil || len(keys) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = renewScript.Exec(ctx, rdb, keys, []string{strconv.FormatInt(lease.Milliseconds(), 10)}).Error()
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
