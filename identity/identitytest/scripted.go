package identitytest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mfabridge/mfabridge/identity"
)

// Scripted is an identity.Provider whose steps a test decides.
type Scripted struct {
	// ProviderName is its name; default "scripted".
	ProviderName string
	OnStart      func(context.Context, identity.Request) (identity.Step, error)
	OnAdvance    func(context.Context, identity.Txn, identity.Input) (identity.Step, error)
	// Calls counts Start and Advance calls.
	Calls atomic.Int32
}

var _ identity.Provider = (*Scripted)(nil)

// Name is ProviderName or "scripted".
func (s *Scripted) Name() string {
	if s.ProviderName == "" {
		return "scripted"
	}
	return s.ProviderName
}

// Start calls OnStart; without it, every login is accepted.
func (s *Scripted) Start(ctx context.Context, req identity.Request) (identity.Step, error) {
	s.Calls.Add(1)
	if s.OnStart == nil {
		return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}}, nil
	}
	return s.OnStart(ctx, req)
}

// Advance calls OnAdvance; without it, every input fails.
func (s *Scripted) Advance(ctx context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	s.Calls.Add(1)
	if s.OnAdvance == nil {
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}
	return s.OnAdvance(ctx, txn, in)
}

// Menu offers two codes, an app's and a texted one; "123456" passes
// either, any other answer fails.
func Menu() *Scripted {
	choices := []identity.Mechanism{
		{ID: "a", Kind: identity.KindCode, Name: "OATH", Label: "App code", Prompt: "Enter the app code"},
		{ID: "b", Kind: identity.KindOOBCode, Name: "SMS", Label: "Text message", Prompt: "Enter the texted code", Channel: identity.ChannelSMS},
	}
	return &Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			return identity.Step{Status: identity.Waiting, Choices: choices, Txn: identity.Txn{Provider: "scripted", Data: []byte(`{}`)}}, nil
		},
		OnAdvance: func(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
			switch in.Action {
			case identity.Choose:
				m := choices[0]
				if in.MechanismID == "b" {
					m = choices[1]
				}
				return identity.Step{Status: identity.Waiting, Current: &m, Txn: txn}, nil
			case identity.Answer:
				if in.Value == "123456" {
					return identity.Step{Status: identity.Accepted}, nil
				}
			}
			return identity.Step{Status: identity.Rejected, Reason: "Authentication failed."}, nil
		},
	}
}

// Start starts req's login with p, failing the test on an error.
func Start(t testing.TB, p identity.Provider, req identity.Request) identity.Step {
	t.Helper()
	s, err := p.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// Advance moves the login of s on with in, failing the test on an error.
func Advance(t testing.TB, p identity.Provider, s identity.Step, in identity.Input) identity.Step {
	t.Helper()
	n, err := p.Advance(context.Background(), s.Txn, in)
	if err != nil {
		t.Fatalf("Advance(%v): %v", in.Action, err)
	}
	return n
}

// Choice returns the choice of s with the provider's name name.
func Choice(t testing.TB, s identity.Step, name string) identity.Mechanism {
	t.Helper()
	for _, m := range s.Choices {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no %s among choices %+v (status %v, %s)", name, s.Choices, s.Status, s.Detail)
	return identity.Mechanism{}
}
