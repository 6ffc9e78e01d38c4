package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/internal/daemon"
	"github.com/mfabridge/mfabridge/internal/totp"
)

// need returns the path of a program the test needs. Outside CI a missing
// program skips the test; in CI it fails it.
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (Debian package %s); .ci/run must install it", program, pkg)
	}
	t.Skipf("%s is not installed: run 'make test' (it installs the Debian package %s) to run this test", program, pkg)
	return ""
}

// bridgeEnv is a running demo tenant with a bridge in front of it.
type bridgeEnv struct {
	demo *demo.Demo
	srv  *bridge.Server
	addr string
	logs *bridgetest.Buffer
}

// start runs the demo configuration on a free loopback port; mutate may
// change the configuration first, and extra users join the tenant.
func start(t *testing.T, mutate func(*config.Config), extra ...cyberarktest.User) *bridgeEnv {
	t.Helper()
	return launch(t, demo.Options{ExtraUsers: extra}, mutate, nil)
}

// startAuth0 is start with the demo's Auth0 tenant.
func startAuth0(t *testing.T, mutate func(*config.Config)) *bridgeEnv {
	t.Helper()
	return launch(t, demo.Options{Provider: "auth0"}, mutate, nil)
}

// startOn is start on a socket of the caller's.
func startOn(t *testing.T, conn net.PacketConn, mutate func(*config.Config), extra ...cyberarktest.User) *bridgeEnv {
	t.Helper()
	return launch(t, demo.Options{ExtraUsers: extra}, mutate, conn)
}

func launch(t *testing.T, o demo.Options, mutate func(*config.Config), conn net.PacketConn) *bridgeEnv {
	t.Helper()
	o.Listen, o.LogLevel, o.Phone = "127.0.0.1:0", "debug", &bytes.Buffer{}
	d, err := demo.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if mutate != nil {
		mutate(d.Config)
	}
	if conn == nil {
		if conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	return serve(t, d, conn)
}

func serve(t *testing.T, d *demo.Demo, conn net.PacketConn) *bridgeEnv {
	t.Helper()
	logs := &bridgetest.Buffer{}
	log := daemon.NewLogger(d.Config, logs)
	log.SetLevel(logrus.DebugLevel)
	srv, err := daemon.NewServer(d.Config, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mfabridge log:\n%s", logs.String())
		}
	})
	served := bridgetest.Serve(t, srv, conn)
	return &bridgeEnv{demo: d, srv: srv, addr: served.Addr.String(), logs: logs}
}

// reply is what radclient printed of one answer.
type reply struct {
	Code    string // Access-Accept, Access-Reject, Access-Challenge or "" (no answer)
	State   string // as radclient writes it: 0x...
	Message string // the Reply-Messages joined
	Raw     string
}

var (
	reCode  = regexp.MustCompile(`Received (Access-\w+) Id`)
	reState = regexp.MustCompile(`State = (0x[0-9a-f]+)`)
	reMsg   = regexp.MustCompile(`Reply-Message = "((?:[^"\\]|\\.)*)"`)
)

// radclient sends one Access-Request with attrs (radclient's input syntax,
// comma separated) and returns the answer. extra are more radclient flags.
func (e *bridgeEnv) radclient(t *testing.T, attrs string, extra ...string) reply {
	t.Helper()
	bin := need(t, "radclient", "freeradius-utils")
	args := append([]string{"-x", "-t", "5", "-r", "1"}, extra...)
	args = append(args, e.addr, "auth", demo.Secret)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(attrs + "\n")
	out, _ := cmd.CombinedOutput() // radclient exits 1 on anything but Accept
	return parseReply(string(out))
}

// parseReply reads radclient -x output: the last answer received.
func parseReply(out string) reply {
	r := reply{Raw: out}
	i := strings.LastIndex(out, "Received ")
	if i < 0 {
		return r
	}
	received := out[i:]
	if m := reCode.FindStringSubmatch(received); m != nil {
		r.Code = m[1]
	}
	if m := reState.FindStringSubmatch(received); m != nil {
		r.State = m[1]
	}
	var msgs []string
	for _, m := range reMsg.FindAllStringSubmatch(received, -1) {
		msgs = append(msgs, strings.ReplaceAll(m[1], `\n`, "\n"))
	}
	r.Message = strings.Join(msgs, "")
	return r
}

func (r reply) must(t *testing.T, code string) reply {
	t.Helper()
	if r.Code != code {
		t.Fatalf("got %q, want %s; radclient said:\n%s", r.Code, code, r.Raw)
	}
	return r
}

// stateText decodes radclient's 0x... State.
func stateText(t *testing.T, s string) string {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// totpCode is alice's current code.
func totpCode(t *testing.T) string {
	t.Helper()
	key, err := totp.DecodeSecret(demo.OATHSecret)
	if err != nil {
		t.Fatal(err)
	}
	return totp.Code(key, time.Now())
}

func pap(user, password string) string {
	return fmt.Sprintf("User-Name = %q, User-Password = %q", user, password)
}

func answer(user, input, state string) string {
	return fmt.Sprintf("User-Name = %q, User-Password = %q, State = %s", user, input, state)
}

const demo_secret = demo.Secret

// radclientSecret is radclient with another shared secret.
func (e *bridgeEnv) radclientSecret(t *testing.T, attrs, secret string) reply {
	t.Helper()
	return e.radclientCmd(t, attrs, "auth", secret, "-t", "1", "-r", "1")
}

// radclientCmd runs radclient with a command (auth, status) and secret.
func (e *bridgeEnv) radclientCmd(t *testing.T, attrs, command, secret string, extra ...string) reply {
	t.Helper()
	bin := need(t, "radclient", "freeradius-utils")
	args := append([]string{"-x", "-t", "3", "-r", "1"}, extra...)
	args = append(args, e.addr, command, secret)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(attrs + "\n")
	out, _ := cmd.CombinedOutput()
	return parseReply(string(out))
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
