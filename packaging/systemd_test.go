package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// container is a Debian 12 root booted with systemd-nspawn: a real
// systemd 252 as PID 1, in a network namespace of its own.
type container struct {
	t      *testing.T
	nspawn *exec.Cmd
	init   int // the container's PID 1, as the host sees it
	out    strings.Builder
}

// boot starts systemd in root and waits until it runs.
func boot(t *testing.T, root string) *container {
	t.Helper()
	bin := need(t, "systemd-nspawn", "systemd-container")
	c := &container{t: t}
	// No machined or D-Bus on the host (its PID 1 need not be systemd):
	// --register=no and --keep-unit keep nspawn from asking for them.
	c.nspawn = exec.Command(bin, "--boot", "--register=no", "--keep-unit", "--private-network", "--quiet", "-D", root, "--machine", "mfb-"+strconv.Itoa(os.Getpid()))
	c.nspawn.Stdout, c.nspawn.Stderr = &c.out, &c.out
	c.nspawn.Stdin = nil
	c.nspawn.WaitDelay = 5 * time.Second
	if err := c.nspawn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for c.init == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the container's systemd did not start:\n%s", c.out.String())
		}
		time.Sleep(100 * time.Millisecond)
		if out, err := exec.Command("pgrep", "-P", strconv.Itoa(c.nspawn.Process.Pid)).Output(); err == nil {
			c.init, _ = strconv.Atoi(strings.Fields(string(out))[0])
		}
	}
	for {
		out, _ := c.run("systemctl", "is-system-running", "--wait")
		if s := strings.TrimSpace(out); s == "running" || s == "degraded" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd in the container is %q:\n%s", out, c.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// run runs a command inside the container (all its namespaces).
func (c *container) run(args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.init), "-a"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must is run that fails the test on an error.
func (c *container) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *container) stop() {
	if c.init != 0 {
		_, _ = c.run("systemctl", "poweroff")
	}
	done := make(chan struct{})
	go func() { _ = c.nspawn.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.nspawn.Process.Kill()
		<-done
	}
}

// show returns the unit's properties, as systemctl show prints them.
func (c *container) show(props ...string) map[string]string {
	c.t.Helper()
	out := c.must("systemctl", "show", "mfabridge", "-p", strings.Join(props, ","))
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// bootedConfig is a configuration mfabridge starts with, in front of a
// tenant that refuses connections (nothing listens on port 9).
const bootedConfig = `[server]
listen = ["127.0.0.1:1812"]

[metrics]
enabled = true
listen = "127.0.0.1:9812"

[[provider]]
name = "corp"
url = "https://127.0.0.1:9"

[[client]]
name = "vpn"
address = ["127.0.0.1"]
secret = "a-long-random-shared-secret-0123"
`

// TestUnitUnderBootedSystemd installs the package into a Debian 12 root
// and boots it with systemd-nspawn, so that the unit's behaviours are
// those of a real systemd 252, not read from the unit file: a config
// error at start leaves the unit failed (exit 78, no restart loop) with the
// file:line problems in systemctl status; a running mfabridge in front of
// a tenant that is down is not ready (/readyz 503, with the reason); the
// journal has warnings at warning priority and the rest below; and a
// reload with an invalid file fails visibly while the service runs on.
func TestUnitUnderBootedSystemd(t *testing.T) {
	asRoot(t, "boots a container with systemd-nspawn")
	need(t, "systemd-nspawn", "systemd-container")
	need(t, "nsenter", "util-linux")
	deb := buildDeb(t, "0.1.0~boot1")
	root := debianRoot(t, "systemd", "systemd-sysv", "dbus", "curl")
	installDeb(t, root, deb)
	c := boot(t, root)

	// The shipped configuration still holds its placeholders.
	if out, err := c.run("systemctl", "start", "mfabridge"); err == nil {
		t.Fatalf("mfabridge started with the shipped placeholders:\n%s", out)
	}
	time.Sleep(5 * time.Second) // past RestartSec twice: a restart loop would show
	p := c.show("ActiveState", "NRestarts", "ExecMainStatus")
	if p["ActiveState"] != "failed" || p["NRestarts"] != "0" || p["ExecMainStatus"] != "78" {
		t.Fatalf("after a config error: %v (want failed, no restart, exit 78)", p)
	}
	status, _ := c.run("systemctl", "status", "mfabridge", "--no-pager", "-l", "-n", "20")
	if !strings.Contains(status, "/etc/mfabridge/radius.conf:") || !strings.Contains(status, "placeholder") {
		t.Fatalf("systemctl status does not show the problems:\n%s", status)
	}

	conf := filepath.Join(root, "etc", "mfabridge", "radius.conf")
	if err := os.WriteFile(conf, []byte(bootedConfig), 0o640); err != nil {
		t.Fatal(err)
	}
	c.must("systemctl", "reset-failed", "mfabridge")
	c.must("systemctl", "start", "mfabridge") // Type=notify: returns once READY=1
	var ready string
	for deadline := time.Now().Add(15 * time.Second); ; {
		ready, _ = c.run("curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:9812/readyz")
		if strings.HasSuffix(ready, "503") && strings.Contains(ready, "corp") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the tenant down:\n%s", ready)
		}
		time.Sleep(500 * time.Millisecond)
	}
	warnings := c.must("journalctl", "-u", "mfabridge", "-p", "warning", "--no-pager", "-o", "cat")
	all := c.must("journalctl", "-u", "mfabridge", "--no-pager", "-o", "cat")
	if !strings.Contains(warnings, "corp") || !strings.Contains(all, "listening for RADIUS") || strings.Contains(warnings, "listening for RADIUS") {
		t.Fatalf("journal priorities: at warning and above:\n%s\nall:\n%s", warnings, all)
	}

	if err := os.WriteFile(conf, []byte(bootedConfig+"\n[server\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := c.run("systemctl", "reload", "mfabridge"); err == nil {
		t.Fatalf("systemctl reload succeeded with an invalid file:\n%s", out)
	}
	if p := c.show("ActiveState", "SubState"); p["ActiveState"] != "active" {
		t.Fatalf("after a failed reload: %v, want the service running on", p)
	}
}
