package bridge

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Workers started for a burst do not all stay: past maxIdleWorkers, a
// worker whose job is done ends.
func TestIdleWorkersAreBounded(t *testing.T) {
	s := &Server{jobs: make(chan func())}
	before := runtime.NumGoroutine()
	release := make(chan struct{})
	var wg sync.WaitGroup
	const burst = 4 * maxIdleWorkers
	for i := 0; i < burst; i++ {
		wg.Add(1)
		s.run(func() { defer wg.Done(); <-release })
	}
	if n := runtime.NumGoroutine() - before; n < burst {
		t.Fatalf("%d workers for %d jobs held at once", n, burst)
	}
	close(release)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-before > maxIdleWorkers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine() - before; n > maxIdleWorkers {
		t.Fatalf("%d workers left idle, want at most %d", n, maxIdleWorkers)
	}
	// The idle ones still take work.
	done := make(chan struct{})
	s.run(func() { close(done) })
	<-done
}
