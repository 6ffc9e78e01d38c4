package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

func runAll(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	out := fs.String("out", "docs/benchmarks.md", "the report to write (the plot goes beside it)")
	dur := fs.Duration("duration", 10*time.Second, "length of each throughput run")
	workers := fs.Int("workers", 64, "concurrent clients in throughput runs")
	latency := fs.Duration("latency", 5*time.Millisecond, "added to every call to the emulated tenant")
	million := fs.Bool("million", true, "also fill 1,000,000 pending conversations (takes a minute)")
	soak := fs.Duration("soak", time.Minute, "length of the soak at half load (the issue asks for 10m)")
	fs.IntVar(&stormUsers, "storm-users", 0, "with -only storm: run only the storm of this many users")
	only := fs.String("only", "", "measure one part and print it instead of writing the report: http (the emulated tenant over HTTP and HTTPS, with CPU profiles), curve (latency against offered load), memory (per pending conversation)")
	_ = fs.Parse(args)
	if *only != "" {
		return runOnly(*only, *dur, *workers, *latency)
	}
	ctx := context.Background()
	r := &report{latency: *latency, duration: *dur, workers: *workers, soak: *soak, args: strings.Join(os.Args[1:], " ")}

	// 1. FreeRADIUS, PAP from the files module.
	step("FreeRADIUS PAP (files module)")
	if fr, err := startFreeRADIUS(freePort()); err != nil {
		r.notes = append(r.notes, "FreeRADIUS was not measured: "+err.Error()+" (apt-get install freeradius)")
	} else {
		m, err := load(ctx, fr.cmd.Process.Pid, loadgen.Load{Addr: fr.addr, Secret: benchSecret, Password: benchPassword, Workers: *workers, Duration: *dur})
		fr.stop()
		if err != nil {
			return err
		}
		r.freeradius = &m
	}

	// 2. Complete MFA logins over loopback HTTP, then HTTPS, to the
	// emulated tenant: right after FreeRADIUS, so that the ratio between
	// the two is measured minutes, not a soak, apart on a machine whose
	// speed drifts.
	for _, plain := range []bool{true, false} {
		scheme := map[bool]string{true: "HTTP", false: "HTTPS"}[plain]
		step("mfabridge MFA logins, emulated CyberArk tenant over %s (+%v a call)", scheme, *latency)
		tn, targs, err := tenant(plain, *latency)
		if err != nil {
			return err
		}
		httpProf := filepath.Join(os.TempDir(), "mfabridge-bench-http-cpu.pprof")
		if plain {
			targs = append(targs, "-cpuprofile", httpProf)
		}
		c, err := startChild("http", targs...)
		if err != nil {
			tn.Close()
			return err
		}
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: *workers * 4, Duration: *dur, Users: 1000, WithMA: true})
		c.stop()
		tn.Close()
		if err != nil {
			return err
		}
		if plain {
			r.mfaHTTP = m
			if top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", httpProf).Output(); err == nil {
				r.httpProfile = string(top)
			}
			if parts, err := breakdown(httpProf); err == nil {
				r.httpBreakdown = parts
			} else {
				r.notes = append(r.notes, "the HTTP run's profile could not be read: "+err.Error())
			}
		} else {
			r.mfaHTTPS = m
		}
	}

	// 3. mfabridge, PAP with the in-memory provider (the bridge's own cost).
	step("mfabridge PAP, in-memory provider")
	prof := filepath.Join(os.TempDir(), "mfabridge-bench-cpu.pprof")
	c, err := startChild("inproc", "-mode", "inproc", "-cpuprofile", prof)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: *workers, Duration: *dur, WithMA: true})
	if err != nil {
		c.stop()
		return err
	}
	r.pap = m
	c.stop()
	// The same with the daemon's default log level, info: a line per
	// login (formatted, then thrown away here).
	step("mfabridge PAP, a log line per login")
	if c, err = startChild("inproc-info", "-mode", "inproc", "-log-level", "info"); err == nil {
		if im, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: *workers, Duration: *dur, WithMA: true}); err == nil {
			r.papInfo = im
		}
		c.stop()
	}
	// The floor: what a lightly loaded server costs (20 requests a second,
	// as a small site's morning), on a fresh server: the one above would
	// still be giving back its run's replies and memory.
	step("mfabridge at 20 requests a second")
	if c, err = startChild("inproc", "-mode", "inproc"); err == nil {
		if fm, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, Workers: 4, Rate: 20, Duration: 10 * time.Second, WithMA: true}); err == nil {
			r.floor = fm
		}
		c.stop()
	}
	if top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", prof).Output(); err == nil {
		r.profile = string(top)
	}

	// 3b. The same over RADIUS/TLS, then what a TLS connection costs.
	step("mfabridge PAP over RADIUS/TLS, in-memory provider")
	if err := measureTLS(ctx, r, *dur, *workers); err != nil {
		r.notes = append(r.notes, "RADIUS/TLS was not measured: "+err.Error())
	}

	// 3c. Push storms: many users approving at once, against the
	// emulated tenant at +100 ms a call.
	for _, set := range storms {
		step("push storm of %d users", set.users)
		st, err := measureStorm(ctx, set)
		if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("the push storm of %d users was not measured: %v", set.users, err))
			continue
		}
		r.storms = append(r.storms, st)
	}

	// 4. Complete MFA logins, in-memory provider.
	step("mfabridge MFA logins, in-memory provider")
	c, err = startChild("inproc-mfa", "-mode", "inproc-mfa")
	if err != nil {
		return err
	}
	m, err = load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: *workers, Duration: *dur, WithMA: true})
	if err != nil {
		c.stop()
		return err
	}
	r.mfaInproc = m

	// 5. Latency against offered load (same server).
	step("latency against offered load")
	max := m.LoginsPerSecond()
	for _, f := range []float64{0.1, 0.25, 0.5, 0.75, 0.9} {
		lm, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: 256, Rate: f * max, Duration: *dur / 2, WithMA: true,
			Warmup: settle, Measure: c.resetLatency})
		if err != nil {
			c.stop()
			return err
		}
		r.curve = append(r.curve, point{fraction: f, offered: f * max, m: lm, server: c.latency()})
	}

	// 7. Soak at half load: goroutines and memory over time.
	step("soak at half load for %v", *soak)
	// Each sample is taken after a GC that returns free memory to the
	// kernel: what the server holds, not where the collector's cycle was
	// (heap in use sampled without it swung between 92 and 169 MiB).
	c.gc()
	base := c.stats()
	r.soakStart = base
	deadline := time.Now().Add(*soak)
	for time.Now().Before(deadline) {
		chunk := 10 * time.Second
		if rem := time.Until(deadline); rem < chunk {
			chunk = rem
		}
		if _, err := loadgen.Run(ctx, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: func() string { return "123456" }, Workers: 128, Rate: max / 2, Duration: chunk, WithMA: true}); err != nil {
			c.stop()
			return err
		}
		c.latency() // drain the server's collector between samples
		c.gc()
		s := c.stats()
		r.soakSamples = append(r.soakSamples, s)
	}
	c.stop()

	// 8. PAP at half of each server's own maximum, side by side.
	step("PAP at half of maximum load, FreeRADIUS and mfabridge")
	half, rt, err := papHalf(ctx, *dur, *workers)
	if err != nil {
		return err
	}
	r.half, r.halfRuntime = half, rt

	// 6a. Goroutines per request in flight: requests held by a slow tenant.
	step("goroutines per request in flight")
	slow, sargs, err := tenant(true, 2*time.Second)
	if err != nil {
		return err
	}
	defer slow.Close()
	c, err = startChild("http-slow", sargs...)
	if err != nil {
		return err
	}
	before := c.stats()
	done := make(chan struct{})
	go func() {
		_, _ = loadgen.Run(ctx, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, OnlyStart: true, Workers: 500, Count: 500, Duration: 20 * time.Second, Timeout: 15 * time.Second, Users: 1000, WithMA: true})
		close(done)
	}()
	time.Sleep(time.Second)
	during := c.stats()
	<-done
	c.stop()
	if during["in_flight"] > 0 {
		r.goroutinesPerRequest = float64(during["goroutines"]-before["goroutines"]) / float64(during["in_flight"])
		r.inFlightSample = during["in_flight"]
	}

	// 6b. Memory per pending conversation.
	step("memory per pending conversation")
	mem, err := memory(ctx, *workers, *million)
	if err != nil {
		return err
	}
	r.memory = mem

	// 6c. Sweeps: NAS entries and pending conversations.
	r.sweepDuration = *dur / 2
	step("NAS-count sweep")
	if r.nasSweep, err = nasSweep(ctx, r.sweepDuration, *workers); err != nil {
		r.notes = append(r.notes, "the NAS-count sweep was not finished: "+err.Error())
	}
	step("pending-count sweep")
	if r.pendingSweep, err = pendingSweep(ctx, r.sweepDuration, *workers); err != nil {
		r.notes = append(r.notes, "the pending-count sweep was not finished: "+err.Error())
	}

	step("FreeRADIUS + rlm_rest beside mfabridge against the emulated tenant")
	if r.restFR, r.restMFB, r.restCalls[0], r.restCalls[1], err = restPeer(ctx, *dur, *workers, *latency); err != nil {
		r.notes = append(r.notes, "FreeRADIUS + rlm_rest was not measured: "+err.Error())
	}

	step("Redis beside memory")
	if r.redis, err = redisBeside(ctx, r.sweepDuration, *workers); err != nil {
		r.notes = append(r.notes, "Redis was not measured: "+err.Error())
	}

	step("latency sweep (Little's law)")
	if r.little, err = latencySweep(ctx, *dur); err != nil {
		r.notes = append(r.notes, "the latency sweep was not finished: "+err.Error())
	}

	step("writing %s", *out)
	return r.write(*out)
}

