package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/pprof/profile"
)

// A cost is one part of the server's CPU in a profiled run.
type cost struct {
	name    string
	seconds float64
}

// The parts a login over HTTP spends its CPU on, in the order reported.
const (
	partBridge   = "mfabridge's bridge: RADIUS packets, Message-Authenticator, sessions, reply cache, outcome log"
	partProvider = "the CyberArk provider's own code: requests, cookies, the transaction, contexts"
	partJSON     = "JSON: tenant answers decoded, requests encoded"
	partHTTP     = "Go's HTTP client (net/http): connection pool, request and response, its two goroutines per connection"
	partTCP      = "system calls: loopback TCP to the tenant (net/http's reads and writes)"
	partUDP      = "system calls: RADIUS over UDP"
	partRuntime  = "the Go runtime: scheduler, network poller, garbage collector"
	partHarness  = "the bench's own debug pages"
)

var partOrder = []string{partBridge, partProvider, partJSON, partHTTP, partTCP, partUDP, partRuntime, partHarness}

// The parts of the Redis row's CPU (complete logins with the in-process
// provider), in the order reported.
const (
	partRedisSys    = "system calls on the connections to Redis: writes (on loopback a write also runs Redis's side of TCP) and reads"
	partRedisClient = "rueidis: commands built and queued, its pipeline's writer and reader goroutines, replies parsed"
	partOwn         = "mfabridge's own code: RADIUS packets, the conversation, the in-process provider, the stores (a map, or Redis keys and commands), the outcome log"
)

var redisPartOrder = []string{partOwn, partRedisClient, partRedisSys, partUDP, partRuntime, partHarness}

// breakdown reads a CPU profile and puts each sample's time in one part:
// a system call by who made it, anything else by the innermost function
// of a known package (an allocation made by net/http counts as net/http's,
// a context made by the provider as the provider's); samples in no known
// package are the runtime's own (GC workers, the scheduler).
func breakdown(path string) ([]cost, error) {
	return breakdownBy(path, classify, partOrder)
}

// redisBreakdown is breakdown for the Redis row's runs.
func redisBreakdown(path string) ([]cost, error) {
	return breakdownBy(path, classifyRedis, redisPartOrder)
}

// breakdownBy puts each sample of the CPU profile at path in the part
// classify names, and returns the parts in order.
func breakdownBy(path string, classify func([]string) string, order []string) ([]cost, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cpu := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, fmt.Errorf("%s: not a CPU profile", path)
	}
	sums := map[string]float64{}
	for _, s := range p.Sample {
		var frames []string // innermost first
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function != nil {
					frames = append(frames, line.Function.Name)
				}
			}
		}
		sums[classify(frames)] += float64(s.Value[cpu]) / 1e9
	}
	out := make([]cost, 0, len(order))
	for _, name := range order {
		out = append(out, cost{name, sums[name]})
	}
	return out, nil
}

// classify names the part a stack (innermost frame first) belongs to.
func classify(frames []string) string {
	has := func(prefixes ...string) bool {
		for _, f := range frames {
			for _, p := range prefixes {
				if strings.HasPrefix(f, p) {
					return true
				}
			}
		}
		return false
	}
	if has("net/http.(*conn).serve", "net/http.(*Server)") {
		return partHarness
	}
	if len(frames) > 0 && isSyscall(frames[0]) {
		switch {
		case has("net/http.", "crypto/tls."):
			return partTCP
		case has("github.com/mfabridge/mfabridge/bridge."):
			return partUDP
		}
		return partRuntime // epoll, futex, signals
	}
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "github.com/go-json-experiment/json"), strings.HasPrefix(f, "encoding/json."):
			return partJSON
		case strings.HasPrefix(f, "net/http."), strings.HasPrefix(f, "net/textproto."), strings.HasPrefix(f, "crypto/tls."), strings.HasPrefix(f, "vendor/golang.org/x/net/http"):
			return partHTTP
		case strings.HasPrefix(f, "github.com/mfabridge/mfabridge/identity/"), strings.HasPrefix(f, "github.com/mfabridge/mfabridge/internal/upstream."):
			return partProvider
		case strings.HasPrefix(f, "github.com/mfabridge/mfabridge/"), strings.HasPrefix(f, "layeh.com/radius"), strings.HasPrefix(f, "github.com/sirupsen/logrus"):
			return partBridge
		}
	}
	return partRuntime
}

