package session

// slab keeps the bytes of waiting sessions in large chunks, out of the
// garbage collector's sight: a session is a reference (chunk and offset)
// in a pointer-free map entry, so that a million waiting conversations
// are a few hundred chunks for the collector, not a million objects to
// find and mark at every cycle (which cost a tenth of the CPU at a
// million, in make bench's pending sweep).
//
// Slots come in classes of slotUnit bytes; a freed slot goes to its
// class's free list and is reused by the next session of that class.
// Sessions larger than the largest class are not kept here (the store
// keeps them as ordinary byte slices). Chunks are kept once made: the
// slab holds as much as the most sessions it held at once, which
// sessions.max bounds.
//
// It is hand-written: the allocators for Go that keep data off the
// collector's heap (arenas) are experimental or build on cgo; this one is
// a free list per class over chunks mapped apart from the heap where the
// system allows (chunk_unix.go), under the store's lock.
type slab struct {
	chunks [][]byte
	used   int // bytes handed out of the last chunk
	free   [slabClasses][]slabRef
}

// slabRef names a slot: chunk index in the high 32 bits, offset in the
// low. Zero is no slot (the first chunk's first slot is never handed out
// as zero: refs are stored plus one).
type slabRef uint64

const (
	slabChunk   = 1 << 20 // bytes in a chunk
	slotUnit    = 64
	slabClasses = 32 // slots of 64 bytes to 2 KiB
	slabMax     = slotUnit * slabClasses
)

func slabClass(n int) int { return (n + slotUnit - 1) / slotUnit }

// put copies b into a slot and returns its reference, or 0 when b is too
// large for a slot.
func (s *slab) put(b []byte) slabRef {
	c := slabClass(len(b))
	if len(b) == 0 || c > slabClasses {
		return 0
	}
	var ref slabRef
	if f := s.free[c-1]; len(f) > 0 {
		ref = f[len(f)-1]
		s.free[c-1] = f[:len(f)-1]
	} else {
		size := c * slotUnit
		if len(s.chunks) == 0 || s.used+size > slabChunk {
			s.chunks = append(s.chunks, newChunk(slabChunk))
			s.used = 0
		}
		ref = slabRef(uint64(len(s.chunks)-1)<<32|uint64(s.used)) + 1
		s.used += size
	}
	copy(s.slot(ref, len(b)), b)
	return ref
}

// slot is the n bytes at ref.
func (s *slab) slot(ref slabRef, n int) []byte {
	r := uint64(ref - 1)
	off := int(r & 0xffffffff)
	return s.chunks[r>>32][off : off+n : off+n]
}

// get returns a copy of the n bytes at ref.
func (s *slab) get(ref slabRef, n int) []byte {
	return append([]byte(nil), s.slot(ref, n)...)
}

// release returns the slot of n bytes at ref to its class's free list.
func (s *slab) release(ref slabRef, n int) {
	c := slabClass(n)
	s.free[c-1] = append(s.free[c-1], ref)
}
