package loadgen

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The pacer starts logins at the rate asked, below and above one a tick,
// hands each to a waiting worker, and counts as lost (never keeps for a
// later burst) those no worker was waiting for. The rate is the timer's:
// it holds however busy the machine, which what the workers take does not.
func TestPacerKeepsTheRate(t *testing.T) {
	for _, tc := range []struct {
		rate    float64
		workers bool
	}{{2_000, true}, {100_000, true}, {5_000, false}} {
		p, err := newPacer(tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		starts := make(chan struct{})
		var workers sync.WaitGroup
		var taken atomic.Int64
		for range 32 * btoi(tc.workers) { // the workers: many waiting, or none
			workers.Go(func() {
				for {
					select {
					case <-starts:
						taken.Add(1)
					case <-ctx.Done():
						return
					}
				}
			})
		}
		var lost int64
		t0 := time.Now()
		due := p.run(ctx, starts, func() { lost++ })
		elapsed := time.Since(t0)
		cancel()
		workers.Wait()
		want := tc.rate * elapsed.Seconds()
		if math.Abs(float64(due)-want) > 0.03*want+2 {
			t.Errorf("rate %v: %d starts fell due in %v, want about %.0f", tc.rate, due, elapsed, want)
		}
		if taken.Load()+lost != due {
			t.Errorf("rate %v: %d taken + %d lost != %d due", tc.rate, taken.Load(), lost, due)
		}
		if !tc.workers && lost != due {
			t.Errorf("rate %v with no worker waiting: %d lost of %d", tc.rate, lost, due)
		}
		// At 100,000 a second, how many the workers take depends on how
		// much CPU they get (other packages' tests run beside this one);
		// at 2,000 a second, waiting workers take nearly all.
		if tc.workers && tc.rate <= 2_000 && lost > due/4 {
			t.Errorf("rate %v: %d of %d lost with a worker always waiting", tc.rate, lost, due)
		}
	}
	if _, err := newPacer(0); err == nil {
		t.Error("a rate of 0 was taken")
	}
}
