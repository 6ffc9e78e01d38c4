package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/transport"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// writePKI writes a CA, a server certificate for mfabridge and a client
// certificate for the NAS side into dir, in PEM.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	for i, name := range []string{"mfabridge", "nas"} {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		usage := x509.ExtKeyUsageServerAuth
		if name == "nas" {
			usage = x509.ExtKeyUsageClientAuth
		}
		tpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name + ".e2e"}, DNSNames: []string{name + ".e2e"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		write(name+".pem", "CERTIFICATE", der)
		kd, _ := x509.MarshalECPrivateKey(k)
		write(name+".key", "EC PRIVATE KEY", kd)
	}
}

// TestRadsecproxyTLS: radclient -> radsecproxy (UDP in, RADIUS over TLS
// out, with its client certificate) -> mfabridge's RadSec listener: a
// challenge conversation, a held push, and a retransmission.
func TestRadsecproxyTLS(t *testing.T) {
	bin := need(t, "radsecproxy", "radsecproxy")
	e := start(t, nil)
	dir := t.TempDir()
	tlsPort := serveTLS(t, e, dir)

	udp := freeUDPPort(t)
	conf := fmt.Sprintf(`ListenUDP 127.0.0.1:%d
LogLevel 3
LogDestination file:///%s/radsecproxy.log
client nas {
    type udp
    host 127.0.0.1
    secret %s
}
tls default {
    CACertificateFile %s/ca.pem
    CertificateFile %s/nas.pem
    CertificateKeyFile %s/nas.key
}
server mfabridge {
    type tls
    host 127.0.0.1
    port %d
    secret radsec
    CertificateNameCheck off
}
realm * {
    server mfabridge
}
`, udp, strings.TrimPrefix(dir, "/"), demo.Secret, dir, dir, dir, tlsPort)
	if err := os.WriteFile(filepath.Join(dir, "radsecproxy.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-c", filepath.Join(dir, "radsecproxy.conf"), "-i", filepath.Join(dir, "radsecproxy.pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "radsecproxy.log"))
			t.Logf("radsecproxy log:\n%s", b)
		}
	})
	time.Sleep(500 * time.Millisecond)
	proxy := &bridgeEnv{demo: e.demo, srv: e.srv, addr: fmt.Sprintf("127.0.0.1:%d", udp), logs: e.logs}
	r := proxy.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = proxy.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	proxy.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
	// A held push (the demo approves after 3 s), radclient retransmitting.
	proxy.radclient(t, pap("bob", "bob-password"), "-t", "2", "-r", "4").must(t, "Access-Accept")
	if n := e.demo.Tenant.CountFor("bob", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes through radsecproxy, want 1", n)
	}
	if !strings.Contains(e.logs.String(), "transport=tls") {
		t.Errorf("no TLS connection in mfabridge's log")
	}
}

// TestRadclientOverTCP: radclient -P tcp (RFC 6613) logs in through
// mfabridge's TCP listener: a challenge conversation.
func TestRadclientOverTCP(t *testing.T) {
	e := start(t, nil)
	tcp := &bridgeEnv{demo: e.demo, srv: e.srv, addr: fmt.Sprintf("127.0.0.1:%d", serveTCP(t, e)), logs: e.logs}
	r := tcp.radclient(t, pap("alice", "alice-password"), "-P", "tcp").must(t, "Access-Challenge")
	r = tcp.radclient(t, answer("alice", "1", r.State), "-P", "tcp").must(t, "Access-Challenge")
	tcp.radclient(t, answer("alice", totpCode(t), r.State), "-P", "tcp").must(t, "Access-Accept")
	if !strings.Contains(e.logs.String(), "transport=tcp") {
		t.Errorf("no TCP connection in mfabridge's log")
	}
}

// serverPKI writes the PKI to dir and returns mfabridge's certificate and
// the pool of the NAS's CA.
func serverPKI(t *testing.T, dir string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	writePKI(t, dir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "mfabridge.pem"), filepath.Join(dir, "mfabridge.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return cert, pool
}

// serveTLS serves e over RADIUS/TLS with the PKI it writes to dir (the
// NAS's certificate is nas.pem, nas.key), and returns the port.
func serveTLS(t *testing.T, e *bridgeEnv, dir string) int {
	t.Helper()
	cert, pool := serverPKI(t, dir)
	tl, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	return serveStream(t, e, tl, bridge.StreamOptions{TLS: true})
}

// serveTCP serves e over RADIUS/TCP and returns the port.
func serveTCP(t *testing.T, e *bridgeEnv) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveStream(t, e, l, bridge.StreamOptions{})
}

func serveStream(t *testing.T, e *bridgeEnv, l net.Listener, o bridge.StreamOptions) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.srv.ServeStream(ctx, l, o) }()
	t.Cleanup(func() { cancel(); <-done })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return atoi(t, port)
}

