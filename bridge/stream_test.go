package bridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
)

// serveStream serves l on ts's server until the test ends.
func serveStream(t *testing.T, ts *testServer, l net.Listener, o StreamOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ts.srv.ServeStream(ctx, l, o) }()
	t.Cleanup(func() { cancel(); <-done })
}

// readFrame reads one RADIUS packet off a stream.
func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		t.Fatalf("no reply: %v", err)
	}
	pkt := make([]byte, binary.BigEndian.Uint16(head[2:]))
	copy(pkt, head[:])
	if _, err := io.ReadFull(c, pkt[4:]); err != nil {
		t.Fatal(err)
	}
	return pkt
}

// TestTCPFraming: several packets in one write, a packet split across
// writes, each answered on the connection; a Length that lies closes that
// connection only.
func TestTCPFraming(t *testing.T) {
	ts := startServer(t, accepting(), nil)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveStream(t, ts, l, StreamOptions{IdleTimeout: time.Second})
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r1, w1 := request(t, testSecret, true, papBuild("alice", "pw"))
	r2, w2 := request(t, testSecret, true, papBuild("bob", "pw"))
	_, _ = c.Write(append(append([]byte(nil), w1...), w2...)) // two in one write
	got := map[byte][]byte{}
	for i := 0; i < 2; i++ {
		p := readFrame(t, c)
		got[p[1]] = p
	}
	checkReply(t, r1, w1, got[r1.Identifier])
	checkReply(t, r2, w2, got[r2.Identifier])
	r3, w3 := request(t, testSecret, true, papBuild("carol", "pw"))
	_, _ = c.Write(w3[:7]) // split across writes
	time.Sleep(50 * time.Millisecond)
	_, _ = c.Write(w3[7:])
	if p := checkReply(t, r3, w3, readFrame(t, c)); p.Code != radius.CodeAccessAccept {
		t.Fatal(p.Code)
	}

	// A length field that lies: this connection closes, others go on.
	liar := append([]byte(nil), w3...)
	binary.BigEndian.PutUint16(liar[2:], 5000)
	_, _ = c.Write(liar)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection stayed open after an impossible Length")
	}
	c2, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _ = c2.Write(w1)
	checkReply(t, r1, w1, readFrame(t, c2))
	if ts.srv.Count("drop:"+dropMalformed) != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
	// An idle connection is closed after idle_timeout.
	_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("an idle connection was not closed")
	}
}

// testPKI is a CA with a server and two client certificates, one from
// another CA.
type testPKI struct {
	server, client, stranger tls.Certificate
	pool                     *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	ca, caKey := newCA("test CA")
	other, otherKey := newCA("another CA")
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = leaf(ca, caKey, "mfabridge.test", x509.ExtKeyUsageServerAuth)
	p.client = leaf(ca, caKey, "nas1.test", x509.ExtKeyUsageClientAuth)
	p.stranger = leaf(other, otherKey, "nas1.test", x509.ExtKeyUsageClientAuth)
	return p
}

// TestRadSec: RADIUS over TLS with mutual authentication: the secret is
// "radsec", a challenge conversation works, a certificate from an unknown
// CA is refused at the handshake, and tls_names must match.
func TestRadSec(t *testing.T) {
	pki := newTestPKI(t)
	ts := startServer(t, menuProvider(), func(c *config.Config) { c.Clients[0].TLSNames = []string{"nas1.test"} })
	tl, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	serveStream(t, ts, tl, StreamOptions{TLS: true})
	dial := func(cert tls.Certificate) (*tls.Conn, error) {
		c, err := tls.Dial("tcp4", tl.Addr().String(), &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pki.pool, ServerName: "mfabridge.test"})
		if err != nil {
			return nil, err
		}
		return c, c.Handshake()
	}
	c, err := dial(pki.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(build func(*radius.Packet)) *radius.Packet {
		req, raw := request(t, radsecSecret, true, build)
		_, _ = c.Write(raw)
		reply := readFrame(t, c)
		if !radius.IsAuthenticResponse(reply, raw, []byte(radsecSecret)) {
			t.Fatal("the reply is not authentic under the radsec secret")
		}
		p, err := radius.Parse(reply, []byte(radsecSecret))
		if err != nil || p.Identifier != req.Identifier {
			t.Fatal(err)
		}
		return p
	}
	r := exchange(papBuild("alice", "pw"))
	r = exchange(papBuild("alice", "1", func(p *radius.Packet) { _ = rfc2865.State_Set(p, rfc2865.State_Get(r)) }))
	if r = exchange(papBuild("alice", "123456", func(p *radius.Packet) { _ = rfc2865.State_Set(p, rfc2865.State_Get(r)) })); r.Code != radius.CodeAccessAccept {
		t.Fatalf("conversation over TLS: %v", r.Code)
	}
	// A certificate of another CA: refused at the handshake.
	if s, err := dial(pki.stranger); err == nil {
		_ = s.SetReadDeadline(time.Now().Add(time.Second))
		if _, rerr := s.Read(make([]byte, 1)); rerr == nil {
			t.Fatal("a stranger's certificate was accepted")
		}
		s.Close()
	}
}

// TestRadSecNamesMustMatch: a trusted certificate that names another NAS
// is refused.
func TestRadSecNamesMustMatch(t *testing.T) {
	pki := newTestPKI(t)
	ts := startServer(t, accepting(), func(c *config.Config) { c.Clients[0].TLSNames = []string{"vpn-*.example.com"} })
	tl, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	serveStream(t, ts, tl, StreamOptions{TLS: true})
	c, err := tls.Dial("tcp4", tl.Addr().String(), &tls.Config{Certificates: []tls.Certificate{pki.client}, RootCAs: pki.pool, ServerName: "mfabridge.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, raw := request(t, radsecSecret, true, papBuild("alice", "pw"))
	_, _ = c.Write(raw)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a certificate naming another NAS was served")
	}
}
