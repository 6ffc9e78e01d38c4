package conversation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/radpacket"
)

// tenantOfPushes is a provider whose users' pushes are approved
// approveAfter after they were sent (by the bubble's clock), and which
// records when each poll came. slowDownAt, when set, answers the first
// poll at or after it with a rate limit (SlowDown for pause).
type tenantOfPushes struct {
	*identitytest.Scripted
	mu    sync.Mutex
	sent  map[string]time.Time
	polls []time.Time
}

func newTenantOfPushes(approveAfter, slowDownAt, pause time.Duration) *tenantOfPushes {
	tn := &tenantOfPushes{sent: map[string]time.Time{}}
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push", Channel: identity.ChannelApp}
	began := time.Now()
	slowed := false
	waiting := func(txn identity.Txn) identity.Step {
		m := push
		return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: time.Second, Txn: txn}
	}
	tn.Scripted = &identitytest.Scripted{
		OnStart: func(_ context.Context, r identity.Request) (identity.Step, error) {
			tn.mu.Lock()
			defer tn.mu.Unlock()
			tn.sent[r.User] = time.Now()
			return waiting(identity.Txn{Provider: "scripted", Data: []byte(r.User)}), nil
		},
		OnAdvance: func(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
			tn.mu.Lock()
			defer tn.mu.Unlock()
			if in.Action != identity.Poll {
				return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
			}
			tn.polls = append(tn.polls, time.Now())
			if slowDownAt > 0 && !slowed && time.Since(began) >= slowDownAt {
				slowed = true
				s := waiting(txn)
				s.SlowDown, s.PollInterval = true, pause
				return s, nil
			}
			if time.Since(tn.sent[string(txn.Data)]) >= approveAfter {
				return identity.Step{Status: identity.Accepted}, nil
			}
			return waiting(txn), nil
		},
	}
	return tn
}

// holdingEngine is an engine on tn whose NAS waits 29 s and whose pushes
// are held up to 28 s.
func holdingEngine(tn *tenantOfPushes) (*Engine, *recorder) {
	return newEngine(tn, func(c *config.Client) {
		c.NASWait = config.Duration{Duration: 29 * time.Second}
		c.PushWait = config.Duration{Duration: 28 * time.Second}
	})
}

// holdAll starts n users' logins, each held for its push, and returns
// their answers once all have come.
func holdAll(t *testing.T, e *Engine, n int) []radius.Code {
	t.Helper()
	codes := make([]radius.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		later := func(a Reply, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("user %d: %v", i, err)
				return
			}
			codes[i] = a.Packet.Code
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.Config.Server.RequestTimeout.Duration)
		defer cancel()
		_, err := e.Respond(ctx, Request{Packet: papRequest(fmt.Sprintf("user%d", i), "pw", nil), Client: &e.Config.Clients[0], Log: logrus.NewEntry(quiet), Later: later, HoldContext: context.Background()})
		if err != ErrParked {
			t.Fatalf("user %d: Respond: %v, want ErrParked", i, err)
		}
	}
	wg.Wait()
	return codes
}

// TestPollRateBoundsTheTenantsPolls: a hundred pushes held at once, a
// poll_rate of 10: the tenant never sees more than the rate (and its
// tenth of a second of burst) in any second, every push is still polled
// and accepted within the NAS's time, and a held push is a record and a
// timer, not a goroutine.
func TestPollRateBoundsTheTenantsPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTenantOfPushes(3*time.Second, 0, 0)
		e, rec := holdingEngine(tn)
		e.Config.Provider[0].PollRate = 10
		const n = 100
		before := runtime.NumGoroutine()
		var codes []radius.Code
		done := make(chan struct{})
		go func() { codes = holdAll(t, e, n); close(done) }()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if g := runtime.NumGoroutine() - before; g > 5 {
			t.Errorf("%d goroutines while %d pushes are held, want none for them", g, n)
		}
		<-done
		if n := e.holds.count(); n != 0 {
			t.Errorf("%d contexts still watched once every held push was answered", n)
		}
		for i, c := range codes {
			if c != radius.CodeAccessAccept {
				t.Fatalf("user %d: %v, want an Accept", i, c)
			}
		}
		polls := append([]time.Time(nil), tn.polls...)
		sort.Slice(polls, func(i, j int) bool { return polls[i].Before(polls[j]) })
		for i := range polls {
			j := i
			for j < len(polls) && polls[j].Sub(polls[i]) < time.Second {
				j++
			}
			if j-i > 12 {
				t.Fatalf("%d polls within a second from %v, want at most 12 (poll_rate 10: 9 in turn and 1 for last polls, each with a burst of 1)", j-i, polls[i])
			}
		}
		if len(polls) < n {
			t.Errorf("%d polls for %d pushes", len(polls), n)
		}
		if rec.polls[PollDeferred] == 0 {
			t.Errorf("no poll was deferred: %v", rec.polls)
		}
	})
}

