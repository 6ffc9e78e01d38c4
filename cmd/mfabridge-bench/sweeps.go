package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

// sweepRow is one point of a sweep: the throughput with n of something
// (NAS entries, pending conversations).
type sweepRow struct {
	n int
	m measured
}

// nasCounts and pendingCounts are the points of the sweeps.
var (
	nasCounts     = []int{1, 100, 1000, 10000}
	pendingCounts = []int{1000, 100000, 1000000}
)

// nasSweep measures PAP Access-Requests per CPU-second of servers with
// more and more [[client]] entries (the bench's own among them). Each
// point is run twice, the points in one order and then in the other, and
// keeps its better run: the machine drifts by some 10% over minutes, and
// one pass in one order would read a drift as a trend.
func nasSweep(ctx context.Context, dur time.Duration, workers int) ([]sweepRow, error) {
	best := map[int]measured{}
	order := append([]int(nil), nasCounts...)
	for pass := 0; pass < 2; pass++ {
		for _, n := range order {
			c, err := startChild(fmt.Sprintf("nas-%d", n), "-mode", "inproc", "-clients", strconv.Itoa(n))
			if err != nil {
				return nil, err
			}
			m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: workers, Duration: dur, WithMA: true})
			c.stop()
			if err != nil {
				return nil, err
			}
			if best[n].Packets == 0 || m.PerCPUSecond() > best[n].PerCPUSecond() {
				best[n] = m
			}
		}
		slices.Reverse(order)
	}
	var out []sweepRow
	for _, n := range nasCounts {
		out = append(out, sweepRow{n: n, m: best[n]})
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
		// Twice, keeping the better run (the machine drifts).
		var m measured
		if dir := os.Getenv("MFABRIDGE_BENCH_PENDING_PROFILES"); dir != "" {
			// A CPU profile of part of the first run, to see what a full
			// store costs.
			go c.saveProfile("profile?seconds=3", filepath.Join(dir, fmt.Sprintf("pending-%d.pprof", n)))
		}
		for range 2 {
			run, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: workers, Duration: dur, WithMA: true})
			if err != nil {
				return out, err
			}
			if m.Packets == 0 || run.PerCPUSecond() > m.PerCPUSecond() {
				m = run
			}
		}
		out = append(out, sweepRow{n: int(c.stats()["sessions"]), m: m})
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
		p("PAP Access-Requests (in-memory provider, %d clients, %v each) against servers with more `[[client]]` entries: the bench's own (127.0.0.0/8) and the rest half single addresses, half /24 prefixes. A datagram's NAS is found by an exact-address map, then one map per prefix length in use. Each point ran twice (the points in one order, then in the other) and shows its better run.", r.workers, r.sweepDuration)
		p("")
		p("| `[[client]]` entries | Requests/s | Requests per CPU-second | Against 1 entry |")
		p("|---|---|---|---|")
		for _, row := range r.nasSweep {
			p("| %d | %.0f | %.0f | %.2f× |", row.n, row.m.PacketsPerSecond(), row.m.PerCPUSecond(), row.m.PerCPUSecond()/r.nasSweep[0].m.PerCPUSecond())
		}
		p("")
	}
	if len(r.pendingSweep) > 0 {
		p("Complete MFA logins (in-memory provider, %d clients, %v each) on one server while more and more conversations wait at a code prompt, each holding a real CyberArk login's transaction (filled between the points; measured after the filling replies left the reply cache and a GC; each point twice, its better run shown).", r.workers, r.sweepDuration)
		p("")
		p("| Pending conversations | Logins/s | Requests per CPU-second | Against the first |")
		p("|---|---|---|---|")
		for _, row := range r.pendingSweep {
			p("| %d | %.0f | %.0f | %.2f× |", row.n, row.m.LoginsPerSecond(), row.m.PerCPUSecond(), row.m.PerCPUSecond()/r.pendingSweep[0].m.PerCPUSecond())
		}
		p("")
		p("(Memory per pending conversation is measured apart, under Memory.)")
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
		tn, args, err := tenantOf(5000, false, lat, cyberarktest.Options{})
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

// redisRow is complete MFA logins with one session store.
type redisRow struct {
	store string
	m     measured
	parts []cost // of the CPU profile of m's run
}

// redisPasses is how many times each store runs in redisBeside.
const redisPasses = 3

// redisBeside measures complete MFA logins (in-memory provider) with the
// conversations in memory and on Redis (redis-server on the load
// generator's core; its own CPU is not counted). As in the sweeps, the
// stores run in turn, in one order and then the other, and each keeps its
// best run: over the seconds of a pass the machine's speed varies by as
// much as the difference measured (one pair of runs read 0.48-0.64× for
// the same code).
func redisBeside(ctx context.Context, dur time.Duration, workers int) ([]redisRow, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (apt-get install redis-server): %w", err)
	}
	port := freePort()
	rs := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := rs.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = rs.Process.Kill(); _ = rs.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	profiles, err := os.MkdirTemp("", "mfabridge-bench-redis")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profiles)
	stores := []string{"memory", "redis"}
	best := map[string]measured{}
	bestProfile := map[string]string{}
	order := slices.Clone(stores)
	for pass := range redisPasses {
		for _, store := range order {
			prof := filepath.Join(profiles, fmt.Sprintf("%s-%d.pprof", store, pass))
			m, err := redisRun(ctx, store, addr, dur, workers, prof, pass == 0)
			if err != nil {
				return nil, err
			}
			if best[store].Packets == 0 || m.PerCPUSecond() > best[store].PerCPUSecond() {
				best[store], bestProfile[store] = m, prof
			}
		}
		slices.Reverse(order)
	}
	if os.Getenv("MFABRIDGE_BENCH_REDIS_STATS") != "" {
		// The commands Redis served, to count them per request.
		b, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "info", "commandstats").Output()
		fmt.Fprintf(os.Stderr, "%s\n", b)
	}
	var out []redisRow
	for _, store := range stores {
		row := redisRow{store: store, m: best[store]}
		if parts, err := redisBreakdown(bestProfile[store]); err == nil {
			row.parts = parts
		}
		if dir := os.Getenv("MFABRIDGE_BENCH_REDIS_PROFILES"); dir != "" {
			if b, err := os.ReadFile(bestProfile[store]); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "redis-"+store+".pprof"), b, 0o644)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// redisRun is one run of redisBeside with one store, its CPU profile
