package bridge

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
)

func TestCheckProbesTheReadLoop(t *testing.T) {
	p := accepting()
	ts := startServer(t, p, nil)
	deadline := time.Now().Add(time.Second)
	for ts.srv.Check(context.Background()) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // ServeConns starting
	}
	if err := ts.srv.Check(context.Background()); err != nil {
		t.Fatalf("Check on a serving server: %v", err)
	}
	if len(ts.srv.Counts()) != 0 {
		t.Fatalf("a probe was counted as traffic: %v", ts.srv.Counts())
	}
	if p.Calls.Load() != 0 {
		t.Fatal("a probe reached the provider")
	}
	ts.stop()
	if err := ts.srv.Check(context.Background()); err == nil {
		t.Fatal("Check passed on a stopped server")
	}
}

func TestReloadKeepsConversationsAndSwapsSettings(t *testing.T) {
	p := menuProvider()
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(time.Second))
	st := rfc2865.State_Get(r)

	cfg := testConfig()
	cfg.Texts.Accepted = "Welcome back."
	cfg.Server.MaxInFlight = 7 // needs a restart: kept
	restart, err := ts.srv.Reload(cfg, map[string]identity.Provider{"scripted": p})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(restart, ",") != "server.max_in_flight" {
		t.Errorf("restart list %v", restart)
	}
	if ts.srv.Config().Server.MaxInFlight != 1024 {
		t.Errorf("max_in_flight changed without a restart")
	}
	ask := func(input string, state []byte) *radius.Packet {
		req, raw := request(t, testSecret, true, papBuild("alice", input, func(p *radius.Packet) { _ = rfc2865.State_Set(p, state) }))
		n.send(raw)
		return checkReply(t, req, raw, n.recv(time.Second))
	}
	r = ask("1", st)
	r = ask("123456", rfc2865.State_Get(r))
	if r.Code != radius.CodeAccessAccept || rfc2865.ReplyMessage_GetString(r) != "Welcome back." {
		t.Fatalf("after reload: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}

	// A configuration whose provider is not open is refused whole.
	bad := testConfig()
	bad.Clients[0].Provider = "missing"
	if _, err := ts.srv.Reload(bad, map[string]identity.Provider{"scripted": p}); err == nil {
		t.Fatal("reload with a missing provider succeeded")
	}
	if ts.srv.Config().Texts.Accepted != "Welcome back." {
		t.Fatal("a refused reload changed the configuration")
	}
}

// TestStopLetsRequestsInFlightFinish: stopping stops reading at once, and a
// held request is still answered within the grace period.
func TestStopLetsRequestsInFlightFinish(t *testing.T) {
	started := make(chan struct{})
	p := &identitytest.Scripted{OnStart: func(ctx context.Context, _ identity.Request) (identity.Step, error) {
		close(started)
		select {
		case <-time.After(300 * time.Millisecond):
			return identity.Step{Status: identity.Accepted}, nil
		case <-ctx.Done():
			return identity.Step{}, ctx.Err()
		}
	}}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	<-started
	go ts.stop()
	r := n.recv(2 * time.Second)
	if r == nil || radius.Code(r[0]) != radius.CodeAccessAccept {
		t.Fatal("the request in flight was not answered during the stop")
	}
}

func TestDrainCutsOffAfterGrace(t *testing.T) {
	p := &identitytest.Scripted{OnStart: func(ctx context.Context, _ identity.Request) (identity.Step, error) {
		<-ctx.Done()
		return identity.Step{}, ctx.Err()
	}}
	cfg := testConfig()
	cfg.Clients[0].UpstreamFailure = "drop"
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": p}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx, conn) }()
	c, _ := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	defer c.Close()
	_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	_, _ = c.Write(raw)
	for srv.InFlight() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // stop reading first, as ServeConns does
	<-served
	if left := srv.Drain(100 * time.Millisecond); left != 1 {
		t.Fatalf("Drain cut off %d, want 1", left)
	}
	if srv.InFlight() != 0 {
		t.Fatal("requests left after Drain")
	}
}

func TestOnReplyReportsEachReply(t *testing.T) {
	var got []time.Duration
	var mu sync.Mutex
	cfg := testConfig()
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": accepting()}, Logger: quietLogger(),
		OnReply: func(code radius.Code, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if code == radius.CodeAccessAccept {
				got = append(got, took)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeConns(ctx, []net.PacketConn{conn}) }()
	defer func() { cancel(); <-done }()
	c, _ := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	defer c.Close()
	_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	_, _ = c.Write(raw)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	// OnReply runs just after the reply is sent: give it a moment.
	deadline := time.Now().Add(time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] <= 0 || got[0] > time.Second {
		t.Fatalf("OnReply saw %v", got)
	}
}

// TestNeedsRestartComparesWithWhatRuns: a listen address changed, then
// changed back to the running one, needs no restart.
func TestNeedsRestartComparesWithWhatRuns(t *testing.T) {
	ts := startServer(t, accepting(), nil)
	providers := map[string]identity.Provider{"scripted": accepting()}
	running := testConfig().Server.Listen
	changed := testConfig()
	changed.Server.Listen = []string{"127.0.0.1:11812"}
	if restart, err := ts.srv.Reload(changed, providers); err != nil || strings.Join(restart, ",") != "server.listen" {
		t.Fatalf("changed: %v %v", restart, err)
	}
	back := testConfig()
	back.Server.Listen = running
	if restart, err := ts.srv.Reload(back, providers); err != nil || len(restart) != 0 {
		t.Fatalf("changed back to the running value: needs restart %v (%v)", restart, err)
	}
}
