package daemon

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/identity"
)

// ProbeResult is what a provider's probe found.
type ProbeResult struct {
	Provider string
	Err      error // nil: the tenant answered and took the credentials
	Took     time.Duration
	Skipped  bool // the provider cannot be probed
}

// ProbeProviders probes every provider at once, each within timeout, and
// returns the results by name, in name order.
func ProbeProviders(ctx context.Context, providers map[string]identity.Provider, timeout time.Duration) []ProbeResult {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]ProbeResult, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		out[i].Provider = n
		pr, ok := providers[n].(identity.Prober)
		if !ok {
			out[i].Skipped = true
			continue
		}
		wg.Add(1)
		go func(r *ProbeResult) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			began := time.Now()
			r.Err = pr.Probe(pctx)
			r.Took = time.Since(began)
		}(&out[i])
	}
	wg.Wait()
	return out
}

// probeInterval is how often a running server probes its providers.
const probeInterval = 30 * time.Second

// probeLoop probes the providers in force at start and then every
// probeInterval, tells the metrics (readiness and a gauge per provider),
// and logs a provider that stops or starts answering.
func probeLoop(ctx context.Context, providers func() map[string]identity.Provider, record func([]ProbeResult), log logrus.FieldLogger) {
	last := map[string]bool{}
	for first := true; ; first = false {
		results := ProbeProviders(ctx, providers(), 10*time.Second)
		if ctx.Err() != nil {
			return
		}
		record(results)
		for _, r := range results {
			if r.Skipped {
				continue
			}
			up := r.Err == nil
			was, seen := last[r.Provider]
			last[r.Provider] = up
			l := log.WithField("provider", r.Provider).WithField("took", r.Took.Round(time.Millisecond))
			switch {
			case !up && (first || !seen || was):
				l.WithError(r.Err).Warn("identity provider not reachable, or it refused mfabridge's credentials: logins through it fail until it answers (see mfabridge doctor)")
			case up && first:
				l.Info("identity provider reachable")
			case up && seen && !was:
				l.Info("identity provider reachable again")
			}
		}
		t := time.NewTimer(probeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
