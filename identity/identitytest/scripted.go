package identitytest

import (
	"context"

	"github.com/mfabridge/mfabridge/identity"
)

// Scripted is an identity.Provider whose steps a test decides.
type Scripted struct {
	// ProviderName is its name; default "scripted".
	ProviderName string
	OnStart      func(context.Context, identity.Request) (identity.Step, error)
	OnAdvance    func(context.Context, identity.Txn, identity.Input) (identity.Step, error)
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
	if s.OnStart == nil {
		return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}}, nil
	}
	return s.OnStart(ctx, req)
}

// Advance calls OnAdvance; without it, every input fails.
func (s *Scripted) Advance(ctx context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	if s.OnAdvance == nil {
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}
	return s.OnAdvance(ctx, txn, in)
}
