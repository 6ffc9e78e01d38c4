package e2e

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

// pair is two mfabridge instances sharing one Redis and one tenant.
type pair struct {
	a, b  *bridgeEnv
	redis *redistest.Server
}

func startPair(t *testing.T, mutate func(*config.Config), extra ...cyberarktest.User) *pair {
	t.Helper()
	rs := redistest.Start(t)
	d, err := demo.Start(demo.Options{Listen: "127.0.0.1:0", LogLevel: "debug", Phone: &bytes.Buffer{}, ExtraUsers: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.Config.Sessions.Store = "redis"
	d.Config.Redis.Address = []string{rs.Addr}
	d.Config.Redis.KeyPrefix = redistest.Prefix()
	if mutate != nil {
		mutate(d.Config)
	}
	listen := func() net.PacketConn {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return &pair{a: serve(t, d, listen()), b: serve(t, d, listen()), redis: rs}
}

// refusedAtA logs in at instance A and wants the login refused because
// Redis cannot be reached: a Reject that says the service is not
// available, and line in A's log.
func (p *pair) refusedAtA(t *testing.T, line string) {
	t.Helper()
	got := p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Reject")
	if !strings.Contains(got.Message, "not available") {
		t.Errorf("Reply-Message %q", got.Message)
	}
	if !strings.Contains(p.a.logs.String(), line) {
		t.Errorf("no clear log line %q:\n%s", line, p.a.logs.String())
	}
}

// TestHAChallengeAnsweredAtTheOtherInstance: the NAS fails over between
// instances in the middle of a conversation.
func TestHAChallengeAnsweredAtTheOtherInstance(t *testing.T) {
	p := startPair(t, nil)
	r := p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = p.b.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	p.a.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
	// A State is used once across both.
	p.b.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Reject")
}

// TestHARetransmissionToBothInstances: the same datagram reaches both
// instances (a load balancer spreading a NAS's retransmissions); the
// provider sees one login and one push, and both answer alike.
func TestHARetransmissionToBothInstances(t *testing.T) {
	p := startPair(t, nil)
	req := radius.New(radius.CodeAccessRequest, []byte(demo_secret))
	_ = rfc2865.UserName_SetString(req, "bob")
	_ = rfc2865.UserPassword_SetString(req, "bob-password")
	wire, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addrA, _ := net.ResolveUDPAddr("udp4", p.a.addr)
	addrB, _ := net.ResolveUDPAddr("udp4", p.b.addr)
	send := func(to *net.UDPAddr) { _, _ = conn.WriteToUDP(wire, to) }
	send(addrA)
	time.Sleep(300 * time.Millisecond)
	send(addrB) // while A holds the push
	replies := map[string][]byte{}
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 4096)
	for len(replies) < 1 && time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(deadline)
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		replies[from.String()] = append([]byte(nil), buf[:n]...)
	}
	first, ok := replies[p.a.addr]
	if !ok || radius.Code(first[0]) != radius.CodeAccessAccept {
		t.Fatalf("instance A did not accept: %v", replies)
	}
	if _, ok := replies[p.b.addr]; ok {
		t.Fatal("instance B answered a request A was still processing")
	}
	// Now the retransmission reaches B again: it answers from the shared
	// cache with A's reply, byte for byte.
	send(addrB)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil || from.String() != p.b.addr || !bytes.Equal(buf[:n], first) {
		t.Fatalf("B's answer: %v from %v, same as A's: %v", err, from, bytes.Equal(buf[:n], first))
	}
	tn := p.a.demo.Tenant
	if n := tn.CountFor("bob", "/Security/StartAuthentication", ""); n != 1 {
		t.Fatalf("%d logins started, want 1", n)
	}
	if n := tn.CountFor("bob", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if p.b.srv.Count("retransmission:replayed") != 1 {
		t.Errorf("B's counts %v", p.b.srv.Counts())
	}
}

// TestHARedisStoppedAndRestarted: while Redis is down new logins are
// refused with a clear log and nothing panics; when it is back, logins work
// again without a restart.
func TestHARedisStoppedAndRestarted(t *testing.T) {
	p := startPair(t, nil)
	r := p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	p.redis.Stop()
	got := p.b.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Reject")
	if !strings.Contains(got.Message, "not available") {
		t.Errorf("Reply-Message %q", got.Message)
	}
	p.refusedAtA(t, "session store not reachable")
	p.redis.Restart()
	time.Sleep(1100 * time.Millisecond) // the readiness check is cached for a second
	r = p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = p.b.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	p.a.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
}

// TestHARedisHangs: a Redis that stops answering with its connections
// open (a stalled host or VM) is given up on within a few redis.timeout:
// a login is refused with the clear message while the NAS still waits,
// not left unanswered, and logins work again when Redis answers.
func TestHARedisHangs(t *testing.T) {
	p := startPair(t, func(c *config.Config) { c.Redis.Timeout.Duration = 500 * time.Millisecond })
	// Logins at once, so that the connection to Redis is pipelined as it
	// is under load (one alone is sent and read with a deadline of its own).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := p.a.radclient(t, pap("alice", "alice-password")); r.Code != "Access-Challenge" {
				t.Errorf("before the hang: %q; radclient said:\n%s", r.Code, r.Raw)
			}
		})
	}
	wg.Wait()
	p.redis.Pause()
	// radclient waits 5 s: the Reject (after its reject_delay) comes
	// within them.
	p.refusedAtA(t, "the shared store is not reachable")
	p.redis.Resume()
	time.Sleep(1100 * time.Millisecond) // the readiness check is cached for a second
	p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
}

// TestHARedisDownWithMemoryFallback: with redis.fallback = "memory" an
// instance goes on serving its own conversations while Redis is down.
func TestHARedisDownWithMemoryFallback(t *testing.T) {
	p := startPair(t, func(c *config.Config) { c.Redis.Fallback = "memory" })
	p.redis.Stop()
	r := p.a.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = p.a.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	p.a.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
	if !strings.Contains(p.a.logs.String(), "kept in this instance's memory") {
		t.Errorf("no log of the fallback:\n%s", p.a.logs.String())
	}
}

// TestHAPamFailoverSendsOnePush: pam_radius_auth gives up on the first
// instance after its timeout (3 s, the least pam_radius_auth 2.0 waits)
// while the push is held there, and asks the second with a new Identifier
// and Authenticator. The second joins the login under way at the first
// (through Redis): one push; the first stays silent (pam_radius_auth 2.0
// ends the login on a late answer to the request it gave up) and the
// second answers when the push is approved.
func TestHAPamFailoverSendsOnePush(t *testing.T) {
	p := startPair(t, nil, cyberarktest.User{Name: "carol", Password: "carol-password", Factors: []cyberarktest.Factor{cyberarktest.Push}, AutoApprove: 5 * time.Second})
	svc := pamServiceFor(t, fmt.Sprintf("%s %s 3\n%s %s 10\n", p.a.addr, demo_secret, p.b.addr, demo_secret))
	out, ok := pamtester(t, svc, "carol", "carol-password")
	if !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
	tn := p.a.demo.Tenant
	if n := tn.CountFor("carol", "/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes for one login with a failover, want 1", n)
	}
	if p.b.srv.Count("retransmission:joined") != 1 {
		t.Errorf("the second instance did not join the login: %v", p.b.srv.Counts())
	}
}