// halfRow is a PAP server at half of its own maximum rate.
type halfRow struct {
	name   string
	max    float64
	m      measured
	server map[string]int64 // mfabridge's own times, in µs
}

// freeRADIUSName names FreeRADIUS's row of the side-by-side.
const freeRADIUSName = "FreeRADIUS, files module"

// papHalf measures FreeRADIUS and mfabridge alike: each one's maximum PAP
// rate (closed loop), then its latency with half of that offered (open
// loop), so that the two tails can be set side by side.
func papHalf(ctx context.Context, dur time.Duration, workers int) ([]halfRow, map[string]float64, error) {
	var rows []halfRow
	pap := loadgen.Load{Secret: benchSecret, Password: benchPassword, Workers: workers, Duration: dur}
	var mark func() // starts the runtime's figures afresh
	measure := func(name string, pid int, addr string, ma bool, c *child, during func()) error {
		l := pap
		l.Addr, l.WithMA = addr, ma
		m, err := load(ctx, pid, l)
		if err != nil {
			return err
		}
		// The warm-up also outlasts FreeRADIUS's cleanup_delay (5 s): it
		// keeps each request that long to answer retransmissions, and
		// takes a new request from a source port and Identifier it still
		// holds for a conflicting one (the new sockets may get the last
		// run's ports).
		l.Workers, l.Rate, l.Warmup = 256, m.PacketsPerSecond()/2, settle
		l.Measure = func() {
			if c != nil {
				c.resetLatency()
				if mark != nil {
					mark()
				}
			}
			if during != nil {
				go during()
			}
		}
		h, err := load(ctx, pid, l)
		if err != nil {
			return err
		}
		row := halfRow{name: name, max: m.PacketsPerSecond(), m: h}
		if c != nil {
			row.server = c.latency()
		}
		rows = append(rows, row)
		return nil
	}
	if fr, err := startFreeRADIUS(freePort()); err == nil {
		err := measure(freeRADIUSName, fr.cmd.Process.Pid, fr.addr, false, nil, nil)
		fr.stop()
		if err != nil {
			return nil, nil, err
		}
	}
	c, err := startChild("inproc", "-mode", "inproc")
	if err != nil {
		return nil, nil, err
	}
	defer c.stop()
	var during func()
	if dir := os.Getenv("MFB_TRACE"); dir != "" { // an execution trace of the server at half load
		during = func() {
			time.Sleep(2 * time.Second)
			c.saveProfile("trace?seconds=2", filepath.Join(dir, "mfabridge-half.trace"))
		}
	}
	mark = func() { c.get("runtime") }
	if err := measure("mfabridge, in-memory provider", c.pid, c.addr, true, c, during); err != nil {
		return nil, nil, err
	}
	rt := map[string]float64{}
	_ = json.Unmarshal([]byte(c.get("runtime")), &rt)
	return rows, rt, nil
}

