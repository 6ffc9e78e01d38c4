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
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// storm is one push storm: n users whose pushes are approved after a
// delay, all at once, against the emulated tenant over HTTPS.
type storm struct {
	users                                 int
	approveAfter, latency                 time.Duration
	firstSend, challenged, rejected, lost int
	p50, p99                              time.Duration
	goroutinesPerHeld                     float64
	bytesPerHeld                          float64
	heldAtPeak                            int64
	pollsPerSecond                        float64
	tenantConns                           int
	codeP99, codeIdleP99                  time.Duration
}

// measureStorm runs a push storm of n users, with other users' code
// logins going on at a low rate during it, and the same code logins on
// the idle server before it for comparison.
func measureStorm(ctx context.Context, n int, approveAfter, latency time.Duration) (storm, error) {
	s := storm{users: n, approveAfter: approveAfter, latency: latency}
	var users []cyberarktest.User
	for i := 0; i < 1000; i++ {
		users = append(users, cyberarktest.User{Name: fmt.Sprintf("user%d", i), Password: benchPassword, Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: oathSecret})
	}
	for i := 0; i < n; i++ {
		users = append(users, cyberarktest.User{Name: fmt.Sprintf("push%d", i), Password: benchPassword, Factors: []cyberarktest.Factor{cyberarktest.Push}, AutoApprove: approveAfter})
	}
	tn := cyberarktest.New(cyberarktest.Options{Users: users})
	defer tn.Close()
	for _, path := range []string{"/Security/StartAuthentication", "/Security/AdvanceAuthentication"} {
		tn.Inject(path, cyberarktest.Fault{Delay: latency})
	}
	ca := filepath.Join(os.TempDir(), "mfabridge-bench-storm-tenant.pem")
	if err := os.WriteFile(ca, tn.Certificate(), 0o600); err != nil {
		return s, err
	}
	defer os.Remove(ca)
	c, err := startChild("storm", "-mode", "http", "-tenant", tn.URL, "-ca", ca)
	if err != nil {
		return s, err
	}
	defer c.stop()
	code := func(d time.Duration) (time.Duration, error) {
		m, err := load(ctx, c.pid, loadgen.Load{Addr: c.addr, Secret: benchSecret, Password: benchPassword, MFA: true, Code: currentCode, Workers: 4, Rate: 20, Duration: d, WithMA: true, Timeout: 30 * time.Second})
		return m.Quantile("request", .99), err
	}
	if s.codeIdleP99, err = code(3 * time.Second); err != nil {
		return s, err
	}
	c.gc()
	base := c.stats()
	polls0 := tn.Count("/Security/AdvanceAuthentication", "Poll")
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		first     atomic.Int64
		challenge atomic.Int64
		rejected  atomic.Int64
	)
	began := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(user string) {
			defer wg.Done()
			t0 := time.Now()
			codeOf, err := pushLogin(c.addr, user, 20*time.Second)
			if err != nil {
				return // lost: no answer to the first send
			}
			switch codeOf {
			case radius.CodeAccessAccept:
				first.Add(1)
				mu.Lock()
				latencies = append(latencies, time.Since(t0))
				mu.Unlock()
			case radius.CodeAccessChallenge: // "approve, then press Enter"
				challenge.Add(1)
			default:
				rejected.Add(1)
			}
		}(fmt.Sprintf("push%d", i))
	}
	// While the pushes are held: the server's cost per held push, its
	// connections to the tenant, and other users' code logins.
	time.Sleep(approveAfter / 2)
	peak := c.stats()
	s.heldAtPeak = peak["held"] + peak["in_flight"]
	if s.heldAtPeak > 0 {
		s.goroutinesPerHeld = float64(peak["goroutines"]-base["goroutines"]) / float64(s.heldAtPeak)
		s.bytesPerHeld = float64(peak["rss"]-base["rss"]) / float64(s.heldAtPeak)
	}
	s.tenantConns = connectionsTo(c.pid, tn.URL)
	s.codeP99, _ = code(approveAfter / 2)
	wg.Wait()
	took := time.Since(began)
	s.pollsPerSecond = float64(tn.Count("/Security/AdvanceAuthentication", "Poll")-polls0) / took.Seconds()
	s.firstSend, s.challenged, s.rejected = int(first.Load()), int(challenge.Load()), int(rejected.Load())
	s.lost = n - s.firstSend - s.challenged - s.rejected
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		s.p50, s.p99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	}
	return s, nil
}

// pushLogin sends one Access-Request and waits for its answer, with no
// retransmission: what a NAS gets for its first send.
func pushLogin(addr, user string, wait time.Duration) (radius.Code, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	p := radius.New(radius.CodeAccessRequest, []byte(benchSecret))
	_ = rfc2865.UserName_SetString(p, user)
	_ = rfc2865.UserPassword_SetString(p, benchPassword)
	wire, err := msgauth.Encode(p)
	if err != nil {
		return 0, err
	}
	if _, err := conn.Write(wire); err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return 0, err
	}
	r, err := radius.Parse(buf[:n], []byte(benchSecret))
	if err != nil {
		return 0, err
	}
	return r.Code, nil
}

// connectionsTo counts pid's established TCP connections to the tenant at
// url (from /proc/<pid>/net/tcp).
func connectionsTo(pid int, url string) int {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
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
		if len(fields) > 3 && strings.HasSuffix(fields[2], want) && fields[3] == "01" {
			n++
		}
	}
	return n
}
