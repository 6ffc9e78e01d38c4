package bridge

import (
	"crypto/tls"
	"encoding/binary"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/transport"
)

// v11Request is a RADIUS/1.1 Access-Request: Token, reserved fields zero,
// User-Password in the clear, no Message-Authenticator (no packaged
// client offers RADIUS/1.1, so the test writes its packets itself).
func v11Request(t *testing.T, token uint32, user, password string, state []byte) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, nil)
	p.Add(rfc2865.UserName_Type, radius.Attribute(user))
	p.Add(rfc2865.UserPassword_Type, radius.Attribute(password))
	if state != nil {
		p.Add(rfc2865.State_Type, state)
	}
	raw, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	raw[1] = 0
	binary.BigEndian.PutUint32(raw[4:8], token)
	clear(raw[8:20])
	return raw
}

// TestRADIUS11: a NAS that offers ALPN "radius/1.1" gets RADIUS/1.1: its
// Tokens come back in the replies, the reserved fields are zero, no
// Message-Authenticator is sent, and its clear User-Password is checked;
// one that offers "radius/1.0", or no ALPN, gets historic RADIUS/TLS; and
// with versions = ["1.1"] a NAS without RADIUS/1.1 is closed.
func TestRADIUS11(t *testing.T) {
	pki := newTestPKI(t)
	serve := func(t *testing.T, alpn []string, require bool) string {
		ts := startServer(t, menuProvider(), func(c *config.Config) {})
		tl, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, NextProtos: alpn})
		if err != nil {
			t.Fatal(err)
		}
		serveStream(t, ts, tl, StreamOptions{TLS: true, RequireV11: require})
		return tl.Addr().String()
	}
	dial := func(t *testing.T, addr string, alpn ...string) *tls.Conn {
		c, err := tls.Dial("tcp4", addr, &tls.Config{Certificates: []tls.Certificate{pki.client}, RootCAs: pki.pool, ServerName: "mfabridge.test", NextProtos: alpn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	both := []string{transport.ALPN11, transport.ALPN10}

	t.Run("negotiated", func(t *testing.T) {
		c := dial(t, serve(t, both, false), transport.ALPN11, transport.ALPN10)
		if p := c.ConnectionState().NegotiatedProtocol; p != transport.ALPN11 {
			t.Fatalf("ALPN %q", p)
		}
		exchange := func(token uint32, password string, state []byte) *radius.Packet {
			t.Helper()
			_, _ = c.Write(v11Request(t, token, "alice", password, state))
			reply := readFrame(t, c)
			if got := binary.BigEndian.Uint32(reply[4:8]); got != token || reply[1] != 0 || !allZero(reply[8:20]) {
				t.Fatalf("reply header % x: want Token %08x and zero reserved fields", reply[:20], token)
			}
			if off, _ := msgauth.Find(reply); off >= 0 {
				t.Fatal("a RADIUS/1.1 reply carries Message-Authenticator")
			}
			p, err := radius.Parse(reply, nil)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		r := exchange(0xfffffffe, "pw", nil)
		if r.Code != radius.CodeAccessChallenge {
			t.Fatalf("password: %v", r.Code)
		}
		r = exchange(0xffffffff, "1", rfc2865.State_Get(r))
		if r = exchange(0, "123456", rfc2865.State_Get(r)); r.Code != radius.CodeAccessAccept {
			t.Fatalf("code: %v", r.Code)
		}
	})
	t.Run("radius/1.0 and no ALPN fall back", func(t *testing.T) {
		addr := serve(t, both, false)
		for _, alpn := range [][]string{{transport.ALPN10}, nil} {
			c := dial(t, addr, alpn...)
			if p := c.ConnectionState().NegotiatedProtocol; p == transport.ALPN11 {
				t.Fatalf("offered %v, got %q", alpn, p)
			}
			req, raw := request(t, radsecSecret, true, papBuild("alice", "pw"))
			_, _ = c.Write(raw)
			reply := readFrame(t, c)
			if !radius.IsAuthenticResponse(reply, raw, []byte(radsecSecret)) || reply[1] != req.Identifier {
				t.Fatalf("offered %v: not a historic reply", alpn)
			}
		}
	})
	t.Run("required", func(t *testing.T) {
		c := dial(t, serve(t, []string{transport.ALPN11}, true))
		_, raw := request(t, radsecSecret, true, papBuild("alice", "pw"))
		_, _ = c.Write(raw)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a NAS without RADIUS/1.1 was answered where it is required")
		}
	})
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
