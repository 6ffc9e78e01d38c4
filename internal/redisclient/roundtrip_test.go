package redisclient_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/internal/redistest"
)

// cpuTime is the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoundTrip measures the client's CPU per round trip (two
// commands, as a request's round trips carry) with so many callers
// waiting on Redis at once: the client's cost is mostly per write to
// Redis, so it falls as more round trips share a write. cpu-ns/op is
// this process's CPU (the client, and on loopback the kernel's TCP work
// for Redis's side too); redis-server's own is not counted. Run it as the
// bench runs mfabridge, on one Go processor:
//
//	go test -run - -bench RoundTrip -cpu 1 ./internal/redisclient/
func BenchmarkRoundTrip(b *testing.B) {
	s := redistest.Start(b)
	for _, callers := range []int{1, 2, 8, 32, 128} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := pipelined(b, s, time.Second)
			ctx := context.Background()
			per := b.N/callers + 1
			b.ResetTimer()
			began := cpuTime()
			var wg sync.WaitGroup
			for i := range callers {
				key := redistest.Prefix() + strconv.Itoa(i)
				wg.Go(func() {
					for range per {
						for _, r := range c.DoMulti(ctx, c.B().Set().Key(key).Value("an answer of some forty bytes, as a reply").Build(), c.B().Sismember().Key(key+":from").Member("127.0.0.1:1812").Build()) {
							if err := r.Error(); err != nil {
								b.Error(err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(cpuTime()-began)/float64(per*callers), "cpu-ns/op")
		})
	}
}
