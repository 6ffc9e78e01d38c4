package bridge

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
)

const testSecret = "a-test-secret-of-some-length"

func accepting() *identitytest.Scripted {
	return &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: "u"}}, nil
	}}
}

// menuProvider offers two codes; "123456" passes.
func menuProvider() *identitytest.Scripted { return identitytest.Menu() }

type testServer struct {
	srv  *Server
	addr *net.UDPAddr
	logs *bridgetest.Buffer
	stop func() // stops serving and drains; safe to call twice
}

func testConfig() *config.Config {
	f := false
	cfg := &config.Config{
		Provider: []config.Provider{{Name: "scripted"}},
		Clients: []config.Client{{
			Name: "local", Address: []string{"127.0.0.1"}, Secret: testSecret,
			RequireMessageAuthenticator: &f,
		}},
	}
	cfg.SetDefaults()
	cfg.Server.RejectDelay = &config.Duration{} // tests of the delay set it
	for i := range cfg.Clients {
		cfg.Clients[i].Prefixes = nil
		for _, a := range cfg.Clients[i].Address {
			p, _ := parsePrefixForTest(a)
			cfg.Clients[i].Prefixes = append(cfg.Clients[i].Prefixes, p)
		}
	}
	return cfg
}

func startServer(t *testing.T, p identity.Provider, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startWith(t, p, mutate, nil)
}