// written to prof; profiled (with MFABRIDGE_BENCH_REDIS_PROFILES set), the
// allocations from the server's start are saved there too.
func redisRun(ctx context.Context, store, addr string, dur time.Duration, workers int, prof string, profiled bool) (measured, error) {
	args := []string{"-mode", "inproc-mfa", "-cpuprofile", prof}
	if store == "redis" {
		args = append(args, "-redis", addr)
	}
	c, err := startChild("store-"+store, args...)
	if err != nil {
		return measured{}, err
	}
	defer c.stop() // the CPU profile is written as the server stops
	m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: workers, Duration: dur, WithMA: true})
	if dir := os.Getenv("MFABRIDGE_BENCH_REDIS_PROFILES"); profiled && dir != "" {
		c.saveProfile("allocs", filepath.Join(dir, "redis-"+store+"-allocs.pb.gz"))
	}
	return m, err
}

func (r *report) redisSection(p func(string, ...any)) {
	if len(r.redis) < 2 {
		return
	}
	p("## Redis beside memory")
	p("")
	p("Complete MFA logins (in-memory provider, %d clients, %v each) with `sessions.store = \"memory\"` and `\"redis\"` (redis-server 7 on the load generator's core; `share_replies` on, its default: conversations, failed-login counts and the reply cache on Redis), in turn, %d runs each (in one order, then the other) and each store's best run shown. CPU is mfabridge's own.", r.workers, r.sweepDuration, redisPasses)
	p("")
	p("| Store | Logins/s | Requests per CPU-second | Against memory | p50 | p99 | Lost |")
	p("|---|---|---|---|---|---|---|")
	for _, row := range r.redis {
		p("| %s | %.0f | %.0f | %.2f× | %s | %s | %d |", row.store, row.m.LoginsPerSecond(), row.m.PerCPUSecond(), row.m.PerCPUSecond()/r.redis[0].m.PerCPUSecond(), ms(row.m.Quantile("request", .5)), ms(row.m.Quantile("request", .99)), row.m.Timeouts+row.m.Failures)
	}
	p("")
	mem, mTotal := perLogin(r.redis[0].parts, r.redis[0].m)
	red, rTotal := perLogin(r.redis[1].parts, r.redis[1].m)
	if mem == nil || red == nil {
		return
	}
	p("Where each store's CPU goes: the CPU profile of the run shown, each sample put in one part (a system call by who made it, anything else by the innermost function of rueidis or of mfabridge), and the server's measured CPU per complete login (two Access-Requests) shared out as the samples are.")
	p("")
	p("| Part | memory, µs per login | redis, µs per login | added by Redis |")
	p("|---|---|---|---|")
	for i, c := range r.redis[0].parts {
		if mem[i] < 0.05 && red[i] < 0.05 {
			continue
		}
		p("| %s | %.1f | %.1f | %+.1f |", c.name, mem[i], red[i], red[i]-mem[i])
	}
	p("| all | %.1f | %.1f | %+.1f |", mTotal, rTotal, rTotal-mTotal)
	p("")
}

