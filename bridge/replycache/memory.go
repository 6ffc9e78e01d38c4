package replycache

import (
	"context"
	"sync"
	"time"
)

// maxCachedReplies bounds the reply cache; at 1 KiB a reply that is about
// 1 GiB at the most, and it takes more than 100,000 requests a second for
// ten seconds to reach it.
const maxCachedReplies = 1 << 20

// cacheKey is a Key without pointers: the socket and the NAS by number.
type cacheKey struct {
	addr       [16]byte
	port       uint16
	code, id   byte
	local, nas uint32
}

// dupEntry is a request in flight or answered. It holds no pointers: the
// reply is in the cache's reply log.
type dupEntry struct {
	auth     [16]byte
	gen      uint64 // tells this entry from a later one under the same key
	expires  int64  // Unix nanoseconds; set once answered
	pos      uint64 // the reply's place in the log
	n        uint16 // the reply's length
	done     bool   // answered (or chosen not to be)
	hasReply bool   // false: we chose not to answer
}

// Memory absorbs retransmissions: a duplicate of a request in flight is
// dropped, a duplicate of an answered request gets the same reply again, and
// neither reaches the identity provider.
//
// At thousands of requests a second it holds hundreds of thousands of
// replies for its ttl. They are kept where the garbage collector has nothing
// to trace: entries are plain values, replies are copied into a log of large
// byte chunks dropped as they expire.
type Memory struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	names   map[string]uint32 // sockets and NAS names by number
	entries map[cacheKey]dupEntry
	gen     uint64
	// done lists answered entries in the order they expire (the ttl is the
	// same for all), so sweeping costs only what it removes.
	done    doneRing
	replies replyLog
}

type doneRef struct {
	key     cacheKey
	gen     uint64
	expires int64
	end     uint64 // where the entry's reply ends in the log
}

// NewMemory returns a cache that keeps replies for ttl.
func NewMemory(ttl time.Duration, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{ttl: ttl, now: now, names: map[string]uint32{}, entries: map[cacheKey]dupEntry{}}
}

// keyOf returns k's pointer-free form.
func (c *Memory) keyOf(k Key) cacheKey {
	return cacheKey{addr: k.Src.Addr().As16(), port: k.Src.Port(), code: k.Code, id: k.ID, local: c.name(k.Local), nas: c.name(k.NAS)}
}

// name numbers a socket address or NAS name. They come from the
// configuration and the listening sockets: a short list.
func (c *Memory) name(s string) uint32 {
	n, ok := c.names[s]
	if !ok {
		n = uint32(len(c.names))
		c.names[s] = n
	}
	return n
}

// Begin registers a request. For Replay it returns the cached reply. It
// never fails.
func (c *Memory) Begin(_ context.Context, k Key, auth [16]byte) (Verdict, []byte, error) {
	v, r := c.begin(k, auth)
	return v, r, nil
}

func (c *Memory) begin(k Key, auth [16]byte) (Verdict, []byte) {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	key := c.keyOf(k)
	if e, ok := c.entries[key]; ok && e.auth == auth {
		if !e.done {
			return InFlight, nil
		}
		if now < e.expires {
			if !e.hasReply {
				return InFlight, nil // we chose not to answer; stay silent
			}
			return Replay, c.replies.get(e.pos, int(e.n))
		}
	}
	// New request, or a new Authenticator for the same key: the old entry
	// is purged (RFC 5080).
	c.gen++
	c.entries[key] = dupEntry{auth: auth, gen: c.gen}
	return New, nil
}

// Finish records the reply to a request (nil when it was dropped). It
// never fails.
func (c *Memory) Finish(_ context.Context, k Key, auth [16]byte, reply []byte) error {
	c.finish(k, auth, reply)
	return nil
}

func (c *Memory) finish(k Key, auth [16]byte, reply []byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.keyOf(k)
	e, ok := c.entries[key]
	if !ok || e.auth != auth {
		return
	}
	e.done, e.expires = true, now.Add(c.ttl).UnixNano()
	if reply != nil && len(reply) <= maxReply { // longer cannot be a RADIUS packet
		e.hasReply, e.pos, e.n = true, c.replies.add(reply), uint16(len(reply))
	}
	c.entries[key] = e
	c.done.push(doneRef{key: key, gen: e.gen, expires: e.expires, end: c.replies.end})
	for c.done.len() > maxCachedReplies {
		// Bounded: past the limit the oldest replies go first.
		c.dropOldestLocked()
	}
}