// startWith is startServer with the server's Options changed by opts.
func startWith(t *testing.T, p identity.Provider, mutate func(*config.Config), opts func(*Options)) *testServer {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(cfg)
	}
	logs := &bridgetest.Buffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetLevel(logrus.DebugLevel)
	o := Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": p}, Logger: log}
	if opts != nil {
		opts(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	served := bridgetest.Serve(t, srv, nil)
	return &testServer{srv: srv, addr: served.Addr, logs: logs, stop: served.Stop}
}

func (ts *testServer) log() string { return ts.logs.String() }

// nas is a RADIUS client socket.
type nas struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newNAS(t *testing.T, ts *testServer) *nas {
	c, err := net.DialUDP("udp4", nil, ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &nas{t: t, conn: c, to: ts.addr}
}

func (n *nas) send(b []byte) { n.t.Helper(); _, _ = n.conn.Write(b) }

// recv returns the next reply, or nil after wait.
func (n *nas) recv(wait time.Duration) []byte {
	_ = n.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:k]
}

// request builds an Access-Request; withMA adds a valid Message-Authenticator.
func request(t *testing.T, secret string, withMA bool, build func(p *radius.Packet)) (*radius.Packet, []byte) {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	build(p)
	if withMA {
		p.Attributes = append(radius.Attributes{{Type: typeMessageAuthenticator, Attribute: make([]byte, 16)}}, p.Attributes...)
		raw, _ := p.MarshalBinary()
		copy(p.Attributes[0].Attribute, msgauth.Compute(raw, 22, []byte(secret)))
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return p, raw
}

func papBuild(user, pw string, extra ...func(*radius.Packet)) func(*radius.Packet) {
	return func(p *radius.Packet) {
		_ = rfc2865.UserName_SetString(p, user)
		_ = rfc2865.UserPassword_SetString(p, pw)
		for _, e := range extra {
			e(p)
		}
	}
}

// checkReply verifies a reply's Response Authenticator and that its first
// attribute is a valid Message-Authenticator, and parses it.
func checkReply(t *testing.T, req *radius.Packet, reqRaw, raw []byte) *radius.Packet {
	t.Helper()
	if raw == nil {
		t.Fatal("no reply")
	}
	if !radius.IsAuthenticResponse(raw, reqRaw, []byte(testSecret)) {
		t.Fatal("bad Response Authenticator")
	}
	if raw[20] != byte(typeMessageAuthenticator) || raw[21] != 18 {
		t.Fatalf("first attribute is type %d, not Message-Authenticator", raw[20])
	}
	// Recompute over the reply with the Request Authenticator in the header.
	chk := append([]byte(nil), raw...)
	copy(chk[4:20], req.Authenticator[:])
	copy(chk[22:38], make([]byte, 16))
	mac := hmac.New(md5.New, []byte(testSecret))
	mac.Write(chk)
	if !hmac.Equal(mac.Sum(nil), raw[22:38]) {
		t.Fatal("bad Message-Authenticator in the reply")
	}
	p, err := radius.Parse(raw, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplyHasMessageAuthenticatorFirstAndProxyState(t *testing.T) {
	ts := startServer(t, menuProvider(), nil)
	n := newNAS(t, ts)
	proxy := func(p *radius.Packet) {
		p.Add(typeProxyState, radius.Attribute("first"))
		p.Add(typeProxyState, radius.Attribute("second"))
	}
	req, raw := request(t, testSecret, true, papBuild("alice", "pw", proxy))
	n.send(raw)
	reply := checkReply(t, req, raw, n.recv(2*time.Second))
	if reply.Code != radius.CodeAccessChallenge {
		t.Fatalf("code %v", reply.Code)
	}
	var ps []string
	for _, a := range reply.Attributes {
		if a.Type == typeProxyState {
			ps = append(ps, string(a.Attribute))
		}
	}
	if strings.Join(ps, ",") != "first,second" {
		t.Fatalf("Proxy-State %v", ps)
	}
	if prompt, err := rfc2869.Prompt_Lookup(reply); err != nil || prompt != rfc2869.Prompt_Value_Echo {
		t.Errorf("Prompt %v %v", prompt, err)
	}
	if st := rfc2865.State_Get(reply); len(st) != 32 {
		t.Errorf("State %q", st)
	}
	if to := rfc2865.SessionTimeout_Get(reply); to != 120 {
		t.Errorf("Session-Timeout %d", to)
	}
}

func TestDrops(t *testing.T) {
	good := func(t *testing.T) []byte { _, raw := request(t, testSecret, true, papBuild("alice", "pw")); return raw }
	tests := []struct {
		name   string
		mutate func(*config.Config)
		packet func(t *testing.T) []byte
		reason string
	}{
		{"truncated header", nil, func(t *testing.T) []byte { return good(t)[:19] }, dropMalformed},
		{"length beyond the datagram", nil, func(t *testing.T) []byte {
			b := good(t)
			b[2], b[3] = 0x0f, 0xff
			return b
		}, dropMalformed},
		{"length below 20", nil, func(t *testing.T) []byte {
			b := good(t)
			b[2], b[3] = 0, 10
			return b
		}, dropMalformed},
		{"attribute length overruns", nil, func(t *testing.T) []byte {
			b := good(t)
			b[21] = 200
			return b
		}, dropMalformed},
		{"attribute length 1", nil, func(t *testing.T) []byte {
			_, raw := request(t, testSecret, false, papBuild("alice", "pw"))
			b := append(raw, 1, 1) // an attribute whose length (1) is below 2
			b[3] += 2
			return b
		}, dropMalformed},
		{"Message-Authenticator of 4 bytes", nil, func(t *testing.T) []byte {
			_, raw := request(t, testSecret, false, papBuild("alice", "pw", func(p *radius.Packet) { p.Add(typeMessageAuthenticator, radius.Attribute{1, 2, 3, 4}) }))
			return raw
		}, dropMalformed},
		{"accounting request", nil, func(t *testing.T) []byte {
			b := good(t)
			b[0] = byte(radius.CodeAccountingRequest)
			return b
		}, dropUnsupported},
		{"wrong secret", nil, func(t *testing.T) []byte {
			_, raw := request(t, "some-other-secret", true, papBuild("alice", "pw"))
			return raw
		}, dropBadMsgAuth},
		{"bad Message-Authenticator", nil, func(t *testing.T) []byte {
			b := good(t)
			b[25] ^= 0xff
			return b
		}, dropBadMsgAuth},
		{"required Message-Authenticator missing", func(c *config.Config) { tr := true; c.Clients[0].RequireMessageAuthenticator = &tr }, func(t *testing.T) []byte {
			_, raw := request(t, testSecret, false, papBuild("alice", "pw"))
			return raw
		}, dropNoMsgAuth},
		{"unknown client", func(c *config.Config) { c.Clients[0].Prefixes = c.Clients[0].Prefixes[:0] }, good, dropUnknownClient},
		{"Status-Server without Message-Authenticator", nil, func(t *testing.T) []byte {
			p := radius.New(radius.CodeStatusServer, []byte(testSecret))
			raw, _ := p.Encode()
			return raw
		}, dropNoMsgAuth},
		{"EAP without Message-Authenticator", nil, func(t *testing.T) []byte {
			_, raw := request(t, testSecret, false, papBuild("alice", "pw", func(p *radius.Packet) { p.Add(radpacket.TypeEAPMessage, radius.Attribute{2, 0, 0, 5, 1}) }))
			return raw
		}, dropNoMsgAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := accepting()
			ts := startServer(t, p, tc.mutate)
			n := newNAS(t, ts)
			n.send(tc.packet(t))
			if r := n.recv(300 * time.Millisecond); r != nil {
				t.Fatalf("answered a packet that should be dropped: code %d", r[0])
			}
			if ts.srv.Count("drop:"+tc.reason) != 1 {
				t.Fatalf("counts %v, want drop:%s", ts.srv.Counts(), tc.reason)
			}
			if p.Calls.Load() != 0 {
				t.Fatal("the provider was called")
			}
		})
	}
}

func TestWrongSecretIsLoggedRateLimited(t *testing.T) {
	ts := startServer(t, accepting(), nil)
	n := newNAS(t, ts)
	for i := 0; i < 20; i++ {
		_, raw := request(t, "some-other-secret", true, papBuild("alice", "pw"))
		n.send(raw)
	}
	deadline := time.Now().Add(2 * time.Second)
	for ts.srv.Count("drop:"+dropBadMsgAuth) < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := strings.Count(ts.log(), "different shared secrets"); got != 1 {
		t.Fatalf("%d log lines for 20 bad packets, want 1", got)
	}
}

func TestStatusServer(t *testing.T) {
	p := accepting()
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	req := radius.New(radius.CodeStatusServer, []byte(testSecret))
	req.Add(typeMessageAuthenticator, make(radius.Attribute, 16))
	raw, _ := req.MarshalBinary()
	copy(req.Attributes[0].Attribute, msgauth.Compute(raw, 22, []byte(testSecret)))
	raw, _ = req.Encode()
	n.send(raw)
	reply := checkReply(t, req, raw, n.recv(time.Second))
	if reply.Code != radius.CodeAccessAccept || len(reply.Attributes) != 1 {
		t.Fatalf("code %v with %d attributes", reply.Code, len(reply.Attributes))
	}
	if p.Calls.Load() != 0 {
		t.Fatal("Status-Server reached the provider")
	}
}

func TestRetransmissionsReachTheProviderOnce(t *testing.T) {
	release := make(chan struct{})
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		<-release
		return identity.Step{Status: identity.Accepted}, nil
	}}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	n.send(raw) // in flight: dropped
	time.Sleep(100 * time.Millisecond)
	close(release)
	first := n.recv(time.Second)
	checkReply(t, req, raw, first)
	if extra := n.recv(200 * time.Millisecond); extra != nil {
		t.Fatal("a duplicate in flight was answered")
	}
	n.send(raw) // answered: replayed
	if again := n.recv(time.Second); !bytes.Equal(again, first) {
		t.Fatal("the retransmission did not get the same reply")
	}
	if p.Calls.Load() != 1 {
		t.Fatalf("provider called %d times", p.Calls.Load())
	}
	// Same Identifier, new Authenticator: a new request.
	req2, raw2 := request(t, testSecret, true, papBuild("alice", "pw"))
	raw2[1] = raw[1]
	req2.Identifier = raw[1]
	_ = req2
	// Recompute the Message-Authenticator for the changed Identifier.
	copy(raw2[22:38], msgauth.Compute(raw2, 22, []byte(testSecret)))
	n.send(raw2)
	if n.recv(time.Second) == nil {
		t.Fatal("a new request with a reused Identifier was not answered")
	}
	if p.Calls.Load() != 2 {
		t.Fatalf("provider called %d times, want 2", p.Calls.Load())
	}
	if ts.srv.Count("retransmission:absorbed") != 2 {
		t.Errorf("counts %v", ts.srv.Counts())
	}
}

func TestConversationThroughUDP(t *testing.T) {
	ts := startServer(t, menuProvider(), nil)
	n := newNAS(t, ts)
	exchange := func(build func(*radius.Packet)) *radius.Packet {
		t.Helper()
		req, raw := request(t, testSecret, true, build)
		n.send(raw)
		return checkReply(t, req, raw, n.recv(2*time.Second))
	}
	r := exchange(papBuild("alice", "pw"))
	menu := rfc2865.ReplyMessage_GetString(r)
	if !strings.Contains(menu, "1) App code") || !strings.Contains(menu, "2) Text message") {
		t.Fatalf("menu %q", menu)
	}
	withState := func(st []byte) func(*radius.Packet) {
		return func(p *radius.Packet) { _ = rfc2865.State_Set(p, st) }
	}
	r = exchange(papBuild("alice", "text message", withState(rfc2865.State_Get(r))))
	if got := rfc2865.ReplyMessage_GetString(r); got != "Enter the texted code" {
		t.Fatalf("prompt %q", got)
	}
	r = exchange(papBuild("alice", "123456", withState(rfc2865.State_Get(r))))
	if r.Code != radius.CodeAccessAccept {
		t.Fatalf("code %v", r.Code)
	}
	if strings.Contains(ts.log(), "123456") || strings.Contains(ts.log(), "pw\"") {
		t.Fatal("the log holds a code or password")
	}
}

func TestPanicIsRecovered(t *testing.T) {
	var calm atomic.Bool
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		if !calm.Load() {
			panic("boom")
		}
		return identity.Step{Status: identity.Accepted}, nil
	}}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	if n.recv(300*time.Millisecond) != nil {
		t.Fatal("a panicking request was answered")
	}
	if ts.srv.Count("panic") != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
	// The server still works.
	calm.Store(true)
	_, raw = request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	if n.recv(time.Second) == nil {
		t.Fatal("no answer after a panic")
	}
}