// TestTenantRateLimitPausesEveryHeldPush: when the tenant answers one
// poll with a rate limit, no held push of that tenant polls for the time
// it asked, and all are still answered.
func TestTenantRateLimitPausesEveryHeldPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pause = 5 * time.Second
		tn := newTenantOfPushes(8*time.Second, 2*time.Second, pause)
		e, rec := holdingEngine(tn)
		codes := holdAll(t, e, 20)
		for i, c := range codes {
			if c != radius.CodeAccessAccept {
				t.Fatalf("user %d: %v, want an Accept", i, c)
			}
		}
		var limited time.Time
		// Find the rate-limited poll: the first at or after 2 s from the
		// first Start.
		start := time.Time{}
		for _, s := range tn.sent {
			if start.IsZero() || s.Before(start) {
				start = s
			}
		}
		for _, p := range tn.polls {
			if p.Sub(start) >= 2*time.Second {
				limited = p
				break
			}
		}
		for _, p := range tn.polls {
			if p.After(limited) && p.Sub(limited) < pause {
				t.Fatalf("a poll %v after the tenant asked every poll to wait %v", p.Sub(limited), pause)
			}
		}
		if rec.polls[PollPaused] == 0 {
			t.Errorf("no poll was paused: %v", rec.polls)
		}
	})
}

// TestServerStopEndsHeldPushes: when the hold's context ends (the server
// stops after its grace period), a parked request is answered at once as
// an upstream failure, never left waiting.
func TestServerStopEndsHeldPushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTenantOfPushes(time.Hour, 0, 0)
		e, _ := holdingEngine(tn)
		base, stop := context.WithCancel(context.Background())
		got := make(chan error, 1)
		began := time.Now()
		_, err := e.Respond(context.Background(), Request{Packet: papRequest("alice", "pw", nil), Client: &e.Config.Clients[0], Log: logrus.NewEntry(quiet),
			Later: func(_ Reply, err error) { got <- err }, HoldContext: base})
		if err != ErrParked {
			t.Fatalf("Respond: %v", err)
		}
		time.Sleep(1500 * time.Millisecond)
		if n := e.holds.count(); n != 1 {
			t.Errorf("%d contexts watched while a push is held on one, want 1 (one AfterFunc for all)", n)
		}
		stop()
		err = <-got
		var f *Failure
		if !errors.As(err, &f) {
			t.Fatalf("answer %v, want a *Failure", err)
		}
		if took := time.Since(began); took != 1500*time.Millisecond {
			t.Errorf("answered %v after the start, want at the stop (1.5s)", took)
		}
		if n := e.holds.count(); n != 0 {
			t.Errorf("%d contexts still watched once every held push ended", n)
		}
	})
}

// TestLastPollHasAReserve: when the queue's turns are taken far past a
// push's deadline, the poll at the deadline still goes, from the tenth of
// poll_rate kept for last polls, and the reserve is bounded too.
func TestLastPollHasAReserve(t *testing.T) {
	d := &Deps{}
	q := d.queue("p", 100) // 90 in turn, 10 for last polls
	now := time.Now()
	last := now.Add(time.Second)
	for range 500 { // five seconds of turns taken
		q.admit(now, now.Add(time.Hour))
	}
	if wait, poll, _ := q.admit(now, last); poll || wait != time.Second {
		t.Fatalf("before the deadline with the queue full: wait %v poll %v, want to be decided at the deadline", wait, poll)
	}
	if _, poll, _ := q.admit(last, last); !poll {
		t.Fatal("at the deadline: no last poll from the reserve")
	}
	granted := 0
	for range 20 {
		if _, poll, _ := q.admit(last, last); poll {
			granted++
		}
	}
	if granted > 1 {
		t.Errorf("%d more last polls in the same moment, want the reserve's burst (1) at most", granted)
	}
}