// memory fills a server with conversations waiting at a challenge and
// measures its growth after a GC: at 100,000 conversations, then (with
// million) at 1,000,000.
func memory(ctx context.Context, workers int, million bool) ([]memPoint, error) {
	code, err := fill(ctx, workers, million, false)
	if err != nil {
		return nil, err
	}
	menu, err := fill(ctx, workers, million, true)
	return append(code, menu...), err
}

// fill is one server of memory: its conversations wait at the code prompt,
// or (menu) at a menu of the three mechanisms.
func fill(ctx context.Context, workers int, million, menu bool) ([]memPoint, error) {
	args := []string{"-mode", "inproc-mfa", "-txn", "1"}
	if menu {
		args = append(args, "-menu")
	}
	c, err := startChild("memory", args...)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	c.gc()
	start := c.stats()
	targets := []int64{100000}
	if million {
		targets = append(targets, 1000000)
	}
	var (
		filled int64
		out    []memPoint
	)
	for _, n := range targets {
		if _, err := loadgen.Run(ctx, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, OnlyStart: true, Workers: workers, Count: n - filled, Duration: 10 * time.Minute, Users: 1 << 30, WithMA: true}); err != nil {
			return nil, err
		}
		filled = n
		// The replies to the requests that filled it stay in the reply
		// cache for its 10 s; they are the requests' memory, not the
		// waiting conversations'.
		time.Sleep(11 * time.Second)
		c.gc()
		if dir := os.Getenv("MFB_HEAP"); dir != "" { // a heap profile to see what a conversation holds
			c.saveProfile("heap?gc=1", filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", n)))
		}
		s := c.stats()
		out = append(out, memPoint{conversations: s["sessions"], rss: s["rss"] - start["rss"], heap: s["heap_inuse"] - start["heap_inuse"], menu: menu})
	}
	return out, nil
}

