package conversation

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

const testSecret = "a-test-secret-of-some-length"

var quiet = func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}()

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) Authenticated(string, string)                {}
func (nopObserver) LoginFinished(string, string, time.Duration) {}
func (nopObserver) Challenged()                                 {}
func (nopObserver) PushSwitched()                               {}
func (nopObserver) Polled(string, string)                       {}

// FuzzConversationInput answers a waiting conversation (menu or code
// prompt) with arbitrary user input and User-Name. Nothing panics, and only
// the right code after a valid choice is accepted.
func FuzzConversationInput(f *testing.F) {
	for _, s := range []string{"1", "2", "sms", "OATH", "123456", "", " 123456 ", "\x00", "999999999999999999999", "Text message", "-1"} {
		f.Add(s, "alice", true)
		f.Add(s, "alice", false)
	}
	f.Add("1", "bob", true)
	f.Add("123456", "al\x00ice", false)
	cfg := &config.Config{Provider: []config.Provider{{Name: "scripted"}}, Clients: []config.Client{{Name: "local", Address: []string{"127.0.0.1"}, Secret: testSecret}}}
	cfg.SetDefaults()
	providers := map[string]identity.Provider{"scripted": identitytest.Menu()}
	f.Fuzz(func(t *testing.T, input, user string, menu bool) {
		// A store and counter of its own each time: what earlier inputs
		// left (challenges never answered, failures) neither fills the
		// store nor locks the user out.
		store := session.NewMemory(100, time.Minute)
		e := &Engine{
			Deps:      &Deps{Store: store, Throttle: throttle.NewMemory(throttle.Settings{}.WithDefaults(), 100, nil), Observer: nopObserver{}},
			Config:    cfg,
			Providers: providers,
		}
		conv := session.Session{NAS: "local", User: "alice", Txn: identity.Txn{Provider: "scripted", Data: []byte(`{}`)}, Started: time.Now()}
		if menu {
			conv.Phase = session.PhaseMenu
			conv.Choices = []identity.Mechanism{{ID: "a", Kind: identity.KindCode, Name: "OATH", Label: "App code"}, {ID: "b", Kind: identity.KindOOBCode, Name: "SMS", Label: "Text message"}}
		} else {
			conv.Phase = session.PhaseAnswer
			conv.Current = &identity.Mechanism{ID: "a", Kind: identity.KindCode, Name: "OATH"}
		}
		state, _ := newState()
		if err := store.Create(context.Background(), state, conv, time.Minute); err != nil {
			t.Fatal(err)
		}
		req := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		req.Add(rfc2865.UserName_Type, radius.Attribute(user))
		if len(input) <= 128 {
			_ = rfc2865.UserPassword_SetString(req, input)
		}
		_ = rfc2865.State_Set(req, []byte(state))
		answer, err := e.Respond(context.Background(), Request{Packet: req, Client: &cfg.Clients[0], Log: logrus.NewEntry(quiet)})
		reply := answer.Packet
		if err != nil || reply == nil {
			t.Fatalf("no reply: %v", err)
		}
		switch reply.Code {
		case radius.CodeAccessAccept:
			if menu || user != "alice" {
				t.Fatalf("accepted input %q for user %q in menu=%v", input, user, menu)
			}
		case radius.CodeAccessReject, radius.CodeAccessChallenge:
		default:
			t.Fatalf("reply code %v", reply.Code)
		}
		if _, err := msgauth.Encode(reply); err != nil {
			t.Fatalf("reply cannot be encoded: %v", err)
		}
	})
}