// Forget removes a request that was never processed (shed under load), so
// that its retransmission is processed. It never fails.
func (c *Memory) Forget(_ context.Context, k Key, auth [16]byte) error {
	c.forget(k, auth)
	return nil
}

func (c *Memory) forget(k Key, auth [16]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.keyOf(k)
	if e, ok := c.entries[key]; ok && e.auth == auth && !e.done {
		delete(c.entries, key)
	}
}

// Sweep drops expired entries (also done as requests arrive).
func (c *Memory) Sweep() {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
}

// sweepLocked drops expired entries.
func (c *Memory) sweepLocked(now int64) {
	for c.done.len() > 0 && now > c.done.front().expires {
		c.dropOldestLocked()
	}
	c.done.shrink()
}

func (c *Memory) dropOldestLocked() {
	ref := c.done.pop()
	if e, ok := c.entries[ref.key]; ok && e.gen == ref.gen {
		delete(c.entries, ref.key)
	}
	c.replies.release(ref.end)
}

// doneRing is a first-in, first-out queue in a ring that doubles when
// full and halves when a quarter used. A queue kept by re-slicing and
// appending would copy all of it into a new array each time the append
// reached the end of the old one: at 30,000 replies a second and a 10 s
// ttl, 9 MB copied into fresh (page-faulting) memory every few seconds,
// a stall of milliseconds for every request behind it.
type doneRing struct {
	buf        []doneRef // len(buf) is 0 or a power of two
	head, size int
}

func (r *doneRing) len() int { return r.size }

func (r *doneRing) front() *doneRef { return &r.buf[r.head] }

func (r *doneRing) push(d doneRef) {
	if r.size == len(r.buf) {
		r.resize(max(2*len(r.buf), 64))
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = d
	r.size++
}

func (r *doneRing) pop() doneRef {
	d := r.buf[r.head]
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	return d
}

// shrink gives back most of a ring that a burst grew.
func (r *doneRing) shrink() {
	n := len(r.buf)
	for n > 1024 && r.size < n/4 {
		n /= 2
	}
	if n != len(r.buf) {
		r.resize(n)
	}
}

func (r *doneRing) resize(n int) {
	buf := make([]doneRef, n)
	for i := range r.size {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

// maxReply is the longest reply the log takes (RADIUS's longest packet).
const maxReply = 4096

// replyLog holds replies one after the other in chunks. A chunk is
// released once every reply in it has expired, and kept for reuse (up to
// maxSpareChunks): at thousands of replies a second, allocating and freeing
// a chunk a few times a second would keep the collector and the runtime's
// scavenger (which gives freed memory back to the kernel, a page fault at
// a time when it is used again) busy for nothing.
type replyLog struct {
	chunks [][]byte // chunks[0] starts at offset base
	base   uint64
	end    uint64   // where the next reply goes
	spare  [][]byte // released chunks, for reuse
}

const (
	replyChunk     = 64 << 10
	maxSpareChunks = 16
)

// add copies b into the log and returns its place.
func (l *replyLog) add(b []byte) uint64 {
	if off := l.end % replyChunk; off+uint64(len(b)) > replyChunk {
		l.end += replyChunk - off // the rest of this chunk stays unused
	}
	if len(l.chunks) == 0 {
		l.base = l.end - l.end%replyChunk
	}
	for (l.end-l.base)/replyChunk >= uint64(len(l.chunks)) {
		var c []byte
		if n := len(l.spare); n > 0 {
			c, l.spare[n-1] = l.spare[n-1], nil
			l.spare = l.spare[:n-1]
		} else {
			c = make([]byte, replyChunk)
		}
		l.chunks = append(l.chunks, c)
	}
	pos := l.end
	copy(l.chunks[(pos-l.base)/replyChunk][pos%replyChunk:], b)
	l.end += uint64(len(b))
	return pos
}

// get returns a copy of the n bytes at pos: the chunk may be reused once
// the reply expires, while the copy is being sent.
func (l *replyLog) get(pos uint64, n int) []byte {
	c := l.chunks[(pos-l.base)/replyChunk]
	off := pos % replyChunk
	return append([]byte(nil), c[off:off+uint64(n)]...)
}

// release lets go of the chunks that hold nothing at or after upTo.
func (l *replyLog) release(upTo uint64) {
	for len(l.chunks) > 0 && l.base+replyChunk <= upTo {
		if len(l.spare) < maxSpareChunks {
			l.spare = append(l.spare, l.chunks[0])
		}
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.base += replyChunk
	}
	if len(l.chunks) == 0 {
		l.chunks = nil // the next add starts afresh at end
	}
}
