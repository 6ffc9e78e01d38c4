//go:build !(linux || darwin || freebsd)

package session

// newChunk returns a chunk of the slab from Go's heap (a pointer-free
// allocation the collector does not scan).
func newChunk(n int) []byte { return make([]byte, n) }
