package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
)

// radiuspluginConf is docs/nas.md's radiusplugin.cnf: PAP to mfabridge,
// wait=30 (nas_type = "openvpn"), and accounting to mfabridge too.
const radiuspluginConf = `NAS-Identifier=OpenVpn
Service-Type=5
Framed-Protocol=1
NAS-Port-Type=5
NAS-IP-Address=127.0.0.1
OpenVPNConfig=%s
subnet=255.255.255.0
overwriteccfiles=false
server
{
	acctport=%d
	authport=%d
	name=127.0.0.1
	retry=1
	wait=30
	sharedsecret=%s
}
`

// openvpnServerConf is the recipe's server: the client's password is
// checked by radiusplugin alone (no client certificate), with time for a
// push (hand-window 90).
const openvpnServerConf = `dev tun
proto udp
local 127.0.0.1
port 11940
topology subnet
server 10.99.0.0 255.255.255.0
ca %[1]s
cert %[1]s
key %[2]s
dh none
verify-client-cert none
username-as-common-name
plugin /usr/lib/openvpn/radiusplugin.so %[3]s
hand-window 90
reneg-sec 0
verb 3
`

const openvpnClientConf = `client
dev tun
proto udp
remote 127.0.0.1 11940
nobind
ca %s
auth-user-pass %s
verb 3
`

// TestOpenVPNRadiusPluginInlinePushAndAccounting: OpenVPN 2.6 with
// radiusplugin 2.1 (Debian) in front of mfabridge, as docs/nas.md sets it
// up: the user types the factor after the password ("bob-password,push"),
// the push is held (radiusplugin cannot show a challenge), the VPN comes
// up, and radiusplugin's accounting, which fails the connection when
// nobody answers it, is answered and logged by mfabridge.
func TestOpenVPNRadiusPluginInlinePushAndAccounting(t *testing.T) {
	need(t, "openvpn", "openvpn")
	if _, err := os.Stat("/usr/lib/openvpn/radiusplugin.so"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("radiusplugin.so is not installed (Debian package openvpn-auth-radius); .ci/run must install it")
		}
		t.Skip("radiusplugin.so is not installed: run 'make test' (it installs openvpn-auth-radius)")
	}
	ns := newNetns(t)
	// radiusplugin 2.1 reads four digits of a port at the most (it sent
	// authport=31812 to 3181): the namespace is the test's own, so the
	// standard ports are free.
	conn := ns.listenUDP(t, "127.0.0.1:1812")
	acct := ns.listenUDP(t, "127.0.0.1:1813")
	e := startOn(t, conn, func(c *config.Config) {
		c.Clients[0].Push = config.PushWait
		c.Clients[0].NASWait.Duration = config.NASTypes["openvpn"]
		c.Clients[0].Accounting = true
	})
	e.srv.ServeAccounting([]net.PacketConn{acct})
	bridgetest.Serve(t, e.srv, acct)

	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir)
	server, plugin := filepath.Join(dir, "server.conf"), filepath.Join(dir, "radiusplugin.cnf")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(plugin, fmt.Sprintf(radiuspluginConf, server, acct.LocalAddr().(*net.UDPAddr).Port, conn.LocalAddr().(*net.UDPAddr).Port, demo.Secret))
	write(server, fmt.Sprintf(openvpnServerConf, cert, key, plugin))
	creds, client := filepath.Join(dir, "creds"), filepath.Join(dir, "client.conf")
	write(creds, "bob\nbob-password,push\n")
	write(client, fmt.Sprintf(openvpnClientConf, cert, creds))

	var serverOut, clientOut bridgetest.Buffer
	srv := ns.command("openvpn", "--config", server, "--cd", dir)
	srv.Stdout, srv.Stderr = &serverOut, &serverOut
	// radiusplugin forks a background process that keeps the output open:
	// kill the whole group, and stop waiting for the output soon after.
	srv.SysProcAttr, srv.WaitDelay = &syscall.SysProcAttr{Setpgid: true}, 2*time.Second
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("OpenVPN server:\n%s", serverOut.String())
		}
	})
	waitFor(t, &serverOut, "Initialization Sequence Completed", 15*time.Second)
	cli := ns.command("openvpn", "--config", client, "--cd", dir)
	cli.Stdout, cli.Stderr = &clientOut, &clientOut
	cli.WaitDelay = 2 * time.Second
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.Process.Kill()
		_ = cli.Wait()
		if t.Failed() {
			t.Logf("OpenVPN client:\n%s", clientOut.String())
		}
	})
	waitFor(t, &clientOut, "Initialization Sequence Completed", 40*time.Second)
	if n := e.demo.Tenant.CountFor("bob", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes for bob, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.logs.String(), `msg="accounting Start"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no accounting Start from radiusplugin:\n%s", e.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "user=bob") || strings.Contains(serverOut.String(), "Accounting failed") {
		t.Fatalf("accounting:\n%s\nserver:\n%s", e.logs.String(), serverOut.String())
	}
}

// waitFor waits until out holds want.
func waitFor(t *testing.T, out *bridgetest.Buffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v:\n%s", want, within, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
