package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

// udpHomeServer is what docs/nas.md's FreeRADIUS recipe adds to
// proxy.conf: the stock home_server timing (response_window = 20) and
// status_check = none, the set-up in which a slow push used to mark
// mfabridge dead.
const udpHomeServer = `
home_server mfabridge {
	type = auth
	ipaddr = 127.0.0.1
	port = %d
	secret = %s
	response_window = 20
	status_check = none
}
`

// proxyConf sends every request to the home server "mfabridge".
const proxyConf = `
home_server_pool mfabridge_pool {
	type = fail-over
	home_server = mfabridge
}
realm mfabridge {
	auth_pool = mfabridge_pool
	nostrip
}
`

// proxySite is the recipe's virtual server: every Access-Request goes to
// mfabridge.
const proxySite = `
server mfa-proxy {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = %d
	}
	authorize {
		update control {
			&Proxy-To-Realm := "mfabridge"
		}
	}
	authenticate {
	}
}
`

// freeradiusProxy runs FreeRADIUS 3.2 from Debian as a proxy in front of
// mfabridge over UDP, configured as docs/nas.md says, and returns an
// environment whose radclient talks to the proxy.
func freeradiusProxy(t *testing.T, e *bridgeEnv) *bridgeEnv {
	t.Helper()
	_, port, _ := net.SplitHostPort(e.addr)
	return freeradiusProxyTo(t, e, fmt.Sprintf(udpHomeServer, atoi(t, port), demo_secret), nil)
}

// freeradiusProxyTo runs FreeRADIUS as a proxy to the home_server block
// homeServer (named mfabridge), with files copied into its configuration
// directory, and returns an environment whose radclient talks to it.
func freeradiusProxyTo(t *testing.T, e *bridgeEnv, homeServer string, files map[string]string) *bridgeEnv {
	t.Helper()
	bin := need(t, "freeradius", "freeradius")
	// FreeRADIUS drops its privileges to freerad after start-up: its
	// directory must be one freerad can reach (t.TempDir's parent is
	// private to root).
	dir, err := os.MkdirTemp("", "mfabridge-e2e-freeradius-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	if out, err := exec.Command("cp", "-a", "/etc/freeradius/3.0/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying /etc/freeradius/3.0: %v: %s", err, out)
	}
	sites, _ := filepath.Glob(filepath.Join(dir, "sites-enabled", "*"))
	for _, s := range sites {
		os.Remove(s)
	}
	os.Remove(filepath.Join(dir, "mods-enabled", "eap")) // needs certificates it does not have here
	for name, from := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		// Read by freerad: FreeRADIUS drops its privileges.
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "proxy.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, strings.ReplaceAll(homeServer, "$DIR", dir)+proxyConf)
	f.Close()
	listen := freeUDPPort(t)
	if err := os.WriteFile(filepath.Join(dir, "sites-enabled", "mfa-proxy"), []byte(fmt.Sprintf(proxySite, listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bridgetest.Buffer
	cmd := exec.Command(bin, "-f", "-d", dir, "-l", "stdout")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("FreeRADIUS said:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Ready to process requests") {
		if time.Now().After(deadline) {
			t.Fatalf("FreeRADIUS did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	px := *e
	px.addr = fmt.Sprintf("127.0.0.1:%d", listen)
	return &px
}

// TestFreeRADIUSProxyCarriesTheConversation: radclient -> FreeRADIUS 3.2
// (proxy) -> mfabridge: the challenges, their State and the proxy's
// Proxy-State go through, and the code is accepted.
func TestFreeRADIUSProxyCarriesTheConversation(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Clients[0].NASWait.Duration = config.NASTypes["freeradius-proxy"]
		// FreeRADIUS signs what it proxies: the recipe keeps the check on.
		on := true
		c.Clients[0].RequireMessageAuthenticator = &on
	})
	px := freeradiusProxy(t, e)
	r := px.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "1) OATH OTP Client") {
		t.Errorf("menu through the proxy: %q", r.Message)
	}
	r = px.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	px.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
	if strings.Contains(e.logs.String(), "dropped") {
		t.Errorf("mfabridge dropped a proxied packet:\n%s", e.logs.String())
	}
}

// TestFreeRADIUSProxySlowPushNeverTimesOut: behind the stock FreeRADIUS
// proxy (response_window = 20), a push approved after 20 s used to be
// accepted by mfabridge while the proxy had given up. With nas_type =
// "freeradius-proxy" the held push is answered with a challenge before the
// proxy's window ends; the user approves, presses Enter and is in, with
// one push, and mfabridge's "accepted" is an answer the NAS got in time.
func TestFreeRADIUSProxySlowPushNeverTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 seconds")
	}
	slow := cyberarktest.User{Name: "dana", Password: "dana-password", Factors: []cyberarktest.Factor{cyberarktest.Push}}
	e := start(t, func(c *config.Config) { c.Clients[0].NASWait.Duration = config.NASTypes["freeradius-proxy"] }, slow)
	px := freeradiusProxy(t, e)
	began := time.Now()
	r := px.radclient(t, pap("dana", "dana-password"), "-t", "30", "-r", "1").must(t, "Access-Challenge")
	if d := time.Since(began); d >= 20*time.Second {
		t.Fatalf("answered after %v, past the proxy's response_window", d)
	}
	if !strings.Contains(r.Message, "press Enter") {
		t.Errorf("Reply-Message %q", r.Message)
	}
	e.demo.Tenant.Approve("dana")
	px.radclient(t, answer("dana", "", r.State)).must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if strings.Contains(e.logs.String(), "late=true") {
		t.Errorf("an answer left after the proxy's window:\n%s", e.logs.String())
	}
}

// freeUDPPort is a UDP port of 127.0.0.1 free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
