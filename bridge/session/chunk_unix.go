//go:build linux || darwin || freebsd

package session

import "syscall"

// newChunk returns a chunk of the slab from memory mapped apart from Go's
// heap. The collector neither scans nor counts it: a million sessions do
// not raise the heap goal by their size (with GOGC, the heap may grow by
// as much as is live before a collection, and allocations would then
// stream through fresh memory instead of reusing what is warm in the
// cache). Chunks are never unmapped: the slab keeps what it made.
func newChunk(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}
