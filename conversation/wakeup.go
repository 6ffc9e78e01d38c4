package conversation

import (
	"container/heap"
	"sync"
	"time"
)

// wakeups is the clock of the parked requests: one time.Timer for all of
// them, set for the earliest, over a heap of the requests by when they are
// due. A runtime timer each (time.AfterFunc) cost a held push about a
// hundred bytes more; the heap costs it a slot of a slice.
type wakeups struct {
	mu    sync.Mutex
	queue dueQueue
	timer *time.Timer
	// epoch is the origin of parked.due; next is when timer fires (0:
	// not set).
	epoch time.Time
	next  int64
	// onDue, when set, takes the requests due instead of a goroutine
	// each running parked.fire (for tests).
	onDue func(*parked)
}

// set makes p due after wait (again, if it was already).
func (w *wakeups) set(p *parked, wait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.epoch.IsZero() {
		w.epoch = time.Now()
	}
	p.due = int64(time.Since(w.epoch) + max(wait, 0))
	if p.at >= 0 {
		heap.Fix(&w.queue, int(p.at))
	} else {
		heap.Push(&w.queue, p)
	}
	w.arm()
}

// stop takes p off the clock.
func (w *wakeups) stop(p *parked) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.at >= 0 {
		heap.Remove(&w.queue, int(p.at))
	}
}

// arm sets the timer for the earliest request due (w.mu held).
func (w *wakeups) arm() {
	if len(w.queue) == 0 {
		return // a timer left set fires and finds nothing due
	}
	first := w.queue[0].due
	if w.next != 0 && w.next <= first {
		return // set already, for then or earlier
	}
	w.next = first
	d := time.Duration(first) - time.Since(w.epoch)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
}

// fire polls, each in its own goroutine, the requests that are due, and
// sets the timer for the next.
func (w *wakeups) fire() {
	w.mu.Lock()
	now := int64(time.Since(w.epoch))
	var due []*parked
	for len(w.queue) > 0 && w.queue[0].due <= now {
		due = append(due, heap.Pop(&w.queue).(*parked))
	}
	w.next = 0
	w.arm()
	onDue := w.onDue
	w.mu.Unlock()
	for _, p := range due {
		if onDue != nil {
			onDue(p)
			continue
		}
		go p.fire()
	}
}

// dueQueue is a heap of parked requests by due; parked.at is each one's
// place (-1: not in it).
type dueQueue []*parked

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].at, q[j].at = int32(i), int32(j)
}

func (q *dueQueue) Push(x any) {
	p := x.(*parked)
	p.at = int32(len(*q))
	*q = append(*q, p)
}

func (q *dueQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	p.at = -1
	return p
}
