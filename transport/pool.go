package transport

import (
	"sync/atomic"
	"time"
)

// Pool runs jobs on workers (see Run).
type Pool struct {
	jobs    chan func() // unbuffered: hands a job to an idle worker
	idle    atomic.Int64
	workers atomic.Int64
}

// NewPool returns a pool without workers yet.
func NewPool() *Pool { return &Pool{jobs: make(chan func())} }

// workerIdle is how long a worker waits for the next request before it
// ends.
const workerIdle = 10 * time.Second

// Run hands f to an idle worker, or starts one. Workers outlive their
// request for a while: a new goroutine per request would grow a fresh stack
// through the provider's HTTP client every time. Their number follows
// max_in_flight (busy) and falls back when the load does.
func (p *Pool) Run(f func()) {
	select {
	case p.jobs <- f:
	default:
		go p.worker(f)
	}
}

// Workers is how many workers there are, busy or idle.
func (p *Pool) Workers() int64 { return p.workers.Load() }

// Idle is how many workers wait for a request.
func (p *Pool) Idle() int64 { return p.idle.Load() }

// maxIdleWorkers bounds the workers kept waiting: a burst (or a slow
// tenant) may need many at once, the steady flow after it a few.
const maxIdleWorkers = 64

func (p *Pool) worker(f func()) {
	p.workers.Add(1)
	defer p.workers.Add(-1)
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		if p.idle.Add(1) > maxIdleWorkers {
			p.idle.Add(-1)
			return
		}
		t.Reset(workerIdle)
		select {
		case f = <-p.jobs:
			p.idle.Add(-1)
		case <-t.C:
			p.idle.Add(-1)
			return
		}
	}
}
