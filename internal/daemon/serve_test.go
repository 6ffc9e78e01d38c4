package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/internal/totp"
)

const secret = "a-test-secret-0123456789"

// fixture is a tenant and a configuration file for it.
type fixture struct {
	tn   *cyberarktest.Tenant
	dir  string
	file string
	ca   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tn := cyberarktest.New(cyberarktest.Options{Users: []cyberarktest.User{
		{Name: "alice", Password: "alice-pw", Factors: []cyberarktest.Factor{cyberarktest.OATH, cyberarktest.SMS}, OATHSecret: "JBSWY3DPEHPK3PXP"},
	}})
	t.Cleanup(tn.Close)
	f := &fixture{tn: tn, dir: t.TempDir()}
	f.file = filepath.Join(f.dir, "radius.conf")
	f.ca = filepath.Join(f.dir, "ca.pem")
	if err := os.WriteFile(f.ca, tn.Certificate(), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(t, "Access granted.", "")
	return f
}

// write writes the configuration with an accept text and extra lines.
func (f *fixture) write(t *testing.T, accepted, extra string) {
	t.Helper()
	cfg := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
reject_delay = "0s"
[metrics]
enabled = true
listen = "127.0.0.1:0"
[texts]
accepted = %q
[[provider]]
name = "t"
url = %q
ca_file = %q
[[client]]
name = "local"
address = ["127.0.0.1"]
secret = %q
require_message_authenticator = false
%s
`, accepted, f.tn.URL, f.ca, secret, extra)
	if err := os.WriteFile(f.file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// notifySocket is a fake systemd notification socket.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// expect waits for the notification want, skipping watchdog pings.
func expect(t *testing.T, msgs <-chan string, want string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m == want {
				return
			}
			if m != "WATCHDOG=1" {
				t.Fatalf("notification %q, want %q", m, want)
			}
		case <-timeout:
			t.Fatalf("no %q notification", want)
		}
	}
}

func exchange(t *testing.T, addr, user, password string, state []byte) *radius.Packet {
	t.Helper()
	req := radius.New(radius.CodeAccessRequest, []byte(secret))
	_ = rfc2865.UserName_SetString(req, user)
	_ = rfc2865.UserPassword_SetString(req, password)
	if state != nil {
		_ = rfc2865.State_Set(req, state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := radius.Exchange(ctx, req, addr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var reMetrics = regexp.MustCompile(`serving metrics.*addr="?([0-9.]+:[0-9]+)`)

func scrape(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeLifecycle: READY, watchdog pings, a SIGHUP with a valid file
// (put in force; the conversation in progress survives) and with an invalid
// one (the old configuration stays), metrics, and STOPPING.
func TestServeLifecycle(t *testing.T) {
	f := newFixture(t)
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	logs := &bridgetest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := serveUntilReady(t, ctx, ServeOptions{ConfigPath: f.file, Version: "test", Log: logs})
	expect(t, msgs, "READY=1")
	for i := 0; i < 2; i++ { // the watchdog is pinged every 100ms
		select {
		case m := <-msgs:
			if m != "WATCHDOG=1" {
				t.Fatalf("notification %q, want WATCHDOG=1", m)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no watchdog ping:\n%s", logs.String())
		}
	}

	r := exchange(t, addr, "alice", "alice-pw", nil)
	if r.Code != radius.CodeAccessChallenge {
		t.Fatalf("start: %v", r.Code)
	}
	state := rfc2865.State_Get(r)

	f.write(t, "Reloaded.", "")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	expect(t, msgs, "RELOADING=1")
	expect(t, msgs, "READY=1")
	if !strings.Contains(logs.String(), "configuration reloaded") {
		t.Fatalf("no reload in the log:\n%s", logs.String())
	}
	r = exchange(t, addr, "alice", "1", state)
	key, _ := totp.DecodeSecret("JBSWY3DPEHPK3PXP")
	r = exchange(t, addr, "alice", totp.Code(key, time.Now()), rfc2865.State_Get(r))
	if r.Code != radius.CodeAccessAccept || rfc2865.ReplyMessage_GetString(r) != "Reloaded." {
		t.Fatalf("after reload: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}

	f.write(t, "Broken.", "bogus_key = 1")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	expect(t, msgs, "RELOADING=1")
	expect(t, msgs, "READY=1")
	if !strings.Contains(logs.String(), "configuration not reloaded") || !strings.Contains(logs.String(), "bogus_key: unknown key") {
		t.Fatalf("the invalid reload is not logged with its problem:\n%s", logs.String())
	}
	r = exchange(t, addr, "alice", "wrong", nil)
	if r.Code != radius.CodeAccessReject {
		t.Fatalf("serving after an invalid reload: %v", r.Code)
	}

	m := reMetrics.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", logs.String())
	}
	// A request counts as in flight until just after its reply is sent.
	code, body := scrape(t, m[1], "/metrics")
	for deadline := time.Now().Add(time.Second); !strings.Contains(body, "mfabridge_requests_in_flight 0") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		code, body = scrape(t, m[1], "/metrics")
	}
	for _, want := range []string{
		`mfabridge_authentications_total{nas="local",outcome="accept"} 1`,
		`mfabridge_authentications_total{nas="local",outcome="reject"} 1`,
		`mfabridge_config_reloads_total{result="ok"} 1`,
		`mfabridge_config_reloads_total{result="invalid"} 1`,
		`mfabridge_upstream_request_duration_seconds_count{call="StartAuthentication",provider="t",status="200"} 2`,
		`mfabridge_replies_total{code="Access-Challenge"} 2`,
		`mfabridge_requests_in_flight 0`,
		`mfabridge_build_info{version="test"} 1`,
		`mfabridge_login_duration_seconds_count{mechanism="code",outcome="accept"} 1`,
		`mfabridge_provider_up{provider="t"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := scrape(t, m[1], "/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}

	cancel()
	expect(t, msgs, "STOPPING=1")
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	for _, secret := range []string{"alice-pw", secret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}

// TestSocketActivation passes a bound UDP socket as systemd does (fd 3,
// LISTEN_FDS, LISTEN_PID) to `mfabridge serve`, which serves it.
func TestSocketActivation(t *testing.T) {
	f := newFixture(t)
	bin := filepath.Join(t.TempDir(), "mfabridge")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/mfabridge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	file, err := pc.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --config "$1"`, bin, f.file)
	cmd.ExtraFiles = []*os.File{file}
	logs := &bridgetest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	file.Close()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for i := 0; i < 100 && !strings.Contains(logs.String(), "listening for RADIUS"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "socket activation") {
		t.Fatalf("not using the passed socket:\n%s", logs.String())
	}
	if r := exchange(t, addr, "alice", "alice-pw", nil); r.Code != radius.CodeAccessChallenge {
		t.Fatalf("code %v", r.Code)
	}
}

func TestJournalField(t *testing.T) {
	for in, want := range map[string]string{"nas": "NAS", "duration": "DURATION", "state_nas": "STATE_NAS", "locked-for": "LOCKED_FOR", "1x": "X", "": "FIELD"} {
		if got := journalField(in); got != want {
			t.Errorf("journalField(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEndOnHangup: a program in a terminal (the demo) stops when the
// terminal closes (SIGHUP) and lets its port go.
func TestEndOnHangup(t *testing.T) {
	f := newFixture(t)
	logs := &bridgetest.Buffer{}
	addr, done := serveUntilReady(t, context.Background(), ServeOptions{ConfigPath: f.file, Version: "test", Log: logs, EndOnHangup: true})
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after SIGHUP: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still serving after SIGHUP:\n%s", logs.String())
	}
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("the port was not let go: %v", err)
	}
	c.Close()
}

// serveUntilReady runs Serve with o until it is ready, and returns the
// address it answers on and where Serve's end arrives.
func serveUntilReady(t *testing.T, ctx context.Context, o ServeOptions) (string, <-chan error) {
	t.Helper()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	o.Ready = func(c []net.PacketConn) { ready <- c[0].LocalAddr().String() }
	go func() { done <- Serve(ctx, o) }()
	select {
	case addr := <-ready:
		return addr, done
	case err := <-done:
		t.Fatalf("Serve: %v\n%s", err, o.Log.(fmt.Stringer).String())
	}
	return "", done
}
