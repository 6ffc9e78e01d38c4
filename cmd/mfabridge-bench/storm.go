package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// storm is one push storm: users whose logins arrive over spread, each
// push approved approveAfter after it was sent, against the emulated
// tenant over HTTPS (HTTP/2) at +latency a call.
type storm struct {
	stormSetup
	firstSend, challenged, rejected, lost int
	p50, p99                              time.Duration
	heldAtPeak                            int64
	goroutinesPerHeld                     float64
	bytesPerHeld, heapPerHeld             float64
	pollsPerSecond, maxPollsPerSecond     float64
	tenantConns                           int // established, from /proc
	tenantConnsOwn                        int // open, as the server counts them
	codeP99, codeIdleP99                  time.Duration
	codeLost                              int
	cpu                                   time.Duration
	// tenantCore is how busy the core of the load generator and the
	// emulated tenant was during the storm (0 to 1).
	tenantCore float64
}

// stormSetup is what a storm is run with.
type stormSetup struct {
	users                 int
	spread, approveAfter  time.Duration
	latency, nasWait      time.Duration
	pollRate, connections int
}

// storms are the push storms make bench runs.
var storms = []stormSetup{
	{users: 1000, spread: 0, approveAfter: 5 * time.Second, latency: 100 * time.Millisecond, nasWait: 10 * time.Second, pollRate: 500, connections: 64},
	{users: 4000, spread: 0, approveAfter: 5 * time.Second, latency: 100 * time.Millisecond, nasWait: 10 * time.Second, pollRate: 500, connections: 64},
	{users: 50000, spread: 50 * time.Second, approveAfter: 55 * time.Second, latency: 100 * time.Millisecond, nasWait: 90 * time.Second, pollRate: 2000, connections: 64},
}

// stormUsers, when set, picks the one storm -only storm runs.
var stormUsers int

// measureStorm runs a push storm, with other users' code logins going on
// at a low rate during it, and the same code logins on the idle server
// before it for comparison.
func measureStorm(ctx context.Context, set stormSetup) (storm, error) {
	s := storm{stormSetup: set}
	var users []cyberarktest.User
	for i := 0; i < 1000; i++ {
		users = append(users, cyberarktest.User{Name: fmt.Sprintf("user%d", i), Password: benchPassword, Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: oathSecret})
	}
	for i := 0; i < set.users; i++ {
		users = append(users, cyberarktest.User{Name: fmt.Sprintf("push%d", i), Password: benchPassword, Factors: []cyberarktest.Factor{cyberarktest.Push}, AutoApprove: set.approveAfter})
	}
	tn := cyberarktest.New(cyberarktest.Options{Users: users, CountOnly: true})
	defer tn.Close()
	for _, path := range []string{"/Security/StartAuthentication", "/Security/AdvanceAuthentication"} {
		tn.Inject(path, cyberarktest.Fault{Delay: set.latency})
	}
	ca := filepath.Join(os.TempDir(), "mfabridge-bench-storm-tenant.pem")
	if err := os.WriteFile(ca, tn.Certificate(), 0o600); err != nil {
		return s, err
	}
	defer os.Remove(ca)
	c, err := startChild("storm", "-mode", "http", "-tenant", tn.URL, "-ca", ca,
		"-max-connections", strconv.Itoa(set.connections), "-poll-rate", strconv.Itoa(set.pollRate),
		"-max-held", strconv.Itoa(max(10000, set.users)), "-nas-wait", set.nasWait.String())
	if err != nil {
		return s, err
	}
	defer c.stop()
	code := func(d time.Duration) (loadgen.Result, error) {
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: 32, Rate: 20, Duration: d, WithMA: true, Timeout: 30 * time.Second})
		return m.Result, err
	}
	idle, err := code(3 * time.Second)
	if err != nil {
		return s, err
	}
	s.codeIdleP99 = idle.Quantile("request", .99)
	c.gc()
	base := c.stats()
	polls0 := tn.Count("/Security/AdvanceAuthentication", "Poll")
	cpu0, _ := loadgen.CPUTime(c.pid)
	busy0, total0 := coreTimes("cpu1")

	// Other users' code logins for the whole storm.
	window := set.spread + set.approveAfter
	codes := make(chan loadgen.Result, 1)
	go func() { r, _ := code(window); codes <- r }()

	// The server's cost per held push, its polls and its connections to
	// the tenant, sampled as the storm goes.
	began := time.Now()
	sampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		lastPolls, lastAt := polls0, time.Now()
		measured := false
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
			}
			st := c.stats()
			s.heldAtPeak = max(s.heldAtPeak, st["held"])
			if !measured && time.Since(began) >= set.spread+set.approveAfter/2 {
				// Every login has arrived and no push is approved yet:
				// what each held push costs, after a GC that returns
				// free memory (garbage is not what a push holds).
				measured = true
				c.gc()
				if path := os.Getenv("MFABRIDGE_BENCH_STORM_HEAP"); path != "" {
					c.saveProfile("heap", path) // to see what a held push holds
				}
				st = c.stats()
				if held := st["held"]; held > 0 {
					s.goroutinesPerHeld = float64(st["goroutines"]-base["goroutines"]) / float64(held)
					s.bytesPerHeld = float64(st["rss"]-base["rss"]) / float64(held)
					s.heapPerHeld = float64(st["heap_inuse"]-base["heap_inuse"]) / float64(held)
				}
			}
			s.tenantConns = max(s.tenantConns, connectionsTo(c.pid, tn.URL))
			s.tenantConnsOwn = max(s.tenantConnsOwn, int(st["tenant_conns"]))
			if now := time.Now(); now.Sub(lastAt) >= time.Second {
				p := tn.Count("/Security/AdvanceAuthentication", "Poll")
				s.maxPollsPerSecond = max(s.maxPollsPerSecond, float64(p-lastPolls)/now.Sub(lastAt).Seconds())
				lastPolls, lastAt = p, now
			}
		}
	}()

	results, err := pushLogins(c.addr, set.users, set.spread, set.nasWait+5*time.Second)
	close(sampling)
	<-sampled
	if err != nil {
		return s, err
	}
	took := time.Since(began)
	cpu1, _ := loadgen.CPUTime(c.pid)
	s.cpu = cpu1 - cpu0
	if busy1, total1 := coreTimes("cpu1"); total1 > total0 {
		s.tenantCore = float64(busy1-busy0) / float64(total1-total0)
	}
	s.pollsPerSecond = float64(tn.Count("/Security/AdvanceAuthentication", "Poll")-polls0) / took.Seconds()
	var latencies []time.Duration
	for _, r := range results {
		switch r.code {
		case radius.CodeAccessAccept:
			s.firstSend++
			latencies = append(latencies, r.took)
		case radius.CodeAccessChallenge: // "approve, then press Enter"
			s.challenged++
		case 0:
			s.lost++
		default:
			s.rejected++
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		s.p50, s.p99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	}
	if os.Getenv("MFABRIDGE_BENCH_STORM_COUNTS") != "" {
		fmt.Fprintln(os.Stderr, "server counts:", c.get("counts"))
	}
	during := <-codes
	s.codeP99 = during.Quantile("request", .99)
	s.codeLost = int(during.Timeouts + during.Failures)
	return s, nil
}