// startFreeRADIUSRest runs FreeRADIUS 3 with rlm_rest doing a CyberArk
// login against the emulated tenant at tenantURL (its certificate in
// caFile), with the calls mfabridge makes for the same login: on the
// first Access-Request StartAuthentication and the password
// (AdvanceAuthentication), then StartOOB for the code's mechanism (the
// tenant offers OATH as StartTextOob), answered with an Access-Challenge whose State
// carries the tenant's session and the code's mechanism (the last
// MechanismId of StartAuthentication's answer: the users have a password
// and an OATH code); on the second
// the code (AdvanceAuthentication), Access-Accept when the tenant says
// LoginSuccess. rlm_rest decodes no CyberArk JSON: the bodies are read
// with regular expressions (force_to = plain), which is less work than
// mfabridge's decoding, not more.
func startFreeRADIUSRest(port int, tenantURL, caFile string) (*freeRADIUS, error) {
	if _, err := os.Stat("/usr/lib/freeradius/rlm_rest.so"); err != nil {
		return nil, fmt.Errorf("rlm_rest is not installed (apt-get install freeradius-rest): %w", err)
	}
	mod := func(name, data string) string {
		return fmt.Sprintf(`rest %s {
	tls {
		ca_info_file = %q
		check_cert = yes
		check_cert_cn = no
	}
	connect_uri = %q
	connect_timeout = 4.0
	authorize {
		uri = "${..connect_uri}/Security/%%{Tmp-String-3}"
		method = 'post'
		body = 'json'
		data = '%s'
		force_to = 'plain'
		tls = ${..tls}
	}
	pool {
		start = 0
		min = 0
		max = 256
		spare = 64
		uses = 0
		retry_delay = 1
		lifetime = 0
		idle_timeout = 60
	}
}
`, name, caFile, tenantURL, data)
	}
	mods := map[string]string{
		"rest_start":  mod("rest_start", `{"User":"%{User-Name}","Version":"1.0"}`),
		"rest_oob":    mod("rest_oob", `{"Action":"StartOOB","MechanismId":"%{Tmp-String-2}","SessionId":"%{Tmp-String-0}","TenantId":"ABC1234"}`),
		"rest_answer": mod("rest_answer", `{"Action":"Answer","Answer":"%{User-Password}","MechanismId":"%{Tmp-String-1}","PersistentLogin":false,"SessionId":"%{Tmp-String-0}","TenantId":"ABC1234"}`),
	}
	authorize := `  if (!&State) {
   update request {
    Tmp-String-3 := "StartAuthentication"
   }
   update control {
    REST-HTTP-Header := "X-IDAP-NATIVE-CLIENT: true"
   }
   rest_start
   if (&reply:REST-HTTP-Body =~ /"SessionId":"([^"]+)"/) {
    update request {
     Tmp-String-0 := "%{1}"
    }
   }
   if (&reply:REST-HTTP-Body =~ /"MechanismId":"([^"]+)".*"MechanismId":"([^"]+)"/) {
    update request {
     Tmp-String-1 := "%{1}"
     Tmp-String-2 := "%{2}"
    }
   }
   update request {
    Tmp-String-3 := "AdvanceAuthentication"
   }
   update reply {
    REST-HTTP-Body !* ANY
   }
   update control {
    REST-HTTP-Header := "X-IDAP-NATIVE-CLIENT: true"
   }
   rest_answer
   if (&reply:REST-HTTP-Body =~ /"Summary":"StartNextChallenge"/) {
    update reply {
     REST-HTTP-Body !* ANY
    }
    update control {
     REST-HTTP-Header := "X-IDAP-NATIVE-CLIENT: true"
    }
    rest_oob
    update reply {
     State := "%{request:Tmp-String-0}.%{request:Tmp-String-2}"
     Reply-Message := "Code"
     REST-HTTP-Body !* ANY
    }
    challenge
   }
   reject
  }
  if ("%{string:State}" =~ /^([^.]+)\.(.+)$/) {
   update request {
    Tmp-String-0 := "%{1}"
    Tmp-String-1 := "%{2}"
    Tmp-String-3 := "AdvanceAuthentication"
   }
   update control {
    REST-HTTP-Header := "X-IDAP-NATIVE-CLIENT: true"
   }
   rest_answer
   if (&reply:REST-HTTP-Body =~ /"Summary":"LoginSuccess"/) {
    update reply {
     REST-HTTP-Body !* ANY
    }
    accept
   }
  }
  reject
`
	return startFreeRADIUSWith(port, authorize, "", mods)
}