func TestUpstreamFailureActions(t *testing.T) {
	failing := func() *identitytest.Scripted {
		return &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			return identity.Step{}, &identity.UpstreamError{Provider: "x", Op: "StartAuthentication", Status: 503, Err: errors.New("busy")}
		}}
	}
	t.Run("reject", func(t *testing.T) {
		ts := startServer(t, failing(), nil)
		n := newNAS(t, ts)
		req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
		n.send(raw)
		r := checkReply(t, req, raw, n.recv(time.Second))
		if r.Code != radius.CodeAccessReject || !strings.Contains(rfc2865.ReplyMessage_GetString(r), "not available") {
			t.Fatalf("%v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
		}
	})
	t.Run("drop", func(t *testing.T) {
		ts := startServer(t, failing(), func(c *config.Config) { c.Clients[0].UpstreamFailure = "drop" })
		n := newNAS(t, ts)
		_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
		n.send(raw)
		if n.recv(300*time.Millisecond) != nil {
			t.Fatal("answered although upstream_failure = drop")
		}
		if ts.srv.Count("drop:"+dropUpstream) != 1 {
			t.Fatalf("counts %v", ts.srv.Counts())
		}
	})
}

func TestOverloadShedsNewRequestsFirst(t *testing.T) {
	release := make(chan struct{})
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		<-release
		return identity.Step{Status: identity.Accepted}, nil
	}}
	// Four slots: three for new conversations, one kept for those with a State.
	ts := startServer(t, p, func(c *config.Config) { c.Server.MaxInFlight = 4 })
	n := newNAS(t, ts)
	for i := 0; i < 5; i++ {
		_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
		n.send(raw)
	}
	deadline := time.Now().Add(2 * time.Second)
	for ts.srv.Count("drop:"+dropOverload) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A request that continues a conversation still gets the reserved slot
	// (its State is unknown here, so it is rejected at once).
	_, raw := request(t, testSecret, true, papBuild("alice", "1", func(p *radius.Packet) { _ = rfc2865.State_SetString(p, "00000000000000000000000000000000") }))
	n.send(raw)
	if r := n.recv(time.Second); r == nil || radius.Code(r[0]) != radius.CodeAccessReject {
		t.Fatal("a request with a State was shed")
	}
	close(release)
	got := 0
	for n.recv(300*time.Millisecond) != nil {
		got++
	}
	if got != 3 || ts.srv.Count("drop:"+dropOverload) != 2 {
		t.Fatalf("%d answers, counts %v", got, ts.srv.Counts())
	}
}

