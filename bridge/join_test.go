package bridge

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/redistest"
)

// heldPush is a provider whose Start holds like a held push until release
// is closed, then accepts the password "right".
type heldPush struct {
	starts  atomic.Int32
	release chan struct{}
}

func (h *heldPush) Name() string { return "scripted" }
func (h *heldPush) Start(ctx context.Context, req identity.Request) (identity.Step, error) {
	h.starts.Add(1)
	select {
	case <-h.release:
	case <-ctx.Done():
		return identity.Step{}, ctx.Err()
	}
	if req.Password != "right" {
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}
	return identity.Step{Status: identity.Accepted}, nil
}
func (h *heldPush) Advance(context.Context, identity.Txn, identity.Input) (identity.Step, error) {
	return identity.Step{}, identity.ErrBadInput
}

// startShared starts a bridge whose reply cache and joins are on rdb, as
// an instance of several sharing one Redis.
func startShared(t *testing.T, p identity.Provider, rdb rueidis.Client, prefix string) *testServer {
	t.Helper()
	return startWith(t, p, nil, func(o *Options) { o.SharedReplies, o.SharedRepliesPrefix = rdb, prefix })
}

// sendAt sends a PAP request for user to ts from a socket of its own and
// returns a channel with the reply's code (0: none within wait).
func sendAt(t *testing.T, ts *testServer, user, pw string, wait time.Duration) <-chan radius.Code {
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild(user, pw, func(p *radius.Packet) { _ = rfc2865.CallingStationID_SetString(p, "192.0.2.7") }))
	n.send(raw)
	out := make(chan radius.Code, 1)
	go func() {
		b := n.recv(wait)
		if b == nil {
			out <- 0
			return
		}
		r, err := radius.Parse(b, []byte(testSecret))
		if err != nil || r.Identifier != req.Identifier || !radius.IsAuthenticResponse(b, raw, []byte(testSecret)) {
			out <- 0
			return
		}
		out <- r.Code
	}()
	return out
}

