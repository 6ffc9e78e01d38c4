package transport

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Workers started for a burst do not all stay: past maxIdleWorkers, a
// worker whose job is done ends.
func TestIdleWorkersAreBounded(t *testing.T) {
	s := NewPool()
	release := make(chan struct{})
	var wg sync.WaitGroup
	var held atomic.Int64
	const burst = 4 * maxIdleWorkers
	for i := 0; i < burst; i++ {
		wg.Add(1)
		s.Run(func() { defer wg.Done(); held.Add(1); <-release })
	}
	// Every job holds its worker until release: all of them running at
	// once means a worker each.
	deadline := time.Now().Add(5 * time.Second)
	for held.Load() < burst && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := held.Load(); n != burst {
		t.Fatalf("%d of %d jobs running at once", n, burst)
	}
	if n := s.workers.Load(); n != burst {
		t.Fatalf("%d workers for %d jobs held at once", n, burst)
	}
	close(release)
	wg.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for s.workers.Load() > maxIdleWorkers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.workers.Load(); n > maxIdleWorkers {
		t.Fatalf("%d workers left, want at most %d", n, maxIdleWorkers)
	}
	if n := s.idle.Load(); n > maxIdleWorkers {
		t.Fatalf("idle count %d, want at most %d", n, maxIdleWorkers)
	}
	// The idle ones still take work.
	done := make(chan struct{})
	s.Run(func() { close(done) })
	<-done
}
