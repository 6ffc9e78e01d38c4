package bridge

import (
	"sync"
	"time"
)

// maxCachedReplies bounds the reply cache; at 1 KiB a reply that is about
// 1 GiB at the most, and it takes more than 100,000 requests a second for
// ten seconds to reach it.
const maxCachedReplies = 1 << 20

// dupKey identifies a request as RFC 5080 §2.2.2 does: receiving socket,
// source address and port, Code and Identifier. The Request Authenticator
// tells a retransmission from a new request with the same key.
type dupKey struct {
	local, remote, nas string
	code, id           byte
}

type dupEntry struct {
	auth    [16]byte
	reply   []byte // nil while the request is in flight or was dropped
	done    bool
	expires time.Time
}

// replyCache absorbs retransmissions: a duplicate of a request in flight is
// dropped, a duplicate of an answered request gets the same reply again, and
// neither reaches the identity provider.
type replyCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[dupKey]*dupEntry
	// done lists answered entries in the order they expire (the ttl is the
	// same for all), so sweeping costs only what it removes.
	done []doneRef
}

type doneRef struct {
	key dupKey
	e   *dupEntry
}

func newReplyCache(ttl time.Duration, now func() time.Time) *replyCache {
	return &replyCache{ttl: ttl, now: now, entries: map[dupKey]*dupEntry{}}
}

// dupVerdict is what to do with an incoming request.
type dupVerdict int

const (
	dupNew      dupVerdict = iota // process it
	dupInFlight                   // drop: the original is still being processed
	dupReplay                     // send the cached reply
)

// begin registers a request. For dupReplay it returns the cached reply.
func (c *replyCache) begin(k dupKey, auth [16]byte) (dupVerdict, []byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if e, ok := c.entries[k]; ok && e.auth == auth {
		if !e.done {
			return dupInFlight, nil
		}
		if now.Before(e.expires) {
			if e.reply == nil {
				return dupInFlight, nil // we chose not to answer; stay silent
			}
			return dupReplay, e.reply
		}
	}
	// New request, or a new Authenticator for the same key: the old entry
	// is purged (RFC 5080).
	c.entries[k] = &dupEntry{auth: auth}
	return dupNew, nil
}

// finish records the reply to a request (nil when it was dropped).
func (c *replyCache) finish(k dupKey, auth [16]byte, reply []byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && e.auth == auth {
		e.reply, e.done, e.expires = reply, true, now.Add(c.ttl)
		c.done = append(c.done, doneRef{k, e})
		for len(c.done) > maxCachedReplies {
			// Bounded: past the limit the oldest replies go first.
			ref := c.done[0]
			if c.entries[ref.key] == ref.e {
				delete(c.entries, ref.key)
			}
			c.done[0] = doneRef{}
			c.done = c.done[1:]
		}
	}
}

// forget removes a request that was never processed (shed under load), so
// that its retransmission is processed.
func (c *replyCache) forget(k dupKey, auth [16]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && e.auth == auth && !e.done {
		delete(c.entries, k)
	}
}

// sweep drops expired entries.
func (c *replyCache) sweep() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
}

// sweepLocked drops expired entries.
func (c *replyCache) sweepLocked(now time.Time) {
	i := 0
	for ; i < len(c.done) && now.After(c.done[i].e.expires); i++ {
		ref := c.done[i]
		if c.entries[ref.key] == ref.e {
			delete(c.entries, ref.key)
		}
		c.done[i] = doneRef{} // let the reply be collected
	}
	c.done = c.done[i:]
	if cap(c.done) > 1024 && len(c.done) < cap(c.done)/4 {
		// Most of the backing array is behind us: give it back.
		c.done = append([]doneRef(nil), c.done...)
	}
}