func TestRateLimitPerNAS(t *testing.T) {
	p := accepting()
	ts := startServer(t, p, func(c *config.Config) { n := 5; c.Clients[0].RateLimit = &n })
	n := newNAS(t, ts)
	for i := 0; i < 30; i++ {
		_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
		n.send(raw)
	}
	got := 0
	for n.recv(300*time.Millisecond) != nil {
		got++
	}
	// A burst of twice the rate passes, the rest is dropped.
	if got < 10 || got > 12 || ts.srv.Count("drop:"+dropRateLimited) != int64(30-got) {
		t.Fatalf("%d answers, counts %v", got, ts.srv.Counts())
	}
}

func TestProxyStateWithoutMessageAuthenticatorIsDropped(t *testing.T) {
	ts := startServer(t, accepting(), nil)
	n := newNAS(t, ts)
	_, raw := request(t, testSecret, false, papBuild("alice", "pw", func(p *radius.Packet) { p.Add(typeProxyState, radius.Attribute("x")) }))
	n.send(raw)
	if n.recv(300*time.Millisecond) != nil || ts.srv.Count("drop:"+dropProxyState) != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
	// With limit_proxy_state off, it is served.
	ts = startServer(t, accepting(), func(c *config.Config) { f := false; c.Clients[0].LimitProxyState = &f })
	n = newNAS(t, ts)
	n.send(raw)
	if n.recv(time.Second) == nil {
		t.Fatal("not served with limit_proxy_state = false")
	}
}

