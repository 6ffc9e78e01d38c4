//go:build linux

package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"golang.org/x/sys/unix"
)

// netns is a network namespace of the test's own, removed at the end.
type netns struct{ name string }

func newNetns(t *testing.T) *netns {
	t.Helper()
	ip := need(t, "ip", "iproute2")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the VPN test makes a network namespace and must run as root in CI")
		}
		t.Skip("the VPN test makes a network namespace: run it as root")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &netns{name: "mfb-e2e-" + hex.EncodeToString(b)}
	if out, err := exec.Command(ip, "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns.name).Run() })
	if out, err := exec.Command(ip, "-n", ns.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	return ns
}

// listenUDP opens a UDP socket inside the namespace; the socket stays there
// while the test process serves it from anywhere.
func (ns *netns) listenUDP(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	type result struct {
		pc  net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // this thread changes namespace; it ends with the goroutine if it cannot come back
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.name)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		pc, err := net.ListenPacket("udp4", addr)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{pc, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listening in %s: %v", ns.name, r.err)
	}
	return r.pc
}

func (ns *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// selfSigned writes a certificate and key for the VPN server and returns
// openconnect's pin of its public key.
func selfSigned(t *testing.T, dir string) (cert, key, pin string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vpn.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	_ = os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(spki)
	return cert, key, "pin-sha256:" + base64.StdEncoding.EncodeToString(sum[:])
}

// vpn is ocserv running in a namespace, checking passwords with RADIUS
// against the bridge at radius.
type vpn struct {
	ns  *netns
	pin string
}

func startOcserv(t *testing.T, ns *netns, radius string) *vpn {
	t.Helper()
	need(t, "ocserv", "ocserv")
	need(t, "openconnect", "openconnect")
	// ocserv's workers run as nobody and must reach its socket: the
	// directory cannot sit inside t.TempDir's private parent.
	dir, err := os.MkdirTemp("", "mfabridge-ocserv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	cert, key, pin := selfSigned(t, dir)
	files := map[string]string{
		"servers": fmt.Sprintf("%s %s\n", strings.Split(radius, ":")[0], demo_secret), // radcli: host only
		"radiusclient.conf": fmt.Sprintf(`nas-identifier ocserv-e2e
authserver %[1]s
acctserver %[1]s
servers %[2]s/servers
dictionary /etc/radcli/dictionary
default_realm
radius_timeout 30
radius_retries 1
bindaddr *
`, radius, dir),
		"ocserv.conf": fmt.Sprintf(`auth = "radius[config=%[1]s/radiusclient.conf]"
listen-host = 127.0.0.1
tcp-port = 4443
socket-file = %[1]s/ocserv.sock
pid-file = %[1]s/ocserv.pid
server-cert = %[2]s
server-key = %[3]s
run-as-user = nobody
run-as-group = nogroup
isolate-workers = false
max-clients = 4
max-same-clients = 4
device = vpns
ipv4-network = 192.0.2.0
ipv4-netmask = 255.255.255.0
use-occtl = false
cisco-client-compat = true
keepalive = 300
dpd = 60
auth-timeout = 120
`, dir, cert, key),
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == "servers" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	cmd := ns.command("ocserv", "-f", "-d", "1", "-c", filepath.Join(dir, "ocserv.conf"))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &bridgetest.Buffer{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logs, sc.Text())
			if !once && strings.Contains(sc.Text(), "listening (TCP)") {
				once = true
				close(ready)
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ocserv log:\n%s", logs.String())
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("ocserv did not start:\n%s", logs.String())
	}
	return &vpn{ns: ns, pin: pin}
}

// openconnect logs in as user, typing input at the prompts. With tunnel it
// goes on to bring the VPN up and stops once it is configured; otherwise it
// only authenticates.
func (v *vpn) openconnect(t *testing.T, user string, tunnel bool, input ...string) (string, bool) {
	t.Helper()
	args := []string{"--servercert", v.pin, "-u", user}
	if tunnel {
		args = append(args, "--script", "/bin/true")
	} else {
		args = append(args, "--authenticate")
	}
	args = append(args, "127.0.0.1:4443")
	cmd := v.ns.command("openconnect", args...)
	cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + "\n")
	var out bridgetest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			ok := err == nil && strings.Contains(out.String(), "COOKIE=")
			return out.String(), ok
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			return out.String(), false
		case <-time.After(100 * time.Millisecond):
			if tunnel && strings.Contains(out.String(), "Configured as ") {
				_ = cmd.Process.Kill()
				<-done
				return out.String(), true
			}
		}
	}
}

// TestOcservOpenConnectWithChallenge: an OpenConnect client logs in to
// ocserv, which asks mfabridge over RADIUS (radcli, no
// Message-Authenticator); the user answers the menu and the code as
// challenges, and the VPN comes up.
func TestOcservOpenConnectWithChallenge(t *testing.T) {
	ns := newNetns(t)
	conn := ns.listenUDP(t, "127.0.0.1:0")
	e := startOn(t, conn, nil)
	v := startOcserv(t, ns, conn.LocalAddr().String())

	out, ok := v.openconnect(t, "alice", false, "alice-password", "1", totpCode(t))
	if !ok {
		t.Fatalf("openconnect --authenticate failed:\n%s", out)
	}
	for _, want := range []string{"Choose how to sign in:", "Enter the code from your authenticator app"} {
		if !strings.Contains(out, want) {
			t.Errorf("openconnect did not show %q:\n%s", want, out)
		}
	}
	if !strings.Contains(e.logs.String(), "authentication accepted") {
		t.Fatal("mfabridge logged no accept")
	}

	out, ok = v.openconnect(t, "bob", true, "bob-password")
	if !ok {
		t.Fatalf("the VPN did not come up for bob (push held):\n%s", out)
	}
	if n := e.demo.Tenant.CountFor("bob", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes for bob, want 1", n)
	}

	out, ok = v.openconnect(t, "alice", false, "alice-password", "1", "000000")
	if ok || !strings.Contains(e.logs.String(), "outcome=reject") {
		t.Fatalf("a wrong code logged in:\n%s", out)
	}
}

// TestOcservPromptModeWithNumberMatching: push = "prompt" with number
// matching through ocserv (radcli) and openconnect: the number to pick
// reaches the user as a challenge, the user approves on the phone and
// presses Enter, which radcli sends as a zero-length User-Password, and
// the login goes on with the same push.
func TestOcservPromptModeWithNumberMatching(t *testing.T) {
	ns := newNetns(t)
	conn := ns.listenUDP(t, "127.0.0.1:0")
	erin := cyberarktest.User{Name: "erin", Password: "erin-password", Factors: []cyberarktest.Factor{cyberarktest.Push}, NumberMatching: true}
	e := startOn(t, conn, func(c *config.Config) { c.Clients[0].Push = config.PushPrompt }, erin)
	v := startOcserv(t, ns, conn.LocalAddr().String())

	cmd := ns.command("openconnect", "--servercert", v.pin, "-u", "erin", "--authenticate", "127.0.0.1:4443")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bridgetest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	_, _ = io.WriteString(stdin, "erin-password\n")
	// The user reads the number, approves it on the phone, presses Enter.
	deadline := time.Now().Add(15 * time.Second)
	number := ""
	for number == "" || !strings.Contains(out.String(), "Pick "+number+" in the app.") {
		if time.Now().After(deadline) {
			t.Fatalf("openconnect showed no number to pick (tenant's %q):\n%s", number, out.String())
		}
		time.Sleep(50 * time.Millisecond)
		number = e.demo.Tenant.LastNumber("erin")
	}
	e.demo.Tenant.Approve("erin")
	_, _ = io.WriteString(stdin, "\n")
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "COOKIE=") {
			t.Fatalf("openconnect --authenticate: %v\n%s\nmfabridge:\n%s", err, out.String(), e.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("openconnect did not finish:\n%s", out.String())
	}
	if n := e.demo.Tenant.CountFor("erin", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}
