package session

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is an in-process Store with expiry and a size bound.
//
// It keeps each session in its binary form (Marshal), under the 16 bytes a
// State of 32 lower-case hex digits stands for (every State mfabridge makes)
// or, for any other key, under the key itself. The bytes live in a slab
// (slab.go) and the map's entries hold no pointer: a waiting conversation
// costs one map slot and one slot of the slab, and the garbage collector
// has nothing to trace through, however many conversations are waiting.
type Memory struct {
	max   int
	sweep time.Duration

	mu        sync.Mutex // makes Take's get-and-delete and Create's check-and-add atomic
	ids       map[[16]byte]memEntry
	named     map[string]memEntry
	slab      slab
	big       map[memKey][]byte // sessions too large for a slot
	nextSweep time.Time
	sweeping  atomic.Bool
	onExpire  atomic.Pointer[func(Session)]
}

// OnExpire has f told of each session that expired untaken (a
// conversation abandoned at a challenge), when a sweep removes it.
func (m *Memory) OnExpire(f func(Session)) { m.onExpire.Store(&f) }

// Sweep removes the expired sessions now (a chunk at a time), unless a
// sweep is already running. Create sweeps as it goes; a server sweeps
// while no new conversation starts, so that Len falls when they expire.
func (m *Memory) Sweep() {
	if m.sweeping.CompareAndSwap(false, true) {
		m.sweepExpired()
	}
}

// memEntry is a stored session: no pointer, so that the maps holding
// a million of them are nothing for the collector to scan.
type memEntry struct {
	expires int64   // Unix nanoseconds
	ref     slabRef // its bytes in the slab; 0: in big
	n       int32   // their length
}

// memKey names a session in big: its id, or its key when it has none.
type memKey struct {
	id   [16]byte
	name string
}

// dataLocked returns a copy of e's bytes.
func (m *Memory) dataLocked(k memKey, e memEntry) []byte {
	if e.ref == 0 {
		return m.big[k]
	}
	return m.slab.get(e.ref, int(e.n))
}

// dropLocked lets go of e's bytes.
func (m *Memory) dropLocked(k memKey, e memEntry) {
	if e.ref == 0 {
		delete(m.big, k)
		return
	}
	m.slab.release(e.ref, int(e.n))
}

// storeLocked keeps data and returns its entry.
func (m *Memory) storeLocked(k memKey, data []byte, expires int64) memEntry {
	e := memEntry{expires: expires, ref: m.slab.put(data), n: int32(len(data))}
	if e.ref == 0 {
		m.big[k] = data
	}
	return e
}