func TestRejectDelayHoldsNoWorker(t *testing.T) {
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		return identity.Step{Status: identity.Rejected, Reason: "Authentication failed."}, nil
	}}
	ts := startServer(t, p, func(c *config.Config) {
		c.Server.RejectDelay = &config.Duration{Duration: 400 * time.Millisecond}
		c.Server.MaxInFlight = 3 // two for new requests
		zero := 0
		c.Lockout.Attempts = &zero
	})
	n := newNAS(t, ts)
	began := time.Now()
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	n.send(raw) // a retransmission during the delay is not answered early
	// Another request while the first waits: the delay holds no slot.
	for i := 0; i < 4; i++ {
		time.Sleep(25 * time.Millisecond)
		_, raw2 := request(t, testSecret, true, papBuild("bob", "pw"))
		n.send(raw2)
	}
	first := n.recv(2 * time.Second)
	if d := time.Since(began); d < 400*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("first reject after %v, want 400ms to 600ms", d)
	}
	if first == nil || radius.Code(first[0]) != radius.CodeAccessReject {
		t.Fatal("no reject")
	}
	if first[1] == req.Identifier {
		checkReply(t, req, raw, first)
	}
	got := 1
	for n.recv(time.Second) != nil {
		got++
	}
	if got != 5 || ts.srv.Count("drop:"+dropOverload) != 0 {
		t.Fatalf("%d replies (want 5), counts %v", got, ts.srv.Counts())
	}
}

