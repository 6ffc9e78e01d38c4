package loadgen

import (
	"context"
	"crypto/subtle"

	"github.com/mfabridge/mfabridge/identity"
)

// Provider is an identity provider that answers from memory, so that a
// load run measures the bridge's own cost without HTTP.
type Provider struct {
	// MFA asks for a code after the password; otherwise the password
	// alone is accepted (the equal of a PAP check).
	MFA      bool
	Password string
	Code     string
	// TxnData is the transaction kept between packets, and Choices the
	// menu offered after the password; set them to a real provider's to
	// measure memory per pending conversation faithfully. Without Choices,
	// the one choice is an authenticator app's code.
	TxnData []byte
	Choices []identity.Mechanism
}

var _ identity.Provider = (*Provider)(nil)

var codeMech = identity.Mechanism{ID: "code", Kind: identity.KindCode, Name: "OATH", Label: "Authenticator app", Prompt: "Enter the code from your authenticator app"}

// Name is "bench".
func (p *Provider) Name() string { return "bench" }

// Start checks the password.
func (p *Provider) Start(_ context.Context, req identity.Request) (identity.Step, error) {
	if subtle.ConstantTimeCompare([]byte(req.Password), []byte(p.Password)) != 1 {
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}
	if !p.MFA {
		return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}}, nil
	}
	// Each conversation gets its own copies, as from a real provider.
	choices := []identity.Mechanism{codeMech}
	if len(p.Choices) > 0 {
		choices = make([]identity.Mechanism, len(p.Choices))
		for i, m := range p.Choices {
			choices[i] = identity.Mechanism{ID: clone(m.ID), Kind: m.Kind, Name: clone(m.Name), Label: clone(m.Label), Prompt: clone(m.Prompt)}
		}
	}
	data := append([]byte(nil), p.TxnData...)
	return identity.Step{Status: identity.Waiting, Choices: choices, Txn: identity.Txn{Provider: "bench", Data: data}}, nil
}

// clone copies s, as text decoded from a tenant's answer is a copy of its
// own.
func clone(s string) string { return string(append([]byte(nil), s...)) }

// Advance takes the choice, then the code.
func (p *Provider) Advance(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	switch in.Action {
	case identity.Choose:
		m := codeMech
		return identity.Step{Status: identity.Waiting, Current: &m, Txn: txn}, nil
	case identity.Answer:
		if subtle.ConstantTimeCompare([]byte(in.Value), []byte(p.Code)) == 1 {
			return identity.Step{Status: identity.Accepted}, nil
		}
	}
	return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
}
