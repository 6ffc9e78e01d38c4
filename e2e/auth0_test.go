package e2e

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/internal/daemon"
)

// The RADIUS flows with Auth0 as the provider: menu and typed code, push
// held (with retransmissions) and prompted, inline code.

func TestAuth0MenuAndCode(t *testing.T) {
	e := startAuth0(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	for _, want := range []string{"SMS to XXXXXXXX1234", "Push to Auth0 Guardian", "Authenticator app"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("menu %q lacks %q", r.Message, want)
		}
	}
	r = e.radclient(t, answer("alice", "Authenticator app", r.State)).must(t, "Access-Challenge")
	e.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
}

func TestAuth0SMSCode(t *testing.T) {
	e := startAuth0(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "sms", r.State)).must(t, "Access-Challenge")
	code := e.demo.Auth0.LastCode("alice")
	if code == "" {
		t.Fatal("no SMS sent")
	}
	e.radclient(t, answer("alice", code, r.State)).must(t, "Access-Accept")
}

func TestAuth0WrongPassword(t *testing.T) {
	e := startAuth0(t, nil)
	r := e.radclient(t, pap("alice", "wrong")).must(t, "Access-Reject")
	if r.Message != "Authentication failed." {
		t.Errorf("Reply-Message %q", r.Message)
	}
}

// TestAuth0PushHeldWithRetransmissions: bob's push is approved after 3s
// and polled every 5s; the NAS retransmits meanwhile; one challenge.
func TestAuth0PushHeldWithRetransmissions(t *testing.T) {
	e := startAuth0(t, nil)
	e.radclient(t, pap("bob", "bob-password"), "-t", "2", "-r", "6").must(t, "Access-Accept")
	if n := e.demo.Auth0.Count("/mfa/challenge", ""); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if e.srv.Count("retransmission:absorbed") < 1 {
		t.Error("no retransmission absorbed")
	}
	// Auth0 was polled no faster than every 5 seconds.
	if n := e.demo.Auth0.Count("/oauth/token", "http://auth0.com/oauth/grant-type/mfa-oob"); n > 2 {
		t.Errorf("%d polls for a push approved after 3s, want at most 2", n)
	}
}

func TestAuth0PushPrompt(t *testing.T) {
	e := startAuth0(t, func(c *config.Config) { c.Clients[0].Push = "prompt" })
	r := e.radclient(t, pap("bob", "bob-password")).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "then press Enter") {
		t.Fatalf("prompt %q", r.Message)
	}
	time.Sleep(5200 * time.Millisecond) // approved after 3s; Auth0 may be polled after 5s
	e.radclient(t, answer("bob", "", r.State)).must(t, "Access-Accept")
}

func TestAuth0InlineCode(t *testing.T) {
	e := startAuth0(t, inline)
	e.radclient(t, pap("alice", "alice-password,"+totpCode(t))).must(t, "Access-Accept")
}

// TestTwoProvidersForTwoNAS: one mfabridge, a CyberArk tenant for one NAS
// and an Auth0 tenant for another (a second loopback address).
func TestTwoProvidersForTwoNAS(t *testing.T) {
	ca, err := demo.Start(demo.Options{Listen: "127.0.0.1:0", Phone: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	a0, err := demo.Start(demo.Options{Listen: "127.0.0.1:0", Phone: &bytes.Buffer{}, Provider: "auth0"})
	if err != nil {
		t.Fatal(err)
	}
	defer a0.Close()
	cfg := ca.Config
	cfg.Provider = append(cfg.Provider, a0.Config.Provider[0])
	second := a0.Config.Clients[0]
	second.Name, second.Address, second.Provider = "auth0-nas", []string{"127.0.0.2"}, "demo-auth0"
	second.Prefixes = nil
	cfg.Clients[0].Address = []string{"127.0.0.1"}
	cfg.Clients[0].Prefixes = cfg.Clients[0].Prefixes[:1]
	cfg.Clients = append(cfg.Clients, second)
	cfg.Clients[1].Prefixes = append(cfg.Clients[1].Prefixes, mustPrefix(t, "127.0.0.2/32"))
	srv, err := daemon.NewServer(cfg, daemon.NewLogger(cfg, &bytes.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := bridgetest.Serve(t, srv, nil).Conn

	ask := func(from string) radius.Code {
		t.Helper()
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(from)}, conn.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := radius.New(radius.CodeAccessRequest, []byte(demo.Secret))
		_ = rfc2865.UserName_SetString(req, "alice")
		_ = rfc2865.UserPassword_SetString(req, "alice-password")
		raw, _ := req.Encode()
		_, _ = c.Write(raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		return radius.Code(buf[:n][0])
	}
	if ask("127.0.0.1") != radius.CodeAccessChallenge || ask("127.0.0.2") != radius.CodeAccessChallenge {
		t.Fatal("not both NAS got a challenge")
	}
	if ca.Tenant.CountFor("alice", "/Security/StartAuthentication", "") != 1 {
		t.Error("the CyberArk NAS did not reach the CyberArk tenant")
	}
	if a0.Auth0.Count("/oauth/token", "password") != 1 {
		t.Error("the Auth0 NAS did not reach the Auth0 tenant")
	}
}

// TestAuth0RolesFromClaim: with Auth0 the roles come from the ID token's
// claim; alice (VPN Users) is refused where only Network Admins may log in.
func TestAuth0RolesFromClaim(t *testing.T) {
	e := startAuth0(t, func(c *config.Config) { c.Clients[0].AllowedRoles = []string{"Network Admins"} })
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "Authenticator app", r.State)).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Reject")
	if r.Message != "You are not allowed to use this service." {
		t.Errorf("Reply-Message %q", r.Message)
	}
}
