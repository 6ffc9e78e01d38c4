package bridge

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// capturePC is a net.PacketConn that records what is written.
type capturePC struct {
	mu      sync.Mutex
	written [][]byte
}

func (c *capturePC) ReadFrom([]byte) (int, net.Addr, error) { select {} }
func (c *capturePC) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, append([]byte(nil), b...))
	return len(b), nil
}
func (c *capturePC) Close() error                     { return nil }
func (c *capturePC) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1812} }
func (c *capturePC) SetDeadline(time.Time) error      { return nil }
func (c *capturePC) SetReadDeadline(time.Time) error  { return nil }
func (c *capturePC) SetWriteDeadline(time.Time) error { return nil }
func (c *capturePC) replies() [][]byte                { c.mu.Lock(); defer c.mu.Unlock(); return c.written }
func quietLogger() *logrus.Logger                     { l := logrus.New(); l.SetOutput(discardWriter{}); return l }

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func fuzzServer(f interface{ Fatal(...any) }, require bool) *Server {
	cfg := testConfig()
	cfg.Clients[0].RequireMessageAuthenticator = &require
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": menuProvider()}, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	return srv
}

func seedPackets(f *testing.F) {
	for _, withMA := range []bool{true, false} {
		p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		_ = rfc2865.UserName_SetString(p, "alice")
		_ = rfc2865.UserPassword_SetString(p, "pw")
		p.Add(typeProxyState, radius.Attribute("proxy"))
		if withMA {
			p.Attributes = append(radius.Attributes{{Type: typeMessageAuthenticator, Attribute: make([]byte, 16)}}, p.Attributes...)
			raw, _ := p.MarshalBinary()
			copy(p.Attributes[0].Attribute, msgauth.Compute(raw, 22, []byte(testSecret)))
		}
		raw, _ := p.Encode()
		f.Add(raw)
	}
	st := radius.New(radius.CodeStatusServer, []byte(testSecret))
	st.Add(typeMessageAuthenticator, make(radius.Attribute, 16))
	raw, _ := st.MarshalBinary()
	copy(st.Attributes[0].Attribute, msgauth.Compute(raw, 22, []byte(testSecret)))
	raw, _ = st.Encode()
	f.Add(raw)
	f.Add([]byte{1, 2, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
}

// FuzzPacket sends arbitrary datagrams through the server's packet path.
// Whatever arrives, the server does not panic, and every reply it sends is
// an authentic response whose first attribute is Message-Authenticator.
func FuzzPacket(f *testing.F) {
	seedPackets(f)
	srv := fuzzServer(f, false)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	f.Fuzz(func(t *testing.T, datagram []byte) {
		pc := &capturePC{}
		if job := srv.dispatch(context.Background(), pc, "fuzz", append([]byte(nil), datagram...), from, time.Time{}); job != nil {
			job()
		}
		srv.inFlight.Wait()
		for _, r := range pc.replies() {
			if !radius.IsAuthenticResponse(r, datagram, []byte(testSecret)) {
				t.Fatalf("reply is not an authentic response to % x", datagram)
			}
			if len(r) < 38 || r[20] != byte(typeMessageAuthenticator) {
				t.Fatal("reply does not start with Message-Authenticator")
			}
		}
	})
}

// pipeConn is one end of a net.Pipe that says it comes from the test NAS's
// address (the stream transport finds the client by it).
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001} }
func (pipeConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2083} }

// FuzzStreamFraming sends an arbitrary byte stream over a TCP connection
// (RFC 6613 framing). The server does not panic, does not hang, and every
// reply it writes is a whole packet that authentically answers a request
// the stream held.
func FuzzStreamFraming(f *testing.F) {
	seedPackets(f)
	var two []byte
	for _, s := range []string{"alice", "bob"} {
		_, raw := request(&testing.T{}, testSecret, true, papBuild(s, "pw"))
		two = append(two, raw...)
	}
	f.Add(two)
	f.Add(append(append([]byte(nil), two...), 1, 9, 0xff, 0xff)) // then a Length that lies
	cfg := testConfig()
	no, zero := false, 0
	cfg.Clients[0].RequireMessageAuthenticator = &no
	cfg.Lockout.Attempts = &zero // failures would slow every later input down
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": menuProvider()}, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var perClient sync.Map
			srv.serveStreamConn(context.Background(), pipeConn{server}, StreamOptions{IdleTimeout: 20 * time.Millisecond, MaxConnections: 1, MaxPerClient: 1}, "tcp", &perClient)
		}()
		var replies [][]byte
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			for {
				var head [4]byte
				if _, err := io.ReadFull(client, head[:]); err != nil {
					return
				}
				pkt := make([]byte, binary.BigEndian.Uint16(head[2:]))
				if len(pkt) < 4 {
					t.Errorf("a reply with Length %d", len(pkt))
					return
				}
				copy(pkt, head[:])
				if _, err := io.ReadFull(client, pkt[4:]); err != nil {
					t.Errorf("a reply cut short: %v", err)
					return
				}
				replies = append(replies, pkt)
			}
		}()
		_, _ = client.Write(stream)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the stream connection did not end")
		}
		srv.inFlight.Wait()
		client.Close()
		<-readDone
		// The requests the stream held, framed as the server frames them.
		var requests [][]byte
		for rest := stream; len(rest) >= 20; {
			n := int(binary.BigEndian.Uint16(rest[2:4]))
			if n < 20 || n > radius.MaxPacketLength || n > len(rest) {
				break
			}
			requests, rest = append(requests, rest[:n]), rest[n:]
		}
		for _, r := range replies {
			ok := false
			for _, q := range requests {
				ok = ok || (q[1] == r[1] && radius.IsAuthenticResponse(r, q, []byte(testSecret)))
			}
			if !ok {
				t.Fatalf("a reply that answers no request of the stream: % x", r)
			}
		}
	})
}
