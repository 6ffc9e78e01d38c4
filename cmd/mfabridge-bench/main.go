// Command mfabridge-bench measures mfabridge (see `make bench`): PAP
// requests per CPU-second against FreeRADIUS's files module on the same
// machine, complete MFA logins with an in-memory provider and with the
// emulated CyberArk tenant over loopback HTTPS, latency against offered
// load, memory per pending conversation, goroutines per request in flight,
// and a soak. It writes docs/benchmarks.md and a latency plot.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "server" {
		if err := runServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "mfabridge-bench server:", err)
			os.Exit(1)
		}
		return
	}
	if done, err := pin(os.Args[1:]); done || err != nil {
		if err != nil {
			fmt.Fprintln(os.Stderr, "mfabridge-bench:", err)
			os.Exit(1)
		}
		return
	}
	// The generator measures; its own garbage collection should not shape
	// the load it offers (a pause sends a burst when it ends).
	debug.SetGCPercent(800)
	if err := runAll(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mfabridge-bench:", err)
		os.Exit(1)
	}
}

// child is a server process under test.
type child struct {
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	addr, debug  string
	pid          int
	name         string
	stderrOutput *strings.Builder
}

// settle is the warm-up before each open-loop measurement: the reply
// cache's lifetime (10 s by default), so that the server holds what it
// holds at that load, not the replies of the heavier run before it.
const settle = 10 * time.Second

// serverCPU is the core servers are pinned to; the load generator runs on
// the other (see pin).
const serverCPU = "0"

