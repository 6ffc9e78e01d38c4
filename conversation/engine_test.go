package conversation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	outcomes []string
	switched int
	polls    map[string]int
}

func (r *recorder) Authenticated(nas, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, nas+"/"+outcome)
}
func (r *recorder) LoginFinished(string, string, time.Duration) {}
func (r *recorder) Challenged()                                 {}
func (r *recorder) Polled(_, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls[result]++
}
func (r *recorder) PushSwitched() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switched++
}

// newEngine is an engine for one client, "vpn", in front of p, with the
// settings mutate sets.
func newEngine(p identity.Provider, mutate func(*config.Client)) (*Engine, *recorder) {
	cfg := &config.Config{Provider: []config.Provider{{Name: "scripted"}}, Clients: []config.Client{{Name: "vpn", Address: []string{"192.0.2.1"}, Secret: testSecret}}}
	if mutate != nil {
		mutate(&cfg.Clients[0])
	}
	cfg.SetDefaults()
	rec := &recorder{polls: map[string]int{}}
	return &Engine{
		Deps:      &Deps{Store: session.NewMemory(100, time.Minute), Throttle: throttle.NewMemory(throttle.Settings{}.WithDefaults(), 100, nil), Observer: rec},
		Config:    cfg,
		Providers: map[string]identity.Provider{"scripted": p},
	}, rec
}

func papRequest(user, password string, state []byte) *radius.Packet {
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	_ = rfc2865.UserName_SetString(p, user)
	_ = rfc2865.UserPassword_SetString(p, password)
	if state != nil {
		_ = rfc2865.State_Set(p, state)
	}
	return p
}

func (e *Engine) answer(t *testing.T, req *radius.Packet) *radius.Packet {
	t.Helper()
	a, err := e.Respond(context.Background(), Request{Packet: req, Client: &e.Config.Clients[0], Log: logrus.NewEntry(quiet)})
	if err != nil {
		t.Fatalf("Respond: %v", err)
	}
	return a.Packet
}

// TestRespondWithoutAServer: a whole login, menu to Accept, through the
// engine alone.
func TestRespondWithoutAServer(t *testing.T) {
	e, rec := newEngine(identitytest.Menu(), nil)
	r := e.answer(t, papRequest("alice", "pw", nil))
	if r.Code != radius.CodeAccessChallenge {
		t.Fatalf("first reply %v", r.Code)
	}
	r = e.answer(t, papRequest("alice", "sms", rfc2865.State_Get(r)))
	if r.Code != radius.CodeAccessChallenge || rfc2865.ReplyMessage_GetString(r) != "Enter the texted code" {
		t.Fatalf("after the choice: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
	r = e.answer(t, papRequest("alice", "123456", rfc2865.State_Get(r)))
	if r.Code != radius.CodeAccessAccept {
		t.Fatalf("after the code: %v", r.Code)
	}
	if len(rec.outcomes) != 1 || rec.outcomes[0] != "vpn/accept" {
		t.Errorf("outcomes %v", rec.outcomes)
	}
}

// TestProviderFailureIsTheCallersToAnswer: Respond returns no reply but a
// *Failure; it never decides reject or drop itself.
func TestProviderFailureIsTheCallersToAnswer(t *testing.T) {
	down := errors.New("connection refused")
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		return identity.Step{}, &identity.UpstreamError{Provider: "scripted", Op: "start", Err: down}
	}}
	for _, action := range []string{"reject", "drop"} {
		e, rec := newEngine(p, func(c *config.Client) { c.UpstreamFailure = action })
		a, err := e.Respond(context.Background(), Request{Packet: papRequest("alice", "pw", nil), Client: &e.Config.Clients[0], Log: logrus.NewEntry(quiet)})
		var f *Failure
		if !errors.As(err, &f) || !errors.Is(err, down) || a.Packet != nil {
			t.Fatalf("%s: %v, %v", action, a.Packet, err)
		}
		if len(rec.outcomes) != 0 {
			t.Errorf("%s: the engine counted an outcome itself: %v", action, rec.outcomes)
		}
	}
}

// pushProvider sends a push that is approved after approveAfter (never
// when 0), by the fake clock of the test's bubble.
func pushProvider(approveAfter time.Duration) *identitytest.Scripted {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push", Channel: identity.ChannelApp}
	var sent time.Time
	return &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			sent = time.Now()
			m := push
			return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: time.Second, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
		OnAdvance: func(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
			if in.Action == identity.Poll && approveAfter > 0 && time.Since(sent) >= approveAfter {
				return identity.Step{Status: identity.Accepted}, nil
			}
			m := push
			return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: time.Second, Txn: txn}, nil
		},
	}
}

// TestHeldPushFitsTheNASsTime: a held push is answered within the NAS's
// time, by the fake clock: approved in time, an Accept when it is; not
// approved, a challenge on the same push (adaptive) or a timeout (wait),
// a margin before nas_wait runs out.
func TestHeldPushFitsTheNASsTime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		push       string
		approve    time.Duration
		want       radius.Code
		within     time.Duration
		switchOnce bool
	}{
		{"approved in time", config.PushAdaptive, 3 * time.Second, radius.CodeAccessAccept, 4 * time.Second, false},
		{"adaptive: a challenge before the NAS gives up", config.PushAdaptive, 0, radius.CodeAccessChallenge, 9 * time.Second, true},
		{"wait: a reject before the NAS gives up", config.PushWait, 0, radius.CodeAccessReject, 9 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, rec := newEngine(pushProvider(tc.approve), func(c *config.Client) {
					c.Push = tc.push
					c.NASWait = config.Duration{Duration: 10 * time.Second}
				})
				began := time.Now()
				r := e.answer(t, papRequest("alice", "pw", nil))
				took := time.Since(began)
				if r.Code != tc.want {
					t.Fatalf("reply %v, want %v", r.Code, tc.want)
				}
				if took > tc.within || took >= 10*time.Second {
					t.Errorf("answered after %v, want within %v (nas_wait 10s)", took, tc.within)
				}
				if got := rec.switched == 1; got != tc.switchOnce {
					t.Errorf("switched to a challenge %d times", rec.switched)
				}
			})
		})
	}
}
