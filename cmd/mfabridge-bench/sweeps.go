package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
)

// sweepRow is one point of a sweep: the throughput with n of something
// (NAS entries, pending conversations).
type sweepRow struct {
	n int
	m measured
	// rss is the server's RSS growth at the point, for the pending sweep.
	rss int64
}

// nasCounts and pendingCounts are the points of the sweeps.
var (
	nasCounts     = []int{1, 100, 1000, 10000}
	pendingCounts = []int{1000, 100000, 1000000}
)

// nasSweep measures PAP Access-Requests per CPU-second of servers with
// more and more [[client]] entries (the bench's own among them).
func nasSweep(ctx context.Context, dur time.Duration, workers int) ([]sweepRow, error) {
	var out []sweepRow
	for _, n := range nasCounts {
		c, err := startChild(fmt.Sprintf("nas-%d", n), "-mode", "inproc", "-clients", strconv.Itoa(n))
		if err != nil {
			return out, err
		}
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: workers, Duration: dur, WithMA: true})
		c.stop()
		if err != nil {
			return out, err
		}
		out = append(out, sweepRow{n: n, m: m})
	}
	return out, nil
}

// pendingSweep measures complete MFA logins per CPU-second of one server
// while more and more conversations wait at a challenge (each holding a
// real CyberArk login's transaction), filled between the points.
func pendingSweep(ctx context.Context, dur time.Duration, workers int) ([]sweepRow, error) {
	c, err := startChild("pending", "-mode", "inproc-mfa", "-txn", "1")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	c.gc()
	start := c.stats()
	var (
		out    []sweepRow
		filled int
	)
	for _, n := range pendingCounts {
		if _, err := loadgen.Run(ctx, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, OnlyStart: true, Workers: workers, Count: int64(n - filled), Duration: 10 * time.Minute, Users: 1 << 30, WithMA: true}); err != nil {
			return out, err
		}
		filled = n
		// The filling requests' replies leave the reply cache first.
		time.Sleep(11 * time.Second)
		c.gc()
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: workers, Duration: dur, WithMA: true})
		if err != nil {
			return out, err
		}
		s := c.stats()
		out = append(out, sweepRow{n: int(s["sessions"]), m: m, rss: s["rss"] - start["rss"]})
	}
	return out, nil
}

// flatness is the smallest throughput of a sweep against its first
// point's.
func flatness(rows []sweepRow) float64 {
	if len(rows) == 0 || rows[0].m.PerCPUSecond() == 0 {
		return 0
	}
	worst := 1.0
	for _, r := range rows[1:] {
		worst = min(worst, r.m.PerCPUSecond()/rows[0].m.PerCPUSecond())
	}
	return worst
}

func (r *report) sweepSection(p func(string, ...any)) {
	if len(r.nasSweep) == 0 && len(r.pendingSweep) == 0 {
		return
	}
	p("## Work that does not grow with the estate")
	p("")
	if len(r.nasSweep) > 0 {
		p("PAP Access-Requests (in-memory provider, %d clients, %v each) against servers with more `[[client]]` entries: the bench's own (127.0.0.0/8) and the rest half single addresses, half /24 prefixes. A datagram's NAS is found by an exact-address map, then one map per prefix length in use.", r.workers, r.sweepDuration)
		p("")
		p("| `[[client]]` entries | Requests/s | Requests per CPU-second | Against 1 entry |")
		p("|---|---|---|---|")
		for _, row := range r.nasSweep {
			p("| %d | %.0f | %.0f | %.2f× |", row.n, row.m.PacketsPerSecond(), row.m.PerCPUSecond(), row.m.PerCPUSecond()/r.nasSweep[0].m.PerCPUSecond())
		}
		p("")
	}
	if len(r.pendingSweep) > 0 {
		p("Complete MFA logins (in-memory provider, %d clients, %v each) on one server while more and more conversations wait at a code prompt, each holding a real CyberArk login's transaction (filled between the points; measured after the filling replies left the reply cache and a GC).", r.workers, r.sweepDuration)
		p("")
		p("| Pending conversations | Logins/s | Requests per CPU-second | Against the first | RSS growth | RSS per pending conversation |")
		p("|---|---|---|---|---|---|")
		for _, row := range r.pendingSweep {
			p("| %d | %.0f | %.0f | %.2f× | %.1f MiB | %.0f B |", row.n, row.m.LoginsPerSecond(), row.m.PerCPUSecond(), row.m.PerCPUSecond()/r.pendingSweep[0].m.PerCPUSecond(), float64(row.rss)/(1<<20), float64(row.rss)/float64(max(row.n, 1)))
		}
		p("")
	}
}

// littleRow is one point of the latency sweep: complete logins with the
// tenant at +latency a call and clients logging in at once.
type littleRow struct {
	latency time.Duration
	clients int
	m       measured
}

// ideal is Little's law's login rate: every client always waiting on one
// of a login's four tenant calls.
func (r littleRow) ideal() float64 { return float64(r.clients) / (4 * r.latency.Seconds()) }

// latencySweep measures complete MFA logins against the emulated tenant
// over HTTPS (HTTP/2, the provider's max_connections 64) at +100 ms and
// +300 ms a call, with more and more clients in a closed loop.
func latencySweep(ctx context.Context, dur time.Duration) ([]littleRow, error) {
	var out []littleRow
	for _, lat := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		tn, args, err := tenantOf(5000, false, lat)
		if err != nil {
			return out, err
		}
		for _, clients := range []int{64, 256, 1024, 2048} {
			c, err := startChild(fmt.Sprintf("little-%v-%d", lat, clients), append(args, "-max-connections", "64")...)
			if err != nil {
				tn.Close()
				return out, err
			}
			// Each client its own users: two logins of one user with one
			// password from one NAS at once would be one login to
			// mfabridge (a NAS repeating itself).
			m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: clients, Users: 5000, Duration: dur, Warmup: 2 * time.Second, WithMA: true, Timeout: 30 * time.Second})
			c.stop()
			if err != nil {
				tn.Close()
				return out, err
			}
			out = append(out, littleRow{latency: lat, clients: clients, m: m})
		}
		tn.Close()
	}
	return out, nil
}

func (r *report) littleSection(p func(string, ...any)) {
	if len(r.little) == 0 {
		return
	}
	p("## Throughput against the tenant's latency")
	p("")
	p("Complete logins (password, challenge, code: four calls to the tenant) against the emulated CyberArk tenant over HTTPS (HTTP/2; the provider's `max_connections = 64`) at +100 ms and +300 ms a call, with a closed loop of clients, each logging in again as soon as its login ends. Little's law gives the most a tenant's latency allows: clients / (4 × latency) logins a second. Each point runs %v after a 2 s warm-up.", r.sweepDuration*2)
	p("")
	p("| Tenant latency | Clients | Logins/s | Little's law | Against it | Server CPU | Request p99 | Lost |")
	p("|---|---|---|---|---|---|---|---|")
	for _, row := range r.little {
		p("| +%v | %d | %.0f | %.0f | %.2f | %.0f%% | %s | %d |", row.latency, row.clients, row.m.LoginsPerSecond(), row.ideal(), row.m.LoginsPerSecond()/row.ideal(), 100*row.m.CPU.Seconds()/row.m.Elapsed.Seconds(), ms(row.m.Quantile("request", .99)), row.m.Timeouts+row.m.Failures)
	}
	p("")
}