// tlsHomeServer is docs/radsec.md's FreeRADIUS recipe: mfabridge as a
// RadSec home server ($DIR is FreeRADIUS's configuration directory).
const tlsHomeServer = `
home_server mfabridge {
	type = auth
	ipaddr = 127.0.0.1
	port = %d
	proto = tcp
	secret = radsec
	response_window = 20
	status_check = none
	tls {
		private_key_file = $DIR/nas.key
		certificate_file = $DIR/nas.pem
		ca_file = $DIR/ca.pem
		fragment_size = 8192
		check_crl = no
	}
}
`

// tcpHomeServer is the same over plain TCP (RFC 6613).
const tcpHomeServer = `
home_server mfabridge {
	type = auth
	ipaddr = 127.0.0.1
	port = %d
	proto = tcp
	secret = %s
	response_window = 20
	status_check = none
}
`

// TestFreeRADIUSOverTLSAndTCP: FreeRADIUS 3.2 from Debian proxies to
// mfabridge as a RadSec client (a home_server with proto = tcp and a tls
// section) and over plain TCP: a challenge login, and a held push with
// radclient retransmitting to the proxy (one push).
func TestFreeRADIUSOverTLSAndTCP(t *testing.T) {
	for _, transport := range []string{"tls", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			e := start(t, nil)
			var px *bridgeEnv
			if transport == "tls" {
				dir := t.TempDir()
				port := serveTLS(t, e, dir)
				px = freeradiusProxyTo(t, e, fmt.Sprintf(tlsHomeServer, port), map[string]string{
					"nas.key": filepath.Join(dir, "nas.key"), "nas.pem": filepath.Join(dir, "nas.pem"), "ca.pem": filepath.Join(dir, "ca.pem"),
				})
			} else {
				px = freeradiusProxyTo(t, e, fmt.Sprintf(tcpHomeServer, serveTCP(t, e), demo.Secret), nil)
			}
			r := px.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
			r = px.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
			px.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
			px.radclient(t, pap("bob", "bob-password"), "-t", "2", "-r", "4").must(t, "Access-Accept")
			if n := e.demo.Tenant.CountFor("bob", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
				t.Fatalf("%d pushes through FreeRADIUS over %s, want 1", n, transport)
			}
			if !strings.Contains(e.logs.String(), "transport="+transport) {
				t.Errorf("no %s connection in mfabridge's log:\n%s", transport, e.logs.String())
			}
		})
	}
}

// serveDTLS serves e over RADIUS/DTLS with the PKI it writes to dir, and
// returns the UDP port.
func serveDTLS(t *testing.T, e *bridgeEnv, dir string) int {
	t.Helper()
	cert, pool := serverPKI(t, dir)
	port := freeUDPPort(t)
	l, err := transport.ListenDTLS(fmt.Sprintf("127.0.0.1:%d", port), func() (*tls.Certificate, error) { return &cert, nil }, pool)
	if err != nil {
		t.Fatal(err)
	}
	serveStream(t, e, l, bridge.StreamOptions{DTLS: true})
	return port
}

// TestOpenSSLOverDTLS: OpenSSL's DTLS client (openssl s_client -dtls1_2,
// from Debian) with a NAS certificate carries a RADIUS Access-Request to
// mfabridge over DTLS (RFC 7360, the secret "radius/dtls") and gets its
// Access-Challenge back, authentic. (Debian's radsecproxy is built
// without DTLS: radsecproxy -v lists UDP, TCP and TLS; FreeRADIUS 3.2 has
// no DTLS client.)
func TestOpenSSLOverDTLS(t *testing.T) {
	bin := need(t, "openssl", "openssl")
	e := start(t, nil)
	dir := t.TempDir()
	port := serveDTLS(t, e, dir)
	req := radius.New(radius.CodeAccessRequest, []byte("radius/dtls"))
	_ = rfc2865.UserName_SetString(req, "alice")
	_ = rfc2865.UserPassword_SetString(req, "alice-password")
	raw, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "s_client", "-dtls1_2", "-quiet", "-ign_eof", "-connect", fmt.Sprintf("127.0.0.1:%d", port),
		"-cert", filepath.Join(dir, "nas.pem"), "-key", filepath.Join(dir, "nas.key"), "-CAfile", filepath.Join(dir, "ca.pem"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bridgetest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(500 * time.Millisecond) // the handshake
	if _, err := stdin.Write(raw); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := stdout.Read(buf)
		got <- buf[:n]
	}()
	select {
	case b := <-got:
		reply, err := radius.Parse(b, []byte("radius/dtls"))
		if err != nil || reply.Code != radius.CodeAccessChallenge || !radius.IsAuthenticResponse(b, raw, []byte("radius/dtls")) {
			t.Fatalf("reply %v %v (%d bytes)\nopenssl:\n%s", reply, err, len(b), stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply over DTLS\nopenssl:\n%s\nmfabridge:\n%s", stderr.String(), e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "transport=dtls") {
		t.Errorf("no DTLS association in mfabridge's log:\n%s", e.logs.String())
	}
}
