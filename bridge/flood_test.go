package bridge

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
)

// converse runs a menu conversation (pick 1, then the code) for user on its
// own socket and returns the final code.
func converse(t *testing.T, ts *testServer, user string, begun *sync.WaitGroup, go_ <-chan struct{}) radius.Code {
	n := newNAS(t, ts)
	exchange := func(build func(*radius.Packet)) *radius.Packet {
		req, raw := request(t, testSecret, true, build)
		n.send(raw)
		b := n.recv(3 * time.Second)
		if b == nil {
			return nil
		}
		r, err := radius.Parse(b, []byte(testSecret))
		if err != nil || r.Identifier != req.Identifier {
			return nil
		}
		return r
	}
	withState := func(st []byte) func(*radius.Packet) {
		return func(p *radius.Packet) { _ = rfc2865.State_Set(p, st) }
	}
	r := exchange(papBuild(user, "pw"))
	begun.Done()
	if r == nil || r.Code != radius.CodeAccessChallenge {
		return 0
	}
	<-go_
	if r = exchange(papBuild(user, "1", withState(rfc2865.State_Get(r)))); r == nil || r.Code != radius.CodeAccessChallenge {
		if r != nil {
			t.Logf("%s at the menu: %v %q", user, r.Code, rfc2865.ReplyMessage_GetString(r))
		}
		return 0
	}
	if r = exchange(papBuild(user, "123456", withState(rfc2865.State_Get(r)))); r == nil {
		return 0
	}
	return r.Code
}

// TestContinuingConversationsFinishWithTheStoreFull: with sessions.max
// full and a flood of new logins, every conversation already under way
// finishes; the flood's logins are what is refused.
func TestContinuingConversationsFinishWithTheStoreFull(t *testing.T) {
	ts := startServer(t, menuProvider(), func(c *config.Config) {
		c.Sessions.Max = 40
		zero := 0
		c.Clients[0].RateLimit = &zero
	})
	const users = 30
	var begun sync.WaitGroup
	begun.Add(users)
	start := make(chan struct{})
	codes := make([]radius.Code, users)
	var wg sync.WaitGroup
	for i := 0; i < users; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = converse(t, ts, fmt.Sprintf("user%d", i), &begun, start)
		}(i)
	}
	begun.Wait()
	// The flood: new logins as fast as one socket sends them, until the
	// conversations are done.
	flood := newNAS(t, ts)
	stop := make(chan struct{})
	flooded := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				flooded <- n
				return
			default:
			}
			_, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("flood%d", n), "pw"))
			flood.send(raw)
			n++
			if n%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Count("outcome:store_full") < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(start)
	wg.Wait()
	close(stop)
	n := <-flooded
	for i, c := range codes {
		if c != radius.CodeAccessAccept {
			t.Errorf("user%d: %v", i, c)
		}
	}
	if ts.srv.Count("outcome:store_full") == 0 {
		t.Fatalf("the store never filled (%d flood requests)", n)
	}
	t.Logf("%d flood requests, %d refused as store_full", n, ts.srv.Count("outcome:store_full"))
}

// TestRateLimitSparesConversationsAndIgnoresJunk: junk with the NAS's
// source address uses none of its budget, and requests that continue a
// conversation are never rate-limited.
func TestRateLimitSparesConversationsAndIgnoresJunk(t *testing.T) {
	ts := startServer(t, menuProvider(), func(c *config.Config) { five := 5; c.Clients[0].RateLimit = &five })
	n := newNAS(t, ts)
	// Junk first: a wrong secret, as anyone who forges the address sends.
	for i := 0; i < 30; i++ {
		_, raw := request(t, "not-the-secret", true, papBuild("x", "y"))
		n.send(raw)
	}
	if n.recv(200*time.Millisecond) != nil {
		t.Fatal("junk was answered")
	}
	// Three conversations start within the budget (burst 10).
	var states [][]byte
	for i := 0; i < 3; i++ {
		req, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("u%d", i), "pw"))
		n.send(raw)
		r := checkReply(t, req, raw, n.recv(time.Second))
		if r.Code != radius.CodeAccessChallenge {
			t.Fatalf("conversation %d did not start after junk: %v", i, r.Code)
		}
		states = append(states, rfc2865.State_Get(r))
	}
	// A burst of new logins uses up the rest of the budget.
	for i := 0; i < 30; i++ {
		_, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("burst%d", i), "pw"))
		n.send(raw)
	}
	for n.recv(300*time.Millisecond) != nil {
	}
	if ts.srv.Count("drop:"+dropRateLimited) == 0 {
		t.Fatal("the burst was not rate-limited")
	}
	// The conversations go on.
	for i, st := range states {
		req, raw := request(t, testSecret, true, papBuild(fmt.Sprintf("u%d", i), "1", func(p *radius.Packet) { _ = rfc2865.State_Set(p, st) }))
		n.send(raw)
		if r := n.recv(time.Second); r == nil || checkReply(t, req, raw, r).Code != radius.CodeAccessChallenge {
			t.Fatalf("conversation %d was dropped by the rate limit", i)
		}
	}
}
