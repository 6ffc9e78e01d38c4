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

// renewScript extends the claim under KEYS[1] if it is still in flight
// (its value starts with "i").
var renewScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'i' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`)

// A Keeper renews the claims of its Redis every lease/3 while they are
// held: one goroutine for all of them (it runs while any is held), and
// their renewals sent together, so that holding a claim costs a request
// an entry in a map, not a goroutine and a timer.
type Keeper struct {
	rdb   rueidis.Client
	lease time.Duration

	mu      sync.Mutex
	held    map[string]int // claims held, by key (a key may be held twice)
	running bool
}

// NewKeeper returns a keeper of claims on rdb that expire after lease
// unless renewed.
func NewKeeper(rdb rueidis.Client, lease time.Duration) *Keeper {
	return &Keeper{rdb: rdb, lease: lease, held: map[string]int{}}
}

// Keep renews the claim under key until stop is called (once or more).
func (k *Keeper) Keep(key string) (stop func()) {
	if k == nil || k.rdb == nil {
		return func() {}
	}
	k.mu.Lock()
	k.held[key]++
	if !k.running {
		k.running = true
		go k.run()
	}
	k.mu.Unlock()
	c := &claim{k: k, key: key}
	return c.stop
}

type claim struct {
	k    *Keeper
	key  string
	once sync.Once
}

func (c *claim) stop() {
	c.once.Do(func() {
		c.k.mu.Lock()
		if c.k.held[c.key]--; c.k.held[c.key] <= 0 {
			delete(c.k.held, c.key)
		}
		c.k.mu.Unlock()
	})
}

// Held returns the number of claims held.
func (k *Keeper) Held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.held)
}

// run renews the claims held every lease/3, and ends when none is.
func (k *Keeper) run() {
	t := time.NewTicker(k.lease / 3)
	defer t.Stop()
	ms := []string{strconv.FormatInt(k.lease.Milliseconds(), 10)}
	var renew []rueidis.LuaExec
	for range t.C {
		k.mu.Lock()
		if len(k.held) == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		renew = renew[:0]
		for key := range k.held {
			renew = append(renew, rueidis.LuaExec{Keys: []string{key}, Args: ms})
		}
		k.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = renewScript.ExecMulti(ctx, k.rdb, renew...)
		cancel()
	}
}