// restPeer measures complete MFA logins (password, challenge, code) with
// FreeRADIUS + rlm_rest and with mfabridge, both against one emulated
// CyberArk tenant over HTTPS at +latency a call, back to back, and counts
// the tenant's calls per login for each.
func restPeer(ctx context.Context, dur time.Duration, workers int, latency time.Duration) (fr, mfb measured, frCalls, mfbCalls float64, err error) {
	// rlm_rest keeps no cookies: the tenant does not bind a login to its
	// cookie for either (mfabridge sends it all the same).
	tn, args, err := tenantOf(1000, false, latency, cyberarktest.Options{Cookieless: true})
	if err != nil {
		return fr, mfb, 0, 0, err
	}
	defer tn.Close()
	calls := func() int {
		return tn.Count("/Security/StartAuthentication", "") + tn.Count("/Security/AdvanceAuthentication", "")
	}
	lg := loadgen.Load{Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: workers, Duration: dur, Timeout: 10 * time.Second}
	f, err := startFreeRADIUSRest(freePort(), tn.URL, args[len(args)-1])
	if err != nil {
		return fr, mfb, 0, 0, err
	}
	n0 := calls()
	lg.Addr = f.addr
	fr, err = load(ctx, f.cmd.Process.Pid, lg)
	f.stop()
	if err != nil {
		return fr, mfb, 0, 0, err
	}
	frCalls = float64(calls()-n0) / float64(max(fr.Logins, 1))
	c, err := startChild("rest-peer-mfabridge", args...)
	if err != nil {
		return fr, mfb, 0, 0, err
	}
	defer c.stop()
	n0 = calls()
	lg.Addr, lg.WithMA = c.addr, true
	mfb, err = load(ctx, c.pid, lg)
	mfbCalls = float64(calls()-n0) / float64(max(mfb.Logins, 1))
	return fr, mfb, frCalls, mfbCalls, err
}

func (r *report) restSection(p func(string, ...any)) {
	if r.restFR.Logins == 0 || r.restMFB.Logins == 0 {
		return
	}
	p("## The HTTP path against FreeRADIUS + rlm_rest")
	p("")
	p("Complete MFA logins (password, challenge, OATH code) against one emulated CyberArk tenant over HTTPS at +%v a call, %d clients, %v each, back to back: FreeRADIUS 3.2 with rlm_rest (libcurl) making the calls mfabridge makes (StartAuthentication, the password, StartOOB, the code), and mfabridge. rlm_rest reads the tenant's answers with regular expressions in unlang (`force_to = plain`) where mfabridge decodes them; it keeps no cookies, so the tenant runs without binding a login to its cookie for both. Both servers are pinned to the same core; CPU is each server's own.", r.latency, r.workers, r.duration)
	p("")
	p("| Server | Logins/s | Tenant calls a login | CPU per login | Failures | Timeouts |")
	p("|---|---|---|---|---|---|")
	for i, row := range []struct {
		name string
		m    measured
	}{{"FreeRADIUS 3.2 + rlm_rest", r.restFR}, {"mfabridge", r.restMFB}} {
		p("| %s | %.0f | %.1f | %.0f µs | %d | %d |", row.name, row.m.LoginsPerSecond(), r.restCalls[i], 1e6*row.m.CPU.Seconds()/float64(row.m.Logins), row.m.Failures, row.m.Timeouts)
	}
	p("")
}

// restRatio is mfabridge's CPU per complete login over HTTP against
// FreeRADIUS + rlm_rest's.
func (r *report) restRatio() float64 {
	if r.restFR.Logins == 0 || r.restMFB.Logins == 0 {
		return 0
	}
	return (r.restMFB.CPU.Seconds() / float64(r.restMFB.Logins)) / (r.restFR.CPU.Seconds() / float64(r.restFR.Logins))
}