// pushResult is what one user's NAS got for its first send (code 0:
// nothing).
type pushResult struct {
	code radius.Code
	took time.Duration
}

// pushLogins sends n users' Access-Requests, evenly over spread, each
// once (no retransmission: what a NAS gets for its first send), from a
// socket for every 256 users (one Identifier each), and waits up to wait
// after the last for their answers.
func pushLogins(addr string, n int, spread, wait time.Duration) ([]pushResult, error) {
	results := make([]pushResult, n)
	sent := make([]time.Time, n)
	var (
		conns []*net.UDPConn
		mu    sync.Mutex
		wg    sync.WaitGroup
	)
	for i := 0; i < n; i += 256 {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return nil, err
		}
		u := conn.(*net.UDPConn)
		_ = u.SetReadBuffer(4 << 20)
		conns = append(conns, u)
		wg.Add(1)
		go func(first int) {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				k, err := u.Read(buf)
				if err != nil {
					return
				}
				at := time.Now()
				if k < 20 || first+int(buf[1]) >= n {
					continue
				}
				i := first + int(buf[1])
				mu.Lock()
				if results[i].code == 0 {
					results[i] = pushResult{code: radius.Code(buf[0]), took: at.Sub(sent[i])}
				}
				mu.Unlock()
			}
		}(i)
	}
	began := time.Now()
	for i := 0; i < n; i++ {
		if spread > 0 {
			if d := time.Until(began.Add(spread * time.Duration(i) / time.Duration(n))); d > 0 {
				time.Sleep(d)
			}
		}
		p := radius.New(radius.CodeAccessRequest, []byte(benchSecret))
		p.Identifier = byte(i % 256)
		_ = rfc2865.UserName_SetString(p, fmt.Sprintf("push%d", i))
		_ = rfc2865.UserPassword_SetString(p, benchPassword)
		wire, err := msgauth.Encode(p)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if _, err := conns[i/256].Write(wire); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		mu.Lock()
		answered := 0
		for _, r := range results {
			if r.code != 0 {
				answered++
			}
		}
		mu.Unlock()
		if answered == n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	return results, nil
}

// connectionsTo counts pid's own established TCP connections to the
// tenant at url: the sockets among its open files (/proc/<pid>/fd) that
// /proc/<pid>/net/tcp shows established to the tenant's port (that file
// lists every socket of the network namespace, the tenant's own too).
func connectionsTo(pid int, url string) int {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	own := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			own[strings.TrimSuffix(inode, "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", p)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && strings.HasSuffix(fields[2], want) && fields[3] == "01" && own[fields[9]] {
			n++
		}
	}
	return n
}

// coreTimes reads one core's busy and total time (in ticks) from
// /proc/stat; zeros where it cannot.
func coreTimes(cpu string) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != cpu {
			continue
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
	}
	return busy, total
}
