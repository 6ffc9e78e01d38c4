package main

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
)

// verdict words a target's outcome.
func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**not met**"
}

func (r *report) write(path string) error {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Benchmarks")
	p("")
	p("Written by `make bench` (`go run ./cmd/mfabridge-bench %s`) on %s. `go run ./cmd/mfabridge-bench -only http|curve|memory|pap-half|tls|floor|storm|sweeps|redis|rest|little` measures one part, with profiles, while working on it.", r.args, time.Now().UTC().Format("2006-01-02"))
	p("")
	pinned := "both share the machine's cores"
	if os.Getenv("MFB_PINNED") != "" {
		pinned = "each server (FreeRADIUS and mfabridge alike) is pinned to core 0 (`taskset`; mfabridge with one Go processor, GOMAXPROCS=1), and the generator (and the emulated tenant) to core 1"
	}
	p("Machine: %s. The load generator (`cmd/mfabridge-bench/loadgen`, Go with layeh.com/radius packets, one UDP socket per client, no retransmissions) runs on the same machine as the server it measures: %s. CPU time is the server process's own (user + system, from /proc). Ratios between servers measured in the same run are what count; this is a shared virtual machine, and runs differ by some 10%% from one to the next.", machine(), pinned)
	p("")
	r.targets(p)
	r.throughput(p)
	r.stormSection(p)
	r.restSection(p)
	r.littleSection(p)
	r.costSection(p)
	r.latencyCurve(p, path)
	r.halfLoad(p)
	r.memorySection(p)
	r.sweepSection(p)
	r.redisSection(p)
	r.soakSection(p)
	r.goBenchmarks(p)
	r.changes(p)
	for _, prof := range []struct{ name, top string }{{"the PAP run", r.profile}, {"the run over HTTP", r.httpProfile}} {
		if prof.top == "" {
			continue
		}
		p("## Profile of %s", prof.name)
		p("")
		p("```")
		for i, l := range strings.Split(prof.top, "\n") {
			if i > 32 {
				break
			}
			p("%s", l)
		}
		p("```")
		p("")
	}
	for _, n := range r.notes {
		p("Note: %s", n)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (r *report) halfPoint() (point, bool) {
	for _, c := range r.curve {
		if c.fraction == 0.5 {
			return c, true
		}
	}
	return point{}, false
}

func (r *report) targets(p func(string, ...any)) {
	p("## Targets")
	p("")
	p("| Target | Measured | |")
	p("|---|---|---|")
	for _, st := range r.storms {
		if st.users < 50000 {
			continue
		}
		firstSend := st.firstSend == st.users
		rss := st.bytesPerHeld > 0 && st.bytesPerHeld < 4096
		polls := st.maxPollsPerSecond <= float64(st.pollRate)*1.1
		conns := max(st.tenantConns, st.tenantConnsOwn) <= st.connections
		code := st.codeP99 > 0 && st.codeP99 <= 2*st.codeIdleP99
		p("| 50,000 held pushes on one instance: every one accepted on its first send, under 4 KiB of RSS each, polls within `poll_rate`, at most `max_connections` to the tenant, other users' code logins' p99 within 2× idle | %d of %d accepted on the first send (%s); %.1f KiB RSS each (%s); busiest second %.0f polls against %d (%s); %d connections against %d (%s); code p99 %s against %s idle, %.2f× (%s) | %s |",
			st.firstSend, st.users, verdict(firstSend), st.bytesPerHeld/1024, verdict(rss), st.maxPollsPerSecond, st.pollRate, verdict(polls), max(st.tenantConns, st.tenantConnsOwn), st.connections, verdict(conns),
			ms(st.codeP99), ms(st.codeIdleP99), float64(st.codeP99)/float64(max(st.codeIdleP99, 1)), verdict(code), verdict(firstSend && rss && polls && conns && code))
	}
	if ratio := r.restRatio(); ratio > 0 {
		p("| CPU per complete MFA login over HTTP, at most FreeRADIUS + rlm_rest's for the same calls | %.2f× (%.0f µs against %.0f µs, %.1f and %.1f tenant calls a login) | %s |", ratio,
			1e6*r.restMFB.CPU.Seconds()/float64(r.restMFB.Logins), 1e6*r.restFR.CPU.Seconds()/float64(r.restFR.Logins), r.restCalls[1], r.restCalls[0], verdict(ratio <= 1))
	}
	if len(r.nasSweep) > 1 {
		f := flatness(r.nasSweep)
		p("| Throughput flat from 1 to 10,000 NAS entries (at least 0.9× of the smallest case) | %.2f× at worst | %s |", f, verdict(f >= 0.9))
	}
	if len(r.pendingSweep) > 1 {
		f := flatness(r.pendingSweep)
		p("| Throughput flat from 1,000 to 1,000,000 pending conversations (at least 0.9×) | %.2f× at worst | %s |", f, verdict(f >= 0.9))
	}
	var worst int64
	for _, m := range r.memory {
		if m.conversations > 0 {
			worst = max(worst, m.heap/m.conversations, m.rss/m.conversations)
		}
	}
	p("| At most 1 KiB per pending conversation at 1,000,000 | at most %d bytes (heap and RSS, at a code prompt and at a menu, 100,000 and 1,000,000 conversations) | %s |", worst, verdict(worst > 0 && worst <= 1024))
	if r.freeradius != nil {
		ratio := r.pap.PerCPUSecond() / r.freeradius.PerCPUSecond()
		p("| PAP Access-Requests per CPU-second with the in-process tenant, at least 1.5× FreeRADIUS's PAP from `files` | %.3f× (%.0f against %.0f) | %s |", ratio, r.pap.PerCPUSecond(), r.freeradius.PerCPUSecond(), verdict(ratio >= 1.5))
	}
	if c, ok := r.halfPoint(); ok {
		d := time.Duration(c.server["p99"]) * time.Microsecond
		p("| p99 time added by the bridge at half of maximum load, under 1 ms | %s (complete logins, from the kernel's receipt of each datagram to its reply) | %s |", ms(d), verdict(d < time.Millisecond))
	}
	if len(r.redis) > 1 {
		ratio := r.redis[1].m.PerCPUSecond() / r.redis[0].m.PerCPUSecond()
		p("| Redis store, at least 0.6× the memory store's requests per CPU-second | %.2f× (%.0f against %.0f) | %s |", ratio, r.redis[1].m.PerCPUSecond(), r.redis[0].m.PerCPUSecond(), verdict(ratio >= 0.6))
	}
	flat, why := r.soakFlat()
	p("| No growth in goroutines or memory over the soak (%v) | %s | %s |", r.soak, why, verdict(flat))
	p("")
}

// soakFlat compares the soak's first and last thirds.
func (r *report) soakFlat() (bool, string) {
	n := len(r.soakSamples)
	if n < 3 {
		return false, "too few samples"
	}
	avg := func(ss []map[string]int64, k string) float64 {
		var t float64
		for _, s := range ss {
			t += float64(s[k])
		}
		return t / float64(len(ss))
	}
	first, last := r.soakSamples[:n/3], r.soakSamples[n-n/3:]
	g0, g1 := avg(first, "goroutines"), avg(last, "goroutines")
	h0, h1 := avg(first, "heap_inuse"), avg(last, "heap_inuse")
	r0, r1 := avg(first, "rss"), avg(last, "rss")
	flat := g1 <= g0+2 && h1 <= h0*1.1 && r1 <= r0*1.1
	return flat, fmt.Sprintf("first third against last: goroutines %.0f → %.0f, heap in use %.0f → %.0f MiB, RSS %.0f → %.0f MiB", g0, g1, h0/(1<<20), h1/(1<<20), r0/(1<<20), r1/(1<<20))
}

func (r *report) throughput(p func(string, ...any)) {
	p("## Throughput")
	p("")
	p("%d concurrent clients (%d with the tenant over HTTP, whose calls take 4 × %v), %v each run, in this order: FreeRADIUS, mfabridge over HTTP and HTTPS, then mfabridge with the in-memory provider; the ratios below compare runs made a minute or two apart. Every mfabridge request carries Message-Authenticator and gets one in its reply. FreeRADIUS 3 runs its packaged configuration with the `files` module and one user, and `max_requests` raised to 1,048,576 (its default of 16,384 requests kept for `cleanup_delay` makes it drop requests above about 3,000 a second). Neither writes a line per login: FreeRADIUS's packaged `auth = no`, mfabridge's `[log] level = \"error\"` (its default, `info`, writes one: the row so marked measures it). The tenant over HTTPS speaks HTTP/2.", r.workers, r.workers*4, r.latency, r.duration)
	p("")
	p("| Server | Exchange | Logins/s | Requests/s | Server CPU | Requests per CPU-second | p50 | p99 | Failures | Timeouts |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	row := func(name, kind string, m measured) {
		p("| %s | %s | %.0f | %.0f | %.2f s | %.0f | %s | %s | %d | %d |", name, kind, m.LoginsPerSecond(), m.PacketsPerSecond(), m.CPU.Seconds(), m.PerCPUSecond(), ms(m.Quantile("request", .5)), ms(m.Quantile("request", .99)), m.Failures, m.Timeouts)
	}
	if r.freeradius != nil {
		row("FreeRADIUS, files module", "PAP", *r.freeradius)
	}
	row("mfabridge, in-memory provider", "PAP", r.pap)
	if r.papInfo.Packets > 0 {
		row("mfabridge, in-memory provider, a log line per login (level info)", "PAP", r.papInfo)
	}
	if r.papTLS.Packets > 0 {
		row("mfabridge over RADIUS/TLS, in-memory provider", "PAP", r.papTLS)
	}
	row("mfabridge, in-memory provider", "password, challenge, code", r.mfaInproc)
	row(fmt.Sprintf("mfabridge + emulated CyberArk tenant over HTTP (+%v a call)", r.latency), "password, challenge, code", r.mfaHTTP)
	row(fmt.Sprintf("mfabridge + emulated CyberArk tenant over HTTPS (+%v a call)", r.latency), "password, challenge, code", r.mfaHTTPS)
	p("")
	if r.freeradius != nil {
		p("- mfabridge's PAP requests per CPU-second are **%.2f×** FreeRADIUS's.", r.pap.PerCPUSecond()/r.freeradius.PerCPUSecond())
		p("- Complete MFA logins over loopback HTTP: %.0f Access-Requests per CPU-second of mfabridge, **%.2f×** FreeRADIUS's PAP rate; over HTTPS %.0f (%.2f×). Each login makes four calls to the tenant (StartAuthentication, the password, StartOOB, the code), so a login costs mfabridge four HTTP exchanges besides its two RADIUS ones; the tenant itself runs in the load generator's process, on the other core.", r.mfaHTTP.PerCPUSecond(), r.mfaHTTP.PerCPUSecond()/r.freeradius.PerCPUSecond(), r.mfaHTTPS.PerCPUSecond(), r.mfaHTTPS.PerCPUSecond()/r.freeradius.PerCPUSecond())
		if r.floor.Packets > 0 {
			p("- Lightly loaded, at 20 PAP requests a second for %v, mfabridge used %.2f%% of a core (%.0f µs of CPU per request, the reading, the answer and the runtime's timers included): the one-processor nudger rests 2 ms after the last datagram instead of ticking every 250 µs while requests keep coming.", r.floor.Elapsed.Round(time.Second), 100*r.floor.CPU.Seconds()/r.floor.Elapsed.Seconds(), 1e6*r.floor.CPU.Seconds()/float64(max(r.floor.Packets, 1)))
		}
		if r.papTLS.Packets > 0 && r.handshakesPerCPUSecond > 0 {
			p("- Over RADIUS/TLS (RFC 6614: one connection a client, TLS 1.3, mutual certificates) mfabridge answers %.0f PAP requests per CPU-second, **%.2f×** its own over UDP in the same run (%.2f× FreeRADIUS's over UDP). A connection's TLS handshake costs the server %.0f µs of CPU (%.0f handshakes per CPU-second, 16 clients opening and closing connections), and an open, idle connection %.1f KiB of memory (RSS, 2,000 connections).", r.papTLS.PerCPUSecond(), r.papTLS.PerCPUSecond()/r.pap.PerCPUSecond(), r.papTLS.PerCPUSecond()/r.freeradius.PerCPUSecond(), 1e6/r.handshakesPerCPUSecond, r.handshakesPerCPUSecond, r.bytesPerTLSConn/1024)
		}
		if len(r.half) > 0 && r.half[0].name == freeRADIUSName {
			p("- How much this machine drifts: FreeRADIUS's maximum, measured again the same way later in the run (before the side-by-side below), was %.0f requests/s against %.0f here (%+.0f%%).", r.half[0].max, r.freeradius.PacketsPerSecond(), 100*(r.half[0].max/r.freeradius.PacketsPerSecond()-1))
		}
	}
	p("")
}

func (r *report) stormSection(p func(string, ...any)) {
	if len(r.storms) == 0 {
		return
	}
	p("## Push storm")
	p("")
	p("Many users log in with a push; their logins arrive evenly over the time given (all at once where it says 0s), and each push is approved a fixed time after it was sent (the emulated tenant approves it). The emulated CyberArk tenant runs over HTTPS with HTTP/2, +%v a call, in the load generator's process. Each user's NAS sends once and waits (no retransmission: what the first send gets). Meanwhile, other users log in with a code at 20 a second; their p99 over the whole storm is set against the same logins on the idle server just before. The server runs with `max_in_flight = 4096`, the provider's `max_connections = %d` and the `poll_rate` and client `nas_wait` in the table (`push_wait` a second less); `max_held` is raised to the number of users where that is above its default. Memory per held push is measured once every login has arrived and before any push is approved, after a GC that returns free memory to the kernel. `go run ./cmd/mfabridge-bench -only storm [-storm-users N]` runs this part alone.", r.storms[0].latency, r.storms[0].connections)
	p("")
	p("| Users | Arriving over | Approved after | nas_wait | Accepted on the first send | \"Approve, then press Enter\" | Rejected | No answer | Accept p50 / p99 (from the send) | Held at the peak | Goroutines per held push | Heap / RSS per held push | Polls a second: mean / busiest second (poll_rate) | Connections to the tenant, most at once: the server's established sockets in /proc (opened and not yet closed, by its own count) | Code logins' p99 during / idle (lost) | Server CPU | Generator and tenant's core busy |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range r.storms {
		p("| %d | %v | %v | %v | %d | %d | %d | %d | %.1f s / %.1f s | %d | %.3f | %.1f KiB / %.1f KiB | %.0f / %.0f (%d) | %d (%d) | %s / %s (%d) | %.1f s | %.0f%% |", st.users, st.spread, st.approveAfter, st.nasWait,
			st.firstSend, st.challenged, st.rejected, st.lost, st.p50.Seconds(), st.p99.Seconds(), st.heldAtPeak, st.goroutinesPerHeld,
			st.heapPerHeld/1024, st.bytesPerHeld/1024, st.pollsPerSecond, st.maxPollsPerSecond, st.pollRate, st.tenantConns, st.tenantConnsOwn, ms(st.codeP99), ms(st.codeIdleP99), st.codeLost, st.cpu.Seconds(), 100*st.tenantCore)
	}
	p("")
	p("A held push is parked: a record and a timer, not a goroutine, and not one of `max_in_flight`'s slots, so other users' logins are not held up behind it; past `max_held` a push is answered with \"approve, then press Enter\", never dropped. Its polls go through the provider's queue: all held pushes together send at most `poll_rate` polls a second (a tenth of a second's worth may go at once), each push at most at the tenant's interval, so with many held at once each is polled about every held/`poll_rate` seconds and an approved push waits for its turn (the Accept p50 above). The tenant's calls share at most `max_connections` connections; over HTTP/2 a few carry them all.")
	p("")
}

func (r *report) latencyCurve(p func(string, ...any), path string) {
	p("## Latency against offered load")
	p("")
	p("Complete logins with the in-memory provider, offered (open loop, 256 clients) at a fraction of the maximum measured above (%.0f logins/s); all time is the bridge's (and the loopback's). Each point runs %v at its rate before it is measured (the reply cache's lifetime: the server then holds what it holds at that load, not the replies of the heavier run before it), then is measured for %v.", r.mfaInproc.LoginsPerSecond(), settle, r.curveDuration())
	p("")
	p("mfabridge has one Go processor here (GOMAXPROCS=1, as on a one-CPU host). After each garbage collection the Go runtime's background sweeper is always ready to run, and the runtime polls the network only when nothing is: without help, datagrams waited 4-18 ms in the socket several times a second at half load (the largest part of the tail in earlier reports). On one processor mfabridge's readers are nudged by a timer when a datagram waits unread with the reader parked (`nudge` in bridge/server.go).")
	p("")
	p("Logins start evenly spaced, to within 50 µs: the generator keeps time with a timerfd, because Go's own timers wake an idle process no finer than every millisecond, which would send each millisecond's logins in one burst (reports before this one measured those bursts as the server's queue).")
	p("")
	p("\"Bridge\" columns are the time mfabridge added to each request, measured in the server: from the moment the kernel received the datagram (SO_TIMESTAMPNS; the wait in the socket's queue counts) to the moment the reply was sent. The \"Request\" columns are what the load generator saw, its own scheduling included. \"Lost\" counts timeouts and the starts the generator found no free client for. \"Generator CPU\" is the load generator's own core: near 100%%, its hiccups reach the server as bursts.")
	p("")
	p("| Offered | Logins/s | Request p50 | Request p99 | Answer p99 | Bridge p50 | Bridge p99 | Bridge p99.9 | Server CPU | Generator CPU | Lost |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
	var xs, p50, p99, bp99 []float64
	for _, c := range r.curve {
		us := func(k string) string { return ms(time.Duration(c.server[k]) * time.Microsecond) }
		p("| %.0f%% (%.0f/s) | %.0f | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %d |", c.fraction*100, c.offered, c.m.LoginsPerSecond(), ms(c.m.Quantile("request", .5)), ms(c.m.Quantile("request", .99)), ms(c.m.Quantile("answer", .99)), us("p50"), us("p99"), us("p999"), 100*c.m.CPU.Seconds()/c.m.Elapsed.Seconds(), 100*c.m.GeneratorCPU.Seconds()/c.m.Elapsed.Seconds(), c.m.Failures+c.m.Timeouts)
		xs = append(xs, c.offered)
		p50 = append(p50, float64(c.m.Quantile("request", .5))/1e6)
		p99 = append(p99, float64(c.m.Quantile("request", .99))/1e6)
		bp99 = append(bp99, float64(c.server["p99"])/1e3)
	}
	if c, ok := r.halfPoint(); ok {
		p("")
		p("At half of the maximum load the bridge adds **%s** at p99 to a request (target: under 1 ms); the load generator saw %s at p99. The server is then %.0f%% busy, not 50%%: the maximum is measured with 64 clients each sending its next request at once, which lets mfabridge read and answer many datagrams per wake-up; offered at a steady rate, each datagram costs a wake-up of its own.", ms(time.Duration(c.server["p99"])*time.Microsecond), ms(c.m.Quantile("request", .99)), 100*c.m.CPU.Seconds()/c.m.Elapsed.Seconds())
	}
	png := strings.TrimSuffix(path, ".md") + "-latency.png"
	if f, err := os.Create(png); err == nil {
		_ = loadgen.PlotPNG(f, "mfabridge: Access-Request latency against offered load", "offered logins/s", "ms", []loadgen.Series{
			{Name: "p50", Color: color.RGBA{30, 100, 200, 255}, X: xs, Y: p50},
			{Name: "p99", Color: color.RGBA{200, 50, 30, 255}, X: xs, Y: p99},
			{Name: "bridge p99", Color: color.RGBA{40, 160, 60, 255}, X: xs, Y: bp99},
		})
		f.Close()
		p("")
		p("![latency against offered load](%s)", filepath.Base(png))
	}
	p("")
}

func (r *report) halfLoad(p func(string, ...any)) {
	if len(r.half) == 0 {
		return
	}
	p("## Half of maximum load, side by side with FreeRADIUS")
	p("")
	p("PAP Access-Requests, each server offered half of its own maximum (measured just before, 64 clients in a closed loop) by 256 clients at a steady rate, after a %v warm-up at that rate. The tails as the load generator saw them:", settle)
	p("")
	p("| Server | Maximum | Offered | Answered/s | Server CPU | Generator CPU | p50 | p99 | p99.9 | Lost |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, h := range r.half {
		p("| %s | %.0f/s | %.0f/s | %.0f | %.0f%% | %.0f%% | %s | %s | %s | %d |", h.name, h.max, h.max/2, h.m.PacketsPerSecond(), 100*h.m.CPU.Seconds()/h.m.Elapsed.Seconds(), 100*h.m.GeneratorCPU.Seconds()/h.m.Elapsed.Seconds(), ms(h.m.Quantile("request", .5)), ms(h.m.Quantile("request", .99)), ms(h.m.Quantile("request", .999)), h.m.Failures+h.m.Timeouts)
	}
	p("")
	for _, h := range r.half {
		if h.server != nil {
			p("mfabridge's own time per request there (kernel receipt to reply): p50 %s, p99 %s, p99.9 %s.", ms(time.Duration(h.server["p50"])*time.Microsecond), ms(time.Duration(h.server["p99"])*time.Microsecond), ms(time.Duration(h.server["p999"])*time.Microsecond))
		}
	}
	if rt := r.halfRuntime; len(rt) > 0 {
		p("Its Go runtime during that run (runtime/metrics): %.0f GC cycles, stop-the-world pauses p99 %.0f µs and at most %.0f µs; goroutines waited to run p50 %.0f µs, p99 %.0f µs, at most %.1f ms.", rt["gc_cycles"], rt["gc_pause_p99"], rt["gc_pause_p100"], rt["sched_latency_p50"], rt["sched_latency_p99"], rt["sched_latency_p100"]/1000)
	}
	p("")
}

func (r *report) memorySection(p func(string, ...any)) {
	p("## Memory")
	p("")
	p("Conversations left waiting at a challenge, each holding the menu and the transaction of a real CyberArk login with three mechanisms (captured from the emulated tenant; every conversation its own copy): at the code prompt (the NAS client prefers a code, as `prefer = [\"code\"]` does) or at the menu of three. Measured after the reply cache's 10 s had passed (the replies belong to the requests, not to the waiting conversations) and after a GC that returns free memory to the kernel (`debug.FreeOSMemory`). A conversation's bytes live in the session store's slab, memory mapped apart from Go's heap (the heap holds its map entry): the collector neither scans them nor lets the heap grow by their size before it collects, so RSS stays near these figures; the rest of the heap may still grow to about twice what is live between collections (GOGC=100).")
	p("")
	p("| Waiting at | Conversations | RSS growth | Heap growth | Bytes per conversation (heap) | Bytes per conversation (RSS) |")
	p("|---|---|---|---|---|---|")
	for _, m := range r.memory {
		if m.conversations == 0 {
			continue
		}
		at := "code prompt"
		if m.menu {
			at = "menu of three"
		}
		p("| %s | %d | %.1f MiB | %.1f MiB | %d | %d |", at, m.conversations, float64(m.rss)/(1<<20), float64(m.heap)/(1<<20), m.heap/m.conversations, m.rss/m.conversations)
	}
	p("")
	if r.inFlightSample > 0 {
		p("Goroutines per request in flight: **%.2f** (%d requests held by a tenant answering after 2 s). Per request: mfabridge's worker, and the reader and writer of the HTTP client's connection to the tenant.", r.goroutinesPerRequest, r.inFlightSample)
		p("")
	}
}

func (r *report) soakSection(p func(string, ...any)) {
	p("## Soak")
	p("")
	p("Half of the maximum login rate for %v, sampled every 10 s after a GC that returns free memory to the kernel (goroutines, heap in use, RSS, pending sessions):", r.soak)
	p("")
	p("| Sample | Goroutines | Heap in use | RSS | Sessions |")
	p("|---|---|---|---|---|")
	p("| start | %d | %.1f MiB | %.1f MiB | %d |", r.soakStart["goroutines"], float64(r.soakStart["heap_inuse"])/(1<<20), float64(r.soakStart["rss"])/(1<<20), r.soakStart["sessions"])
	for i, s := range r.soakSamples {
		p("| %ds | %d | %.1f MiB | %.1f MiB | %d |", (i+1)*10, s["goroutines"], float64(s["heap_inuse"])/(1<<20), float64(s["rss"])/(1<<20), s["sessions"])
	}
	p("")
}

func (r *report) goBenchmarks(p func(string, ...any)) {
	p("## Go benchmarks of the hot path")
	p("")
	p("```")
	out, err := exec.Command("go", "test", "-run", "XXX", "-bench", ".", "-benchmem", "-benchtime", "20000x", "./bridge", "./bridge/replycache", "./internal/msgauth").CombinedOutput()
	if err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Benchmark") {
				p("%s", l)
			}
		}
	}
	p("```")
	p("")
	p("`go test -run XXX -bench . -benchmem ./bridge ./bridge/replycache ./internal/msgauth`: packet decode with the Message-Authenticator check, reply encode with Message-Authenticator first, session store and take, the retransmission cache, a whole PAP exchange over UDP with one client, and the Message-Authenticator check alone.")
	p("")
}

func (r *report) changes(p func(string, ...any)) {
	p("## What the profiles changed")
	p("")
	p("The measured changes to the hot path, each with the profile, trace or measurement that led to it, are in [performance-history.md](performance-history.md).")
	p("")
}

// curveDuration is how long each point of the curve was measured.
func (r *report) curveDuration() time.Duration {
	if len(r.curve) == 0 {
		return 0
	}
	return r.curve[0].m.Elapsed.Round(time.Second)
}