// classifyRedis names the part of the Redis row a stack belongs to: a
// system call by who made it, anything else by the innermost function of
// rueidis or of mfabridge (with layeh.com/radius and logrus).
func classifyRedis(frames []string) string {
	has := func(prefix string) bool {
		for _, f := range frames {
			if strings.HasPrefix(f, prefix) {
				return true
			}
		}
		return false
	}
	if has("net/http.(*conn).serve") || has("net/http.(*Server)") {
		return partHarness
	}
	if len(frames) > 0 && isSyscall(frames[0]) {
		switch {
		case has("github.com/redis/rueidis"):
			return partRedisSys
		case has("github.com/mfabridge/mfabridge/transport."), has("github.com/mfabridge/mfabridge/bridge."):
			return partUDP
		}
		return partRuntime
	}
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "github.com/redis/rueidis"):
			return partRedisClient
		case strings.HasPrefix(f, "github.com/mfabridge/mfabridge/"), strings.HasPrefix(f, "layeh.com/radius"), strings.HasPrefix(f, "github.com/sirupsen/logrus"):
			return partOwn
		}
	}
	return partRuntime
}

func isSyscall(fn string) bool {
	return strings.HasPrefix(fn, "internal/runtime/syscall/") || strings.HasPrefix(fn, "syscall.") || fn == "runtime/internal/syscall.Syscall6"
}

// perLogin returns each part's microseconds per login of m, sharing m's
// CPU time out as the profile shares its samples.
func perLogin(parts []cost, m measured) (us []float64, total float64) {
	var sum float64
	for _, c := range parts {
		sum += c.seconds
	}
	if sum == 0 || m.Logins == 0 {
		return nil, 0
	}
	total = m.CPU.Seconds() / float64(m.Logins) * 1e6
	for _, c := range parts {
		us = append(us, c.seconds/sum*total)
	}
	return us, total
}

// costSection writes where a login over HTTP spends mfabridge's CPU, and
// what the HTTP target leaves for it.
func (r *report) costSection(p func(string, ...any)) {
	us, total := perLogin(r.httpBreakdown, r.mfaHTTP)
	if us == nil {
		return
	}
	p("## Where a login over HTTP spends its CPU")
	p("")
	p("The CPU profile of the run over HTTP above, each sample put in one part: a system call by who made it, anything else by the innermost function of a known package (an allocation made by net/http counts as net/http's). Microseconds are the server's measured CPU per complete login (two Access-Requests, four calls to the tenant) shared out as the samples are.")
	p("")
	p("| Part | Share | µs per login |")
	p("|---|---|---|")
	var own, rest float64
	for i, c := range r.httpBreakdown {
		if us[i] < 0.05 {
			continue
		}
		p("| %s | %.1f%% | %.1f |", c.name, 100*us[i]/total, us[i])
		if c.name == partProvider || c.name == partJSON {
			own += us[i]
		} else {
			rest += us[i]
		}
	}
	p("| all | 100%% | %.1f |", total)
	p("")
	if r.restFR.Logins > 0 {
		fr := 1e6 * r.restFR.CPU.Seconds() / float64(r.restFR.Logins)
		p("FreeRADIUS + rlm_rest spends %.0f µs of CPU on a login with the same four calls (above). Without the provider's own code and JSON, the rest of a login costs mfabridge %.1f µs here (%.1f µs with them); the provider's share is where mfabridge decodes answers that rlm_rest's configuration only searches with regular expressions.", fr, rest, own+rest)
		p("")
	}
}
