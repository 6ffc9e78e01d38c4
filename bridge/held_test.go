package bridge

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
)

// pushesApprovedOn is a provider whose every login sends a push, polled
// every interval, approved once approved is closed; a login of the user
// named accepted (if any) is accepted at once.
func pushesApprovedOn(approved <-chan struct{}, interval time.Duration, accepted string) *identitytest.Scripted {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push", Channel: identity.ChannelApp}
	pending := func(txn identity.Txn) identity.Step {
		m := push
		return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: interval, Txn: txn}
	}
	return &identitytest.Scripted{
		OnStart: func(_ context.Context, req identity.Request) (identity.Step, error) {
			if accepted != "" && req.User == accepted {
				return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}}, nil
			}
			return pending(identity.Txn{Provider: "scripted", Data: []byte(req.User)}), nil
		},
		OnAdvance: func(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
			select {
			case <-approved:
				return identity.Step{Status: identity.Accepted}, nil
			default:
				return pending(txn), nil
			}
		},
	}
}

// TestHeldPushesLeaveTheSlots: requests held while a push is approved do
// not take server.max_in_flight. With two slots and five pushes held,
// another user's login is answered at once; past server.max_held, a new
// push is answered with "approve, then press Enter" on the same push; and
// the held ones are accepted when approved.
func TestHeldPushesLeaveTheSlots(t *testing.T) {
	approved := make(chan struct{})
	p := pushesApprovedOn(approved, 50*time.Millisecond, "carol")
	ts := startServer(t, p, func(c *config.Config) {
		c.Server.MaxInFlight, c.Server.MaxHeld = 2, 5
		c.Clients[0].NASWait = config.Duration{Duration: 10 * time.Second}
	})
	n := newNAS(t, ts)
	withID := func(id byte) func(*radius.Packet) { return func(p *radius.Packet) { p.Identifier = id } }
	type sent struct {
		req *radius.Packet
		raw []byte
	}
	held := map[byte]sent{}
	for i := range 5 {
		// One at a time: with two slots, one is kept for conversations
		// that go on, and a burst of new logins would be dropped for
		// their NAS to send again.
		req, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("user%d", i), "pw", withID(byte(10+i))))
		n.send(raw)
		held[req.Identifier] = sent{req, raw}
		deadline := time.Now().Add(3 * time.Second)
		// Held, and parked: its worker has gone back (its slot free).
		for ts.srv.Held() < i+1 || ts.srv.InFlight() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d held, want %d (in flight %d)", ts.srv.Held(), i+1, ts.srv.InFlight())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Another user's login: answered though five pushes are held and
	// there are two slots.
	req, raw := request(t, testSecret, true, papBuild("carol", "pw", withID(1)))
	n.send(raw)
	if r := checkReply(t, req, raw, n.recv(2*time.Second)); r.Code != radius.CodeAccessAccept {
		t.Fatalf("carol: %v", r.Code)
	}
	// A sixth push, past max_held: approve, then press Enter. (Once
	// carol's worker has let go of its slot: it does just after the
	// reply goes.)
	for deadline := time.Now().Add(3 * time.Second); ts.srv.InFlight() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("carol's request still in flight")
		}
	}
	req, raw = request(t, testSecret, true, papBuild("user5", "pw", withID(2)))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(2*time.Second))
	if r.Code != radius.CodeAccessChallenge || !strings.Contains(rfc2865.ReplyMessage_GetString(r), "press Enter") {
		t.Fatalf("past max_held: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
	close(approved)
	for range 5 {
		b := n.recv(3 * time.Second)
		if b == nil {
			t.Fatal("a held push was not answered")
		}
		s, ok := held[b[1]]
		if !ok {
			t.Fatalf("a reply to Identifier %d", b[1])
		}
		if r := checkReply(t, s.req, s.raw, b); r.Code != radius.CodeAccessAccept {
			t.Fatalf("held push %d: %v", b[1], r.Code)
		}
	}
	if ts.srv.Held() != 0 || ts.srv.InFlight() != 0 {
		t.Fatalf("after: %d held, %d in flight", ts.srv.Held(), ts.srv.InFlight())
	}
}

// TestHeldPushesAreRecordsNotGoroutines: two hundred pushes held at once
// cost no goroutine each (a held request is a record and a timer), and
// are all answered when approved.
func TestHeldPushesAreRecordsNotGoroutines(t *testing.T) {
	approved := make(chan struct{})
	p := pushesApprovedOn(approved, 200*time.Millisecond, "")
	ts := startServer(t, p, func(c *config.Config) {
		c.Clients[0].NASWait = config.Duration{Duration: 10 * time.Second}
	})
	n := newNAS(t, ts)
	before, workers := runtime.NumGoroutine(), ts.srv.pool.Workers()
	const held = 200
	for i := range held {
		_, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("user%d", i), "pw", func(p *radius.Packet) { p.Identifier = byte(i) }))
		n.send(raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Held() < held {
		if time.Now().After(deadline) {
			t.Fatalf("%d held, want %d", ts.srv.Held(), held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a couple of polls each
	// The burst leaves idle workers behind (up to 64, for 10 s): they are
	// the pool's, counted apart; what is left is a poll or two in flight.
	grown := runtime.NumGoroutine() - before
	newWorkers := int(ts.srv.pool.Workers() - workers)
	if g := grown - newWorkers; g > 20 {
		t.Errorf("%d more goroutines (%d of them the pool's workers) with %d pushes held, want a handful, none per push", grown, newWorkers, held)
	}
	if busy := ts.srv.pool.Workers() - ts.srv.pool.Idle(); busy > 10 {
		t.Errorf("%d workers busy with %d pushes held, want none held by a push", busy, held)
	}
	close(approved)
	for range held {
		b := n.recv(3 * time.Second)
		if b == nil {
			t.Fatal("a held push was not answered")
		}
		if radius.Code(b[0]) != radius.CodeAccessAccept {
			t.Fatalf("reply %v", radius.Code(b[0]))
		}
	}
}