// keyOf is the memKey of a store key.
func keyOf(key string) memKey {
	if id, ok := idOf(key); ok {
		return memKey{id: id}
	}
	return memKey{name: key}
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most max sessions. Expired sessions
// are swept every sweep.
func NewMemory(max int, sweep time.Duration) *Memory {
	return &Memory{max: max, sweep: sweep, ids: map[[16]byte]memEntry{}, named: map[string]memEntry{}, big: map[memKey][]byte{}}
}

// idOf returns the 16 bytes that key, 32 lower-case hex digits, stands for.
func idOf(key string) (id [16]byte, ok bool) {
	if len(key) != 32 {
		return id, false
	}
	for i := 0; i < 32; i++ {
		c := key[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return id, false
		}
		id[i/2] |= v << (4 * (1 - i%2))
	}
	return id, true
}

func (m *Memory) getLocked(key string) (memEntry, bool) {
	if id, ok := idOf(key); ok {
		e, found := m.ids[id]
		return e, found
	}
	e, found := m.named[key]
	return e, found
}

func (m *Memory) deleteLocked(key string) {
	if id, ok := idOf(key); ok {
		delete(m.ids, id)
		return
	}
	delete(m.named, key)
}

func (m *Memory) putLocked(key string, e memEntry) {
	if id, ok := idOf(key); ok {
		m.ids[id] = e
		return
	}
	m.named[key] = e
}

// Create stores s under key for ttl.
func (m *Memory) Create(_ context.Context, key string, s Session, ttl time.Duration) error {
	data := Marshal(s)
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(key)
	if e, ok := m.getLocked(key); ok {
		if e.expires > now.UnixNano() {
			return ErrExists
		}
		m.deleteLocked(key)
		m.dropLocked(k, e)
	}
	limit := m.max
	if s.Starts() {
		limit -= Reserve(m.max)
	}
	if len(m.ids)+len(m.named) >= limit {
		// No sweep here: a full store is when logins pour in, and a walk
		// of it under the lock would stall every one of them. Expired
		// sessions leave at the next chunked sweep.
		if now.After(m.nextSweep) && m.sweeping.CompareAndSwap(false, true) {
			m.nextSweep = now.Add(m.sweep)
			go m.sweepExpired()
		}
		return ErrFull
	}
	m.putLocked(key, m.storeLocked(k, data, now.Add(ttl).UnixNano()))
	if now.After(m.nextSweep) && m.sweeping.CompareAndSwap(false, true) {
		m.nextSweep = now.Add(m.sweep)
		go m.sweepExpired()
	}
	return nil
}

// Take returns and removes the session under key.
func (m *Memory) Take(_ context.Context, key string) (Session, error) {
	k := keyOf(key)
	var data []byte
	m.mu.Lock()
	e, ok := m.getLocked(key)
	if ok {
		m.deleteLocked(key)
		data = m.dataLocked(k, e)
		m.dropLocked(k, e)
	}
	m.mu.Unlock()
	if !ok || e.expires <= time.Now().UnixNano() {
		return Session{}, ErrNotFound
	}
	return Unmarshal(data)
}

// Len returns the number of sessions stored (expired ones count until they
// are swept).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids) + len(m.named)
}

// sweepChunk is how many sessions a sweep looks at before it lets requests
// at the store again.
const sweepChunk = 1024

// sweepExpired removes expired sessions, a chunk at a time, so that a sweep
// of a million sessions never holds the store for long.
func (m *Memory) sweepExpired() {
	defer m.sweeping.Store(false)
	var expired [][]byte // told to onExpire once the lock is let go
	tell := m.onExpire.Load()
	m.mu.Lock()
	n := 0
	now := time.Now().UnixNano()
	for id, e := range m.ids {
		if e.expires <= now {
			delete(m.ids, id)
			k := memKey{id: id}
			if tell != nil {
				expired = append(expired, m.dataLocked(k, e))
			}
			m.dropLocked(k, e)
		}
		if n++; n%sweepChunk == 0 {
			m.mu.Unlock()
			m.mu.Lock()
			now = time.Now().UnixNano()
		}
	}
	for key, e := range m.named {
		if e.expires <= now {
			delete(m.named, key)
			k := memKey{name: key}
			if tell != nil {
				expired = append(expired, m.dataLocked(k, e))
			}
			m.dropLocked(k, e)
		}
	}
	m.mu.Unlock()
	for _, data := range expired {
		if s, err := Unmarshal(data); err == nil {
			(*tell)(s)
		}
	}
}

// Each calls f with every session stored and not expired, for an
// operator's listing (a walk over the store: not for the request path).
func (m *Memory) Each(f func(Session)) {
	now := time.Now().UnixNano()
	var datas [][]byte
	m.mu.Lock()
	for id, e := range m.ids {
		if e.expires > now {
			datas = append(datas, m.dataLocked(memKey{id: id}, e))
		}
	}
	for key, e := range m.named {
		if e.expires > now {
			datas = append(datas, m.dataLocked(memKey{name: key}, e))
		}
	}
	m.mu.Unlock()
	for _, d := range datas {
		if s, err := Unmarshal(d); err == nil {
			f(s)
		}
	}
}