// TestFailoverRequestJoinsTheLoginUnderWay: pam_radius_auth's request to
// the next server (new Identifier and Authenticator, same user and
// password) while a push is held gets that push's answer; no second push.
// A request with another password does not join.
func TestFailoverRequestJoinsTheLoginUnderWay(t *testing.T) {
	p := &heldPush{release: make(chan struct{})}
	ts := startServer(t, p, nil)
	first := sendAt(t, ts, "alice", "right", 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	second := sendAt(t, ts, "Alice", "right", 5*time.Second)
	wrong := sendAt(t, ts, "alice", "wrong", 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	close(p.release)
	if a, b, w := <-first, <-second, <-wrong; a != radius.CodeAccessAccept || b != radius.CodeAccessAccept || w != radius.CodeAccessReject {
		t.Fatalf("first %v, repeated %v, wrong password %v", a, b, w)
	}
	if n := p.starts.Load(); n != 2 {
		t.Fatalf("%d logins started, want 2 (the repeat joins; the wrong password does not)", n)
	}
	if ts.srv.Count("retransmission:joined") != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
}

// TestRepeatedLoginAtAnotherInstanceJoins: two instances on one Redis; the
// failover request reaches the second while the first holds the push.
func TestRepeatedLoginAtAnotherInstanceJoins(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix()
	p := &heldPush{release: make(chan struct{})}
	a := startShared(t, p, srv.Client(), prefix)
	b := startShared(t, p, srv.Client(), prefix)
	first := sendAt(t, a, "alice", "right", 8*time.Second)
	time.Sleep(200 * time.Millisecond)
	second := sendAt(t, b, "alice", "right", 8*time.Second)
	time.Sleep(300 * time.Millisecond)
	close(p.release)
	if x, y := <-first, <-second; x != radius.CodeAccessAccept || y != radius.CodeAccessAccept {
		t.Fatalf("first instance %v, second %v", x, y)
	}
	if n := p.starts.Load(); n != 1 {
		t.Fatalf("%d logins started across two instances, want 1", n)
	}
}

// TestDeadInstanceLetsGoWithinALease: a claim left by an instance that died
// (not renewed) stops holding the login within seconds.
func TestDeadInstanceLetsGoWithinALease(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix()
	p := &heldPush{release: make(chan struct{})}
	close(p.release)
	b := startShared(t, p, srv.Client(), prefix)
	// The dead instance's claim, as it left it.
	_, raw := request(t, testSecret, true, papBuild("alice", "right", func(p *radius.Packet) { _ = rfc2865.CallingStationID_SetString(p, "192.0.2.7") }))
	req, _ := radius.Parse(raw, []byte(testSecret))
	jk, _ := joinKey(&testConfig().Clients[0], req)
	c := srv.Client()
	if err := c.Do(context.Background(), c.B().Set().Key(prefix+"joins:"+jk).Value("i").PxMilliseconds(joinLease.Milliseconds()).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if code := <-sendAt(t, b, "alice", "right", 10*time.Second); code != radius.CodeAccessAccept {
		t.Fatalf("after the dead instance's lease: %v", code)
	}
	if took := time.Since(began); took > joinLease+2*time.Second {
		t.Fatalf("answered after %v", took)
	}
	if p.starts.Load() != 1 {
		t.Fatalf("%d starts", p.starts.Load())
	}
}

// TestRenumberedRequestWithStateJoins: a NAS that renumbers a request
// carrying a State (same answer, new Identifier) gets the answer of the
// request under way, not "expired".
func TestRenumberedRequestWithStateJoins(t *testing.T) {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push"}
	release := make(chan struct{})
	var polls atomic.Int32
	p := &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			return identity.Step{Status: identity.Waiting, Current: &push, Pending: true, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
		OnAdvance: func(ctx context.Context, _ identity.Txn, in identity.Input) (identity.Step, error) {
			polls.Add(1)
			<-release
			return identity.Step{Status: identity.Accepted}, nil
		},
	}
	ts := startServer(t, p, func(c *config.Config) { c.Clients[0].Push = "prompt" })
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(time.Second))
	state := rfc2865.State_Get(r)
	answer := func() <-chan radius.Code {
		m := newNAS(t, ts)
		req, raw := request(t, testSecret, true, papBuild("alice", "", func(p *radius.Packet) { _ = rfc2865.State_Set(p, state) }))
		m.send(raw)
		out := make(chan radius.Code, 1)
		go func() {
			b := m.recv(5 * time.Second)
			if b == nil || !radius.IsAuthenticResponse(b, raw, []byte(testSecret)) {
				out <- 0
				return
			}
			out <- radius.Code(b[0])
			_ = req
		}()
		return out
	}
	first := answer()
	time.Sleep(100 * time.Millisecond)
	renumbered := answer()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if a, b := <-first, <-renumbered; a != radius.CodeAccessAccept || b != radius.CodeAccessAccept {
		t.Fatalf("first %v, renumbered %v", a, b)
	}
	if polls.Load() != 1 {
		t.Fatalf("%d polls", polls.Load())
	}
}

// TestLateRetransmissionAtAnotherInstanceLeavesNoClaim: a retransmission
// that reaches the other instance after the login's answer has gone from
// the joins (but not from the reply cache) is replayed there, and the
// claim on the login sent with the reply cache's check in one round trip
// is let go of: a new login with the same password at once is not held
// behind it.
func TestLateRetransmissionAtAnotherInstanceLeavesNoClaim(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix()
	p := &heldPush{release: make(chan struct{})}
	close(p.release)
	a := startShared(t, p, srv.Client(), prefix)
	b := startShared(t, p, srv.Client(), prefix)
	req, raw := request(t, testSecret, true, papBuild("alice", "right", func(p *radius.Packet) { _ = rfc2865.CallingStationID_SetString(p, "192.0.2.7") }))
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recv := func() []byte {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		return buf[:n]
	}
	_, _ = c.WriteToUDP(raw, a.addr)
	first := recv()
	if first == nil || radius.Code(first[0]) != radius.CodeAccessAccept {
		t.Fatalf("instance A: %v", first)
	}
	// The answer stays in the joins a few polls long.
	time.Sleep(4*joinPoll + 1500*time.Millisecond)
	_, _ = c.WriteToUDP(raw, b.addr)
	if again := recv(); !bytes.Equal(again, first) {
		t.Fatalf("instance B's answer to the retransmission is not A's: %x", again)
	}
	if b.srv.Count("retransmission:replayed") != 1 {
		t.Fatalf("B's counts %v", b.srv.Counts())
	}
	jk, _ := joinKey(&testConfig().Clients[0], req)
	rdb := srv.Client()
	n, err := rdb.Do(context.Background(), rdb.B().Exists().Key(prefix+"joins:"+jk).Build()).AsInt64()
	if err != nil || n != 0 {
		t.Fatalf("the login is still claimed after the replay (%d, %v)", n, err)
	}
	if p.starts.Load() != 1 {
		t.Fatalf("%d logins started", p.starts.Load())
	}
}