func TestLockoutAnswersLocally(t *testing.T) {
	p := &identitytest.Scripted{OnStart: func(_ context.Context, req identity.Request) (identity.Step, error) {
		if req.Password == "right" {
			return identity.Step{Status: identity.Accepted}, nil
		}
		return identity.Step{Status: identity.Rejected, Reason: "Authentication failed."}, nil
	}}
	ts := startServer(t, p, func(c *config.Config) { three := 3; c.Lockout.Attempts = &three })
	n := newNAS(t, ts)
	ask := func(user, pw string) string {
		t.Helper()
		req, raw := request(t, testSecret, true, papBuild(user, pw))
		n.send(raw)
		return rfc2865.ReplyMessage_GetString(checkReply(t, req, raw, n.recv(time.Second)))
	}
	for i := 0; i < 3; i++ {
		ask("alice", "wrong")
	}
	calls := p.Calls.Load()
	if msg := ask("alice", "right"); !strings.Contains(msg, "Too many failed attempts") {
		t.Fatalf("after 3 failures: %q", msg)
	}
	if p.Calls.Load() != calls {
		t.Fatal("a locked-out user reached the provider")
	}
	if ts.srv.Count("outcome:locked_out") != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
	// Other users are not affected.
	if msg := ask("bob", "right"); msg != "Access granted." {
		t.Fatalf("bob: %q", msg)
	}
}

func TestLongSharedSecret(t *testing.T) {
	secret := strings.Repeat("s3cr3t-", 10)[:64]
	ts := startServer(t, accepting(), func(c *config.Config) { c.Clients[0].Secret = secret })
	n := newNAS(t, ts)
	req, raw := request(t, secret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := n.recv(time.Second)
	if r == nil || !radius.IsAuthenticResponse(r, raw, []byte(secret)) {
		t.Fatal("no authentic reply with a 64-byte secret")
	}
	_ = req
}

func TestSplitText(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	parts := radpacket.SplitText(long, radpacket.MaxAttrLen)
	if strings.Join(parts, "") != long {
		t.Fatal("parts do not add up")
	}
	for _, p := range parts {
		if len(p) > radpacket.MaxAttrLen || !strings.HasPrefix(p, "é") {
			t.Fatalf("part of %d bytes, or split inside a character", len(p))
		}
	}
	pkt := radius.New(radius.CodeAccessChallenge, []byte("s"))
	radpacket.AddReplyMessage(pkt, long)
	if n := len(pkt.Attributes); n != 3 {
		t.Fatalf("%d Reply-Message attributes, want 3", n)
	}
	if _, err := pkt.Encode(); err != nil {
		t.Fatal(err)
	}
}

// TestIPv6 serves a NAS on ::1 declared by an IPv6 prefix.
func TestIPv6(t *testing.T) {
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no IPv6 loopback: %v", err)
		}
		t.Skipf("no IPv6 loopback on this host: %v", err)
	}
	cfg := testConfig()
	p, _ := parsePrefixForTest("::1")
	cfg.Clients[0].Prefixes = append(cfg.Clients[0].Prefixes[:0], p)
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": accepting()}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, conn) }()
	defer func() { cancel(); <-done; conn.Close() }()
	c, err := net.DialUDP("udp6", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := &nas{t: t, conn: c}
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	if r := checkReply(t, req, raw, n.recv(time.Second)); r.Code != radius.CodeAccessAccept {
		t.Fatalf("code %v", r.Code)
	}
}
