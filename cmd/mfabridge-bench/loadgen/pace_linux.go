//go:build linux

package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// minTick is the pacer's finest tick: above 20,000 logins a second, a tick
// starts more than one.
const minTick = 50 * time.Microsecond

// pacer starts logins at a steady rate for an open-loop run.
//
// It keeps time with a timerfd rather than Go's timers: a Go process with
// nothing to run sleeps in the network poller for whole milliseconds, so a
// timer due in 50 µs fires after a millisecond or more, and every login due
// in that millisecond would leave in one burst. A burst queues in the
// server's socket and shows up as the server's latency. The timerfd is
// an event the poller wakes for when it expires.
type pacer struct {
	f    *os.File
	io   *rawIO
	tick time.Duration
	// perTick is how many logins are due each tick (fractions carry over).
	perTick float64
}

func newPacer(rate float64) (*pacer, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("pacer: rate %v: must be above 0", rate)
	}
	tick := max(time.Duration(float64(time.Second)/rate), minTick)
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("pacer: timerfd: %w", err)
	}
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(tick)), Value: unix.NsecToTimespec(int64(tick))}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("pacer: timerfd: %w", err)
	}
	// A non-blocking descriptor becomes a File the runtime's poller waits on.
	f := os.NewFile(uintptr(fd), "pacer")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("pacer: %w", err)
	}
	return &pacer{f: f, io: newRawIO(rc), tick: tick, perTick: rate * tick.Seconds()}, nil
}

// run hands a start to a waiting worker on starts as each one falls due,
// until ctx ends. A start that finds no worker waiting (all are in a login)
// is not kept for later, which would send a burst when they return: lost
// is called for it. run returns how many starts fell due.
func (p *pacer) run(ctx context.Context, starts chan<- struct{}, lost func()) (due int64) {
	stop := context.AfterFunc(ctx, func() { _ = p.f.Close() })
	defer stop()
	defer func() { _ = p.f.Close() }()
	var buf [8]byte
	acc := 0.0
	for {
		if _, err := p.io.read(buf[:]); err != nil {
			return due
		}
		// The count of expirations since the last read: a tick the
		// generator was too busy to see still falls due.
		acc += float64(binary.NativeEndian.Uint64(buf[:])) * p.perTick
		for ; acc >= 1; acc-- {
			due++
			select {
			case starts <- struct{}{}:
			default:
				lost()
			}
		}
	}
}
