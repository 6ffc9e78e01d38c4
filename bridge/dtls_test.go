package bridge

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/transport"
)

// TestDTLS: RADIUS over DTLS (RFC 7360) with a DTLS client: the secret is
// "radius/dtls", a challenge conversation works, a held push is answered
// once though the request is sent twice (a retransmission within the
// association), and a certificate from an unknown CA gets nothing.
func TestDTLS(t *testing.T) {
	pki := newTestPKI(t)
	var pushes atomic.Int32
	menu := identitytest.Menu()
	start := menu.OnStart
	p := &identitytest.Scripted{
		OnStart: func(ctx context.Context, req identity.Request) (identity.Step, error) {
			if req.User != "bob" {
				return start(ctx, req)
			}
			pushes.Add(1)
			time.Sleep(300 * time.Millisecond) // the user approves
			return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: "bob"}}, nil
		},
		OnAdvance: menu.OnAdvance,
	}
	ts := startServer(t, p, func(c *config.Config) { c.Clients[0].TLSNames = []string{"nas1.test"} })
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := udp.LocalAddr().String()
	udp.Close()
	l, err := transport.ListenDTLS(addr, func() (*tls.Certificate, error) { return &pki.server, nil }, pki.pool)
	if err != nil {
		t.Fatal(err)
	}
	serveStream(t, ts, l, StreamOptions{DTLS: true})
	dial := func(cert tls.Certificate) (*dtls.Conn, error) {
		raddr, _ := net.ResolveUDPAddr("udp4", addr)
		c, err := dtls.DialWithOptions("udp4", raddr, dtls.WithCertificates(cert), dtls.WithRootCAs(pki.pool), dtls.WithServerName("mfabridge.test"))
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c, c.HandshakeContext(ctx)
	}
	c, err := dial(pki.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(raw []byte) *radius.Packet {
		t.Helper()
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !radius.IsAuthenticResponse(buf[:n], raw, []byte(dtlsSecret)) {
			t.Fatal("the reply is not authentic under the radius/dtls secret")
		}
		r, err := radius.Parse(buf[:n], []byte(dtlsSecret))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	exchange := func(build func(*radius.Packet)) *radius.Packet {
		t.Helper()
		_, raw := request(t, dtlsSecret, true, build)
		_, _ = c.Write(raw)
		return read(raw)
	}
	r := exchange(papBuild("alice", "pw"))
	r = exchange(papBuild("alice", "1", func(p *radius.Packet) { _ = rfc2865.State_Set(p, rfc2865.State_Get(r)) }))
	if r = exchange(papBuild("alice", "123456", func(p *radius.Packet) { _ = rfc2865.State_Set(p, rfc2865.State_Get(r)) })); r.Code != radius.CodeAccessAccept {
		t.Fatalf("conversation over DTLS: %v", r.Code)
	}
	// A held push, and the same request again while it is held.
	_, raw := request(t, dtlsSecret, true, papBuild("bob", "pw"))
	_, _ = c.Write(raw)
	time.Sleep(50 * time.Millisecond)
	_, _ = c.Write(raw)
	if r := read(raw); r.Code != radius.CodeAccessAccept {
		t.Fatalf("held push: %v", r.Code)
	}
	if n := pushes.Load(); n != 1 {
		t.Fatalf("%d pushes for one request sent twice", n)
	}
	// A certificate of another CA: no association.
	if s, err := dial(pki.stranger); err == nil {
		_, raw := request(t, dtlsSecret, true, papBuild("alice", "pw"))
		_, _ = s.Write(raw)
		_ = s.SetReadDeadline(time.Now().Add(time.Second))
		if _, rerr := s.Read(make([]byte, 64)); rerr == nil {
			t.Fatal("a stranger's certificate was answered")
		}
		s.Close()
	}
}