// TestHeldPushKeepsItsLogFields: the answer to a held push has every
// field its log entry had (the request's and the login's) and the
// request's Proxy-States, though the held request kept nothing else.
func TestHeldPushKeepsItsLogFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTenantOfPushes(3*time.Second, 0, 0)
		e, _ := holdingEngine(tn)
		got := make(chan Reply, 1)
		base := context.Background()
		req := papRequest("alice", "pw", nil)
		req.Add(radpacket.TypeProxyState, radius.Attribute("proxy-1"))
		_ = rfc2865.CallingStationID_SetString(req, "192.0.2.7")
		req.Add(radpacket.TypeProxyState, radius.Attribute("proxy-2"))
		_, err := e.Respond(context.Background(), Request{Packet: req, Client: &e.Config.Clients[0],
			Log: logrus.NewEntry(quiet).WithFields(logrus.Fields{"src": "192.0.2.1:1812", "nas": "vpn"}),
			Later: func(a Reply, err error) {
				if err != nil {
					t.Errorf("answer: %v", err)
				}
				got <- a
			}, HoldContext: base})
		if err != ErrParked {
			t.Fatalf("Respond: %v", err)
		}
		a := <-got
		if a.Packet == nil || a.Packet.Code != radius.CodeAccessAccept {
			t.Fatalf("answer %v, want an Accept", a.Packet)
		}
		var proxies []string
		for _, at := range a.Packet.Attributes {
			if at.Type == radpacket.TypeProxyState {
				proxies = append(proxies, string(at.Attribute))
			}
		}
		if len(proxies) != 2 || proxies[0] != "proxy-1" || proxies[1] != "proxy-2" {
			t.Errorf("the reply to a held request has Proxy-States %q, want both of the request's in order", proxies)
		}
		if len(req.Attributes) != 2 {
			t.Errorf("the held request kept %d attributes, want only its two Proxy-States", len(req.Attributes))
		}
		l := a.Log()
		if l == nil || l.Data["user"] != "alice" || l.Data["nas"] != "vpn" || l.Data["src"] != "192.0.2.1:1812" {
			t.Fatalf("the answer's log entry lost fields: %v", l)
		}
	})
}

// TestParkedLogIsFolded: a parked turn keeps its log entry's fields in a
// slice, not logrus's map, and gets the same fields back; parked again
// with nothing added, it keeps the same slice.
func TestParkedLogIsFolded(t *testing.T) {
	ex := &turn{log: logrus.NewEntry(quiet).WithFields(logrus.Fields{"src": "192.0.2.1:1812", "nas": "vpn", "user": "alice"})}
	p := &parked{ex: ex}
	p.fold()
	if ex.log != nil || len(p.fields) != 3 {
		t.Fatalf("folded: entry %v, fields %v", ex.log, p.fields)
	}
	first := &p.fields[0]
	p.unfold()
	if ex.log == nil || len(ex.log.Data) != 3 || ex.log.Data["user"] != "alice" || ex.log.Logger != quiet {
		t.Fatalf("unfolded: %v", ex.log)
	}
	p.fold()
	if &p.fields[0] != first {
		t.Error("parked again with the same fields: the slice was made again")
	}
	p.unfold()
	ex.log = ex.log.WithField("mechanism", "push")
	p.fold()
	p.unfold()
	if ex.log.Data["mechanism"] != "push" || len(ex.log.Data) != 4 {
		t.Fatalf("a field added between two parks was lost: %v", ex.log.Data)
	}
}

// TestHeldRecordsFitTheirSizeClass: a held push keeps a turn and a parked
// record; each fits the allocator's size class it was made for (480 and
// 352 bytes), so that a field added to either shows here and in make
// bench's memory per held push, not only there.
func TestHeldRecordsFitTheirSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(turn{}); n > 480 {
		t.Errorf("a turn is %d bytes: past the 480-byte class, a held push takes 32 more", n)
	}
	if n := unsafe.Sizeof(parked{}); n > 352 {
		t.Errorf("a parked record is %d bytes: past the 352-byte class, a held push takes 32 more", n)
	}
}
