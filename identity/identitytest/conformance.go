// Package identitytest is the test kit of identity providers: a provider
// whose steps a test scripts, and the conformance suite every provider
// type passes, so that the bridge can rely on the same Step shapes from
// each (see TestConformance in each provider's package).
package identitytest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// User is a user the suite needs the tenant to know.
type User struct {
	Name, Password string
	// Code: an authenticator app (a TOTP or a fixed code).
	Code bool
	// Push: a push to a phone, decided by Tenant.Approve or Tenant.Deny.
	Push bool
	// Unenrolled: no factor usable over RADIUS.
	Unenrolled bool
}

// Tenant is the provider under test in front of its (emulated) tenant.
type Tenant struct {
	Provider identity.Provider
	// Code returns a code the tenant accepts from user now.
	Code func(user string) string
	// Approve and Deny decide the user's pending push.
	Approve, Deny func(user string)
	// Down makes the tenant fail from now on as one that is down.
	Down func()
}

// Open returns a tenant that knows user, and the provider in front of it.
type Open func(t *testing.T, user User) Tenant

// Conformance runs the suite against the provider open returns.
func Conformance(t *testing.T, open Open) {
	ctx := context.Background()
	alice := User{Name: "alice", Password: "alice-password", Code: true}
	t.Run("WrongPasswordFails", func(t *testing.T) {
		tn := open(t, alice)
		step, err := tn.Provider.Start(ctx, identity.Request{User: alice.Name, Password: "wrong"})
		mustReject(t, step, err, identity.WhyFailed)
	})
	t.Run("UnknownUserFailsAsAWrongPassword", func(t *testing.T) {
		tn := open(t, alice)
		step, err := tn.Provider.Start(ctx, identity.Request{User: "nobody", Password: alice.Password})
		mustReject(t, step, err, identity.WhyFailed)
	})
	t.Run("CodeAccepts", func(t *testing.T) {
		tn := open(t, alice)
		step := startTo(t, tn, alice, identity.KindCode)
		step, err := tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Answer, Value: tn.Code(alice.Name)})
		mustAccept(t, step, err)
	})
	t.Run("WrongCodeNeverAccepts", func(t *testing.T) {
		tn := open(t, alice)
		step := startTo(t, tn, alice, identity.KindCode)
		wrong := "000000"
		if tn.Code(alice.Name) == wrong {
			wrong = "111111"
		}
		step, err := tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Answer, Value: wrong})
		if err != nil || step.Status == identity.Accepted {
			t.Fatalf("wrong code: %v %v", step.Status, err)
		}
		if step.Status == identity.Rejected && step.Why != identity.WhyFailed {
			t.Errorf("wrong code rejected with %q, want %q", step.Why, identity.WhyFailed)
		}
	})
	bob := User{Name: "bob", Password: "bob-password", Code: true, Push: true}
	t.Run("MenuOffersEveryFactor", func(t *testing.T) {
		tn := open(t, bob)
		step, err := tn.Provider.Start(ctx, identity.Request{User: bob.Name, Password: bob.Password})
		if err != nil || step.Status != identity.Waiting || len(step.Choices) < 2 || step.Txn.Provider != tn.Provider.Name() {
			t.Fatalf("menu: %+v %v", step, err)
		}
		kinds := map[identity.Kind]bool{}
		for _, m := range step.Choices {
			kinds[m.Kind] = true
			if m.ID == "" || m.Name == "" || m.Label == "" {
				t.Errorf("a choice without ID, Name or Label: %+v", m)
			}
		}
		if !kinds[identity.KindCode] || !kinds[identity.KindPush] {
			t.Errorf("menu kinds %v, want code and push", kinds)
		}
	})
	t.Run("PushPendsUntilApproved", func(t *testing.T) {
		tn := open(t, bob)
		step := startTo(t, tn, bob, identity.KindPush)
		if !step.Pending || step.Current.Channel != identity.ChannelApp {
			t.Fatalf("push sent: pending %v, channel %q", step.Pending, step.Current.Channel)
		}
		step, err := tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Poll})
		if err != nil || step.Status != identity.Waiting || !step.Pending {
			t.Fatalf("poll before the user decided: %v pending %v, %v", step.Status, step.Pending, err)
		}
		tn.Approve(bob.Name)
		step, err = tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Poll})
		mustAccept(t, step, err)
	})
	t.Run("DeniedPushFails", func(t *testing.T) {
		tn := open(t, bob)
		step := startTo(t, tn, bob, identity.KindPush)
		tn.Deny(bob.Name)
		step, err := tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Poll})
		mustReject(t, step, err, identity.WhyFailed)
	})
	t.Run("UnenrolledUserHasNoMechanism", func(t *testing.T) {
		carol := User{Name: "carol", Password: "carol-password", Unenrolled: true}
		tn := open(t, carol)
		step, err := tn.Provider.Start(ctx, identity.Request{User: carol.Name, Password: carol.Password})
		mustReject(t, step, err, identity.WhyNoMechanism)
	})
	t.Run("TenantDownIsAnUpstreamError", func(t *testing.T) {
		tn := open(t, alice)
		tn.Down()
		step, err := tn.Provider.Start(ctx, identity.Request{User: alice.Name, Password: alice.Password})
		if !errors.Is(err, identity.ErrUpstream) || step.Status == identity.Accepted {
			t.Fatalf("tenant down: %v, %v; want an upstream error", step.Status, err)
		}
		if strings.Contains(err.Error(), alice.Password) {
			t.Errorf("the error holds the password: %v", err)
		}
	})
	t.Run("DownDuringALoginIsAnUpstreamError", func(t *testing.T) {
		tn := open(t, alice)
		step := startTo(t, tn, alice, identity.KindCode)
		tn.Down()
		step, err := tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Answer, Value: tn.Code(alice.Name)})
		if !errors.Is(err, identity.ErrUpstream) || step.Status == identity.Accepted {
			t.Fatalf("tenant down: %v, %v; want an upstream error", step.Status, err)
		}
	})
	t.Run("ForeignTxnNeverAccepts", func(t *testing.T) {
		tn := open(t, alice)
		for _, txn := range []identity.Txn{
			{Provider: tn.Provider.Name(), Data: []byte("\x00garbage\xff")},
			{Provider: tn.Provider.Name()},
		} {
			step, err := tn.Provider.Advance(ctx, txn, identity.Input{Action: identity.Answer, Value: tn.Code(alice.Name)})
			if err == nil || step.Status == identity.Accepted {
				t.Errorf("a transaction it never made: %v, %v; want an error", step.Status, err)
			}
		}
	})
	t.Run("TxnIsAPlainValue", func(t *testing.T) {
		// A store keeps the bytes elsewhere (Redis): a copy must do.
		tn := open(t, alice)
		step := startTo(t, tn, alice, identity.KindCode)
		txn := identity.Txn{Provider: step.Txn.Provider, Data: append([]byte(nil), step.Txn.Data...)}
		if strings.Contains(string(txn.Data), alice.Password) {
			t.Fatal("the transaction holds the password")
		}
		step, err := tn.Provider.Advance(ctx, txn, identity.Input{Action: identity.Answer, Value: tn.Code(alice.Name)})
		mustAccept(t, step, err)
	})
}

