package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"mfabridge"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfig(t *testing.T) {
	code, out, _ := runCmd("check-config", "--config", "../../radius.conf.example")
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("example: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "radius.conf")
	os.WriteFile(bad, []byte("[server]\nlisten = [\"127.0.0.1\"]\nbogus = 1\n"), 0o600)
	code, _, errOut := runCmd("check-config", "--config", bad)
	if code != config.ExitConfig {
		t.Fatalf("exit %d, want %d (EX_CONFIG)", code, config.ExitConfig)
	}
	for _, want := range []string{bad + ":2: server.listen[0]", bad + ":3: server.bogus: unknown key", "client: no [[client]] is configured"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if code, _, errOut := runCmd("check-config", "--config", "/nonexistent/radius.conf"); code != config.ExitConfig || !strings.Contains(errOut, "cannot read") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "mfabridge ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd("frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, _ := runCmd(); code != 2 {
		t.Errorf("no command: %d", code)
	}
}

func TestDemoPrintConfig(t *testing.T) {
	code, out, _ := runCmd("demo", "--print-config", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "require_message_authenticator = false") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

var reListening = regexp.MustCompile(`listening for RADIUS.*addr="?([0-9.]+:[0-9]+)`)

// TestServe runs `mfabridge serve` on a configuration file against an
// emulated tenant, and stops it.
func TestServe(t *testing.T) {
	tn := cyberarktest.New(cyberarktest.Options{Users: []cyberarktest.User{{Name: "bob", Password: "bob-pw", Factors: []cyberarktest.Factor{cyberarktest.Push}, AutoApprove: 100 * time.Millisecond}}})
	defer tn.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, tn.Certificate(), 0o600)
	cfg := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
[[provider]]
name = "t"
url = %q
ca_file = %q
[[client]]
name = "local"
address = ["127.0.0.1"]
secret = "a-test-secret-0123456789"
require_message_authenticator = false
`, tn.URL, ca)
	file := filepath.Join(dir, "radius.conf")
	os.WriteFile(file, []byte(cfg), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	logs := &bridgetest.Buffer{}
	done := make(chan int)
	sock := filepath.Join(dir, "control.sock")
	go func() {
		done <- run(ctx, []string{"mfabridge", "serve", "--config", file, "--control", sock}, strings.NewReader(""), &bytes.Buffer{}, logs)
	}()
	var addr string
	for i := 0; i < 100 && addr == ""; i++ {
		time.Sleep(20 * time.Millisecond)
		if m := reListening.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("not listening:\n%s", logs.String())
	}
	req := radius.New(radius.CodeAccessRequest, []byte("a-test-secret-0123456789"))
	rfc2865.UserName_SetString(req, "bob")
	rfc2865.UserPassword_SetString(req, "bob-pw")
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	// A live trace of bob while he logs in.
	tctx, tcancel := context.WithCancel(context.Background())
	var traced bytes.Buffer
	traceDone := make(chan int)
	go func() {
		traceDone <- runTrace(tctx, []string{"--socket", sock, "--user", "BOB"}, &traced, &bytes.Buffer{})
	}()
	time.Sleep(200 * time.Millisecond)
	resp, err := radius.Exchange(rctx, req, addr)
	if err != nil || resp.Code != radius.CodeAccessAccept {
		t.Fatalf("exchange: %v %v\n%s", err, resp, logs.String())
	}
	time.Sleep(100 * time.Millisecond)
	tcancel()
	<-traceDone
	if tr := traced.String(); !strings.Contains(tr, "local/bob Access-Request") || !strings.Contains(tr, "Access-Accept after") || strings.Contains(tr, "bob-pw") {
		t.Errorf("trace:\n%s", tr)
	}

	// Runtime control.
	ctl := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := runCtl(append([]string{"--socket", sock}, args...), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := ctl("status"); code != 0 || !strings.Contains(out, `"config": "`+file+`"`) || !strings.Contains(out, `"t": "ok"`) {
		t.Errorf("ctl status: %d\n%s", code, out)
	}
	if code, out := ctl("log-level", "debug"); code != 0 || !strings.Contains(out, "debug") {
		t.Errorf("ctl log-level: %d %s", code, out)
	}
	if code, out := ctl("sessions"); code != 0 || !strings.Contains(out, "USER") {
		t.Errorf("ctl sessions: %d %s", code, out)
	}
	bad := radius.New(radius.CodeAccessRequest, []byte("a-test-secret-0123456789"))
	rfc2865.UserName_SetString(bad, "bob")
	rfc2865.UserPassword_SetString(bad, "wrong")
	if resp, err := radius.Exchange(rctx, bad, addr); err != nil || resp.Code != radius.CodeAccessReject {
		t.Fatalf("a wrong password: %v %v", err, resp)
	}
	if code, out := ctl("lockouts"); code != 0 || !strings.Contains(out, "user    bob") {
		t.Errorf("ctl lockouts after a failure: %d\n%s", code, out)
	}
	if code, out := ctl("unlock", "carol"); code != 0 || !strings.Contains(out, "carol") {
		t.Errorf("ctl unlock: %d %s", code, out)
	}
	if code, out := ctl("frobnicate"); code != 1 || !strings.Contains(out, "unknown command") {
		t.Errorf("ctl frobnicate: %d %s", code, out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, logs.String())
	}
	if strings.Contains(logs.String(), "bob-pw") {
		t.Fatal("the log holds the password")
	}
}

// TestDemoOnATakenPortSaysWhatToDo: the demo's address is in use (another
// RADIUS server); the error says how to run it elsewhere.
func TestDemoOnATakenPortSaysWhatToDo(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"mfabridge", "demo", "--listen", c.LocalAddr().String()}, strings.NewReader(""), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "mfabridge demo --listen") {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
}

// TestServeWithABadConfigExitsWithExConfig: a configuration in error at
// start is exit status 78, which the unit's RestartPreventExitStatus keeps
// systemd from restarting forever, with the problems on standard error
// (so in systemctl status).
func TestServeWithABadConfigExitsWithExConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "radius.conf")
	_ = os.WriteFile(bad, []byte("[server]\nbogus = 1\n"), 0o600)
	code, _, errOut := runCmd("serve", "--config", bad)
	if code != config.ExitConfig || !strings.Contains(errOut, bad+":2: server.bogus: unknown key") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

// TestDoctor: a reachable tenant with good credentials passes; a tenant
// that refuses connections fails with the reason, exit 1.
func TestDoctor(t *testing.T) {
	tn := cyberarktest.New(cyberarktest.Options{})
	defer tn.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(ca, tn.Certificate(), 0o600)
	write := func(url string) string {
		f := filepath.Join(dir, "radius.conf")
		_ = os.WriteFile(f, []byte(fmt.Sprintf("[[provider]]\nname = \"corp\"\nurl = %q\nca_file = %q\n\n[[client]]\nname = \"vpn\"\naddress = [\"192.0.2.10\"]\nsecret = \"a-long-random-shared-secret\"\nnas_type = \"radsecproxy\"\n", url, ca)), 0o600)
		return f
	}
	code, out, errOut := runCmd("doctor", "--config", write(tn.URL))
	if code != 0 || !strings.Contains(out, "corp") || !strings.Contains(out, "ok, answered in") || !strings.Contains(out, "vpn          ok") {
		t.Fatalf("a good set-up: exit %d\n%s%s", code, out, errOut)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "https://" + l.Addr().String()
	l.Close()
	code, out, _ = runCmd("doctor", "--config", write(dead))
	if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "connection refused") {
		t.Fatalf("a dead tenant: exit %d\n%s", code, out)
	}
}