// tenant starts the emulated CyberArk tenant in this process (the load
// generator's core), with latency added to each login call, and returns
// the server flags that point a bench server at it.
func tenant(plain bool, latency time.Duration) (*cyberarktest.Tenant, []string, error) {
	return tenantOf(1000, plain, latency, cyberarktest.Options{})
}

// tenantOf is tenant with n users (user0...) and opts.
func tenantOf(n int, plain bool, latency time.Duration, opts cyberarktest.Options) (*cyberarktest.Tenant, []string, error) {
	var users []cyberarktest.User
	for i := 0; i < n; i++ {
		users = append(users, cyberarktest.User{Name: fmt.Sprintf("user%d", i), Password: benchPassword, Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: oathSecret})
	}
	opts.Users, opts.PlainHTTP, opts.CountOnly = users, plain, true
	tn := cyberarktest.New(opts)
	if latency > 0 {
		for _, path := range []string{"/Security/StartAuthentication", "/Security/AdvanceAuthentication"} {
			tn.Inject(path, cyberarktest.Fault{Delay: latency})
		}
	}
	args := []string{"-mode", "http", "-tenant", tn.URL}
	if !plain {
		// A public certificate, readable by FreeRADIUS once it has
		// dropped its privileges (the rlm_rest peer).
		ca := filepath.Join(os.TempDir(), "mfabridge-bench-tenant.pem")
		if err := os.WriteFile(ca, tn.Certificate(), 0o644); err != nil {
			tn.Close()
			return nil, nil, err
		}
		args = append(args, "-ca", ca)
	}
	return tn, args, nil
}