// startTo starts u's login and chooses the first mechanism of kind, so
// that it is in progress.
func startTo(t *testing.T, tn Tenant, u User, kind identity.Kind) identity.Step {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	step, err := tn.Provider.Start(ctx, identity.Request{User: u.Name, Password: u.Password})
	if err != nil || step.Status != identity.Waiting {
		t.Fatalf("start: %v %v", step.Status, err)
	}
	if step.Current != nil && step.Current.Kind == kind {
		return step
	}
	for _, m := range step.Choices {
		if m.Kind != kind {
			continue
		}
		step, err = tn.Provider.Advance(ctx, step.Txn, identity.Input{Action: identity.Choose, MechanismID: m.ID})
		if err != nil || step.Status != identity.Waiting || step.Current == nil || step.Current.Kind != kind {
			t.Fatalf("choose %s: %+v %v", kind, step, err)
		}
		if kind.Pollable() != step.Pending && kind == identity.KindPush {
			t.Fatalf("choose %s: pending %v", kind, step.Pending)
		}
		return step
	}
	t.Fatalf("no %s among %+v", kind, step.Choices)
	return step
}

func mustAccept(t *testing.T, step identity.Step, err error) {
	t.Helper()
	if err != nil || step.Status != identity.Accepted {
		t.Fatalf("want Accepted, got %v (%s %s) %v", step.Status, step.Why, step.Detail, err)
	}
	if step.Identity == nil || step.Identity.User == "" {
		t.Errorf("accepted without an identity: %+v", step.Identity)
	}
}

func mustReject(t *testing.T, step identity.Step, err error, why identity.Why) {
	t.Helper()
	if err != nil || step.Status != identity.Rejected || step.Why != why {
		t.Fatalf("want Rejected (%s), got %v (%q %s) %v", why, step.Status, step.Why, step.Detail, err)
	}
	if step.Identity != nil {
		t.Errorf("rejected with an identity: %+v", step.Identity)
	}
}
