//go:build !linux

package loadgen

import (
	"context"
	"fmt"
	"time"
)

// minTick is the pacer's finest tick.
const minTick = 50 * time.Microsecond

// pacer starts logins at a steady rate for an open-loop run. Without
// Linux's timerfd (see pace_linux.go) it keeps time with a Go ticker,
// whose ticks arrive late when the process sleeps in the network poller:
// the benchmark is measured on Linux, and this keeps it working elsewhere.
type pacer struct {
	tick    time.Duration
	perTick float64
}

func newPacer(rate float64) (*pacer, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("pacer: rate %v: must be above 0", rate)
	}
	tick := max(time.Duration(float64(time.Second)/rate), minTick)
	return &pacer{tick: tick, perTick: rate * tick.Seconds()}, nil
}

// run hands a start to a waiting worker on starts as each one falls due,
// until ctx ends; a start that finds no worker waiting is lost. It returns
// how many starts fell due.
func (p *pacer) run(ctx context.Context, starts chan<- struct{}, lost func()) (due int64) {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	last := time.Now()
	acc := 0.0
	for {
		select {
		case <-ctx.Done():
			return due
		case now := <-t.C:
			// Ticks missed while the process slept still fall due.
			acc += float64(now.Sub(last)) / float64(p.tick) * p.perTick
			last = now
		}
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