func freePort() int {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 18400
	}
	defer l.Close()
	return l.LocalAddr().(*net.UDPAddr).Port
}

type point struct {
	fraction, offered float64
	m                 measured
	server            map[string]int64 // the server's own times, in µs
}

type memPoint struct {
	conversations, rss, heap int64
	menu                     bool // waiting at a menu, not at the code prompt
}

type report struct {
	args                    string
	latency, duration, soak time.Duration
	workers                 int
	freeradius              *measured
	pap, mfaInproc, mfaHTTP measured
	mfaHTTPS                measured
	papTLS                  measured // PAP over RADIUS/TLS, in-memory provider
	papInfo                 measured // PAP with a log line per login (level info)
	floor                   measured // PAP at 20 requests a second
	storms                  []storm
	nasSweep, pendingSweep  []sweepRow
	little                  []littleRow
	redis                   []redisRow
	restFR, restMFB         measured // complete logins against one tenant: FreeRADIUS + rlm_rest, mfabridge
	restCalls               [2]float64
	sweepDuration           time.Duration
	handshakesPerCPUSecond  float64 // TLS handshakes the server completes
	bytesPerTLSConn         float64 // RSS per open, idle TLS connection
	curve                   []point
	profile, httpProfile    string
	httpBreakdown           []cost // the HTTP run's CPU, by part
	half                    []halfRow
	halfRuntime             map[string]float64
	goroutinesPerRequest    float64
	inFlightSample          int64
	memory                  []memPoint
	soakStart               map[string]int64
	soakSamples             []map[string]int64
	notes                   []string
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func machine() string {
	cpu := "unknown CPU"
	// Counted in /proc/cpuinfo: runtime.NumCPU is the cores this process
	// may run on, one when the bench itself is pinned.
	cores := runtime.NumCPU()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cores = 0
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(l, "model name") && cpu == "unknown CPU":
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
			case strings.HasPrefix(l, "processor"):
				cores++
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	fr, _ := exec.Command("sh", "-c", "dpkg-query -W -f '${Version}' freeradius 2>/dev/null").Output()
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, FreeRADIUS %s", cpu, cores, strings.TrimSpace(string(kernel)), runtime.Version(), string(fr))
}

// measureTLS measures PAP over RADIUS/TLS against the in-memory provider,
// the TLS handshakes one core completes, and the memory of an open
// connection.
func measureTLS(ctx context.Context, r *report, dur time.Duration, workers int) error {
	dir, err := os.MkdirTemp("", "mfabridge-bench-tls-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := startChild("inproc-tls", "-mode", "inproc", "-tls", dir)
	if err != nil {
		return err
	}
	defer c.stop()
	cfg, addr, err := tlsClient(dir)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.pid, loadgen.Load{Addr: addr, Secret: "radsec", Password: benchPassword, Workers: workers, Duration: dur, WithMA: true, TLS: cfg})
	if err != nil {
		return err
	}
	r.papTLS = m
	// Handshakes: new connections, each closed once its handshake is done
	// (TLS 1.3, mutual certificates, P-256), from 16 clients at once.
	before, _ := loadgen.CPUTime(c.pid)
	hctx, cancel := context.WithTimeout(ctx, dur/2)
	n := loadgen.Handshakes(hctx, addr, cfg, 16)
	cancel()
	after, _ := loadgen.CPUTime(c.pid)
	if cpu := (after - before).Seconds(); cpu > 0 {
		r.handshakesPerCPUSecond = float64(n) / cpu
	}
	// Memory: 2,000 connections open and idle.
	c.gc()
	time.Sleep(200 * time.Millisecond)
	rss0 := c.stats()["rss"]
	var conns []*tls.Conn
	for range 2000 {
		tc, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			break
		}
		conns = append(conns, tc)
	}
	time.Sleep(500 * time.Millisecond)
	c.gc()
	time.Sleep(200 * time.Millisecond)
	if rss1 := c.stats()["rss"]; len(conns) > 0 {
		r.bytesPerTLSConn = float64(rss1-rss0) / float64(len(conns))
	}
	for _, tc := range conns {
		_ = tc.Close()
	}
	return nil
}