// onServerCPU runs a server command on the server's core with one Go
// processor, when the machine has two cores or more.
func onServerCPU(name string, args ...string) *exec.Cmd {
	if os.Getenv("MFB_PINNED") == "" {
		return exec.Command(name, args...)
	}
	cmd := exec.Command("taskset", append([]string{"-c", serverCPU, name}, args...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd
}

// pin re-runs the benchmark on the second core (servers get the first), so
// that the load generator and the server under test do not take turns on
// the same cores; it returns true when it did (and the child's run is
// over).
func pin(args []string) (bool, error) {
	if os.Getenv("MFB_PINNED") != "" || runtime.NumCPU() < 2 {
		return false, nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return false, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1", self}, args...)...)
	cmd.Env = append(os.Environ(), "MFB_PINNED=1", "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return true, cmd.Run()
}

func startChild(name string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := onServerCPU(self, append([]string{"server"}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var errs strings.Builder
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%s did not start: %s", name, errs.String())
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "LISTEN" {
		return nil, fmt.Errorf("%s: unexpected %q", name, line)
	}
	return &child{cmd: cmd, stdin: stdin, addr: f[1], debug: f[3], pid: cmd.Process.Pid, name: name, stderrOutput: &errs}, nil
}

func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) stats() map[string]int64 { return c.numbers("stats") }

func (c *child) latency() map[string]int64 { return c.numbers("latency") }

// resetLatency starts the server's times afresh without reading them (a
// read sorts them all, which would hold up the load running meanwhile).
func (c *child) resetLatency() { c.get("latency?reset=1") }

// numbers reads one of the server's debug pages of JSON numbers (empty when
// it cannot).
func (c *child) numbers(page string) map[string]int64 {
	out := map[string]int64{}
	_ = json.Unmarshal([]byte(c.get(page)), &out)
	return out
}

// saveProfile writes one of the server's pprof profiles to path.
func (c *child) saveProfile(name, path string) {
	resp, err := http.Get("http://" + c.debug + "/debug/pprof/" + name)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if f, err := os.Create(path); err == nil {
		_, _ = io.Copy(f, resp.Body)
		f.Close()
	}
}

// get returns the body of one of the server's debug pages.
func (c *child) get(page string) string {
	resp, err := http.Get("http://" + c.debug + "/" + page)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (c *child) gc() { c.get("gc") }

// measured is a load run with the server's CPU time.
type measured struct {
	loadgen.Result
	CPU time.Duration
}

// PerCPUSecond is requests (packets) answered per CPU-second of the server.
func (m measured) PerCPUSecond() float64 { return float64(m.Packets) / m.CPU.Seconds() }

func load(ctx context.Context, pid int, l loadgen.Load) (measured, error) {
	var (
		before time.Duration
		berr   error
	)
	measure := l.Measure
	l.Measure = func() { // after the warm-up, if any
		if measure != nil {
			measure()
		}
		before, berr = loadgen.CPUTime(pid)
	}
	r, err := loadgen.Run(ctx, l)
	if err == nil {
		err = berr
	}
	if err != nil {
		return measured{}, err
	}
	after, _ := loadgen.CPUTime(pid)
	return measured{Result: r, CPU: after - before}, nil
}

// freeRADIUS runs FreeRADIUS with the files module and one DEFAULT user.
type freeRADIUS struct {
	cmd    *exec.Cmd
	dir    string
	addr   string
	output *strings.Builder
}

func startFreeRADIUS(port int) (*freeRADIUS, error) {
	return startFreeRADIUSWith(port, "  files\n  pap\n", " authenticate {\n  Auth-Type PAP {\n   pap\n  }\n }\n", nil)
}

// startFreeRADIUSWith runs FreeRADIUS with authorize and the rest of a
// virtual server of its own, and mods (name: text) enabled.
func startFreeRADIUSWith(port int, authorize, rest string, mods map[string]string) (*freeRADIUS, error) {
	bin, err := exec.LookPath("freeradius")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mfabridge-bench-freeradius-")
	if err != nil {
		return nil, err
	}
	// FreeRADIUS drops its privileges to freerad after start-up.
	_ = os.Chmod(dir, 0o755)
	if out, err := exec.Command("cp", "-a", "/etc/freeradius/3.0/.", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying /etc/freeradius/3.0: %v: %s", err, out)
	}
	users := filepath.Join(dir, "mods-config/files/authorize")
	old, _ := os.ReadFile(users)
	_ = os.WriteFile(users, append([]byte("DEFAULT Cleartext-Password := \"pw\"\n"), old...), 0o644)
	for name, text := range mods {
		if err := os.WriteFile(filepath.Join(dir, "mods-enabled", name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	// Room for every request it keeps for cleanup_delay (5 s) at the rates
	// measured here: the default of 16384 makes it drop requests above
	// about 3,000 a second.
	conf, _ := os.ReadFile(filepath.Join(dir, "radiusd.conf"))
	_ = os.WriteFile(filepath.Join(dir, "radiusd.conf"), []byte(strings.Replace(string(conf), "\nmax_requests = 16384", "\nmax_requests = 1048576", 1)), 0o644)
	clients, _ := os.ReadFile(filepath.Join(dir, "clients.conf"))
	_ = os.WriteFile(filepath.Join(dir, "clients.conf"), []byte(strings.ReplaceAll(string(clients), "testing123", benchSecret)), 0o644)
	sites, _ := filepath.Glob(filepath.Join(dir, "sites-enabled/*"))
	for _, s := range sites {
		os.Remove(s)
	}
	os.Remove(filepath.Join(dir, "mods-enabled/eap"))
	site := fmt.Sprintf("server bench {\n listen {\n  type = auth\n  ipaddr = 127.0.0.1\n  port = %d\n }\n authorize {\n%s }\n%s post-auth {\n }\n}\n", port, authorize, rest)
	_ = os.WriteFile(filepath.Join(dir, "sites-enabled/bench"), []byte(site), 0o644)
	cmd := onServerCPU(bin, "-f", "-d", dir, "-l", "stdout")
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	fr := &freeRADIUS{cmd: cmd, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port), output: &output}
	// Wait until it answers.
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		r, _ := loadgen.Run(ctx, loadgen.Load{Addr: fr.addr, Secret: benchSecret, Password: benchPassword, Workers: 1, Duration: 300 * time.Millisecond, Timeout: 200 * time.Millisecond, Count: 1})
		cancel()
		if r.Packets > 0 { // answered: a PAP Accept, or a REST login's challenge
			return fr, nil
		}
		time.Sleep(200 * time.Millisecond) // refused at once while it starts
	}
	fr.stop()
	return nil, fmt.Errorf("FreeRADIUS did not answer: %s", output.String())
}

func (f *freeRADIUS) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
	if path := os.Getenv("MFABRIDGE_BENCH_FREERADIUS_LOG"); path != "" {
		_ = os.WriteFile(path, []byte(f.output.String()), 0o644) // what it said, to see why it failed
	}
	os.RemoveAll(f.dir)
}

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, "== "+format+"\n", args...) }
