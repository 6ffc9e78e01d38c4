// Package loadtest is an identity provider that answers from memory, so
// that a load run (make bench) measures mfabridge's own cost without HTTP,
// and a lab can try a NAS without a tenant. Every user it knows has one
// password and one code; a push is approved after a set time or when
// Approve is called. It checks nothing a real tenant would: never point a
// NAS that guards anything at it (mfabridge warns at start when one is
// configured).
package loadtest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// TypeName is the type of a [[provider]] block of the in-memory provider.
const TypeName = "loadtest"

// The factors a user may have.
const (
	// FactorNone accepts the password alone (the equal of a PAP check).
	FactorNone = "none"
	// FactorCode asks for the code after the password.
	FactorCode = "code"
	// FactorPush offers the code and a push.
	FactorPush = "push"
	// FactorUnenrolled: users have no factor (WhyNoMechanism).
	FactorUnenrolled = "unenrolled"
)

// Config is a loadtest provider's [[provider]] keys.
type Config struct {
	// Password is every user's password.
	Password string `toml:"password,secret"`
	// Code is every user's one-time code. Default "123456".
	Code string `toml:"code"`
	// Factor is FactorNone, FactorCode (default) or FactorPush.
	Factor string `toml:"factor"`
	// Users are the user names it knows; empty, it knows every name.
	Users []string `toml:"users"`
	// PushAfter approves a push this long after it was sent; 0 leaves
	// it to Approve or Deny.
	PushAfter time.Duration `toml:"push_after"`

	// TxnBytes makes each login's transaction this long, and Choices
	// replaces the menu, so that memory per pending conversation can be
	// measured with a real provider's sizes.
	TxnBytes int                  `toml:"-"`
	Choices  []identity.Mechanism `toml:"-"`
}

// Validate reports every problem of c.
func (c *Config) Validate() error {
	var errs []error
	if c.Password == "" {
		errs = append(errs, errors.New("password: required: the password every user of this provider has"))
	}
	switch c.Factor {
	case "", FactorNone, FactorCode, FactorPush, FactorUnenrolled:
	default:
		errs = append(errs, fmt.Errorf("factor: %q is not a factor; use %q, %q, %q or %q", c.Factor, FactorNone, FactorCode, FactorPush, FactorUnenrolled))
	}
	if c.PushAfter < 0 {
		errs = append(errs, errors.New("push_after: must not be negative"))
	}
	return errors.Join(errs...)
}

// New opens the provider.
func (c *Config) New(env identity.Env) (identity.Provider, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: *c, name: env.Name}
	if _, err := rand.Read(p.key[:]); err != nil {
		return nil, err
	}
	if p.cfg.Code == "" {
		p.cfg.Code = "123456"
	}
	if p.cfg.Factor == "" {
		p.cfg.Factor = FactorCode
	}
	if env.Logger != nil {
		env.Logger.WithField("provider", env.Name).Warn("provider type loadtest: every user has the same password and code; use it for load tests and labs only")
	}
	return p, nil
}

// Provider is an open loadtest provider.
type Provider struct {
	cfg  Config
	name string
	// key signs the transactions it hands out, so that it takes back only
	// its own.
	key [32]byte
	// decided holds Approve and Deny calls, by user.
	decided sync.Map
	// down, when set, makes every call fail as a tenant that is down.
	down atomic.Pointer[error]
}

// Fail makes every call from now on fail with err as an upstream error, as
// if the tenant were down; nil ends that.
func (p *Provider) Fail(err error) {
	if err == nil {
		p.down.Store(nil)
		return
	}
	p.down.Store(&err)
}

func (p *Provider) failure(op string) error {
	if err := p.down.Load(); err != nil {
		return &identity.UpstreamError{Provider: p.name, Op: op, Err: *err}
	}
	return nil
}

// Open is New for code that builds a Config itself (tests, the bench).
func (c Config) Open(name string) (*Provider, error) {
	p, err := c.New(identity.Env{Name: name})
	if err != nil {
		return nil, err
	}
	return p.(*Provider), nil
}

var _ identity.Provider = (*Provider)(nil)

var (
	codeMech = identity.Mechanism{ID: "code", Kind: identity.KindCode, Name: "code", Label: "Authenticator app", Prompt: "Enter the code from your authenticator app"}
	pushMech = identity.Mechanism{ID: "push", Kind: identity.KindPush, Name: "push", Label: "Push to your phone", Prompt: "Approve the request on your phone", Channel: identity.ChannelApp}
)

// Name is the configured name.
func (p *Provider) Name() string { return p.name }

// Approve approves the user's pending push; Deny denies it.
func (p *Provider) Approve(user string) { p.decided.Store(user, true) }

// Deny denies the user's pending push.
func (p *Provider) Deny(user string) { p.decided.Store(user, false) }

// Start checks the password.
func (p *Provider) Start(_ context.Context, req identity.Request) (identity.Step, error) {
	if err := p.failure("start"); err != nil {
		return identity.Step{}, err
	}
	known := len(p.cfg.Users) == 0 || slices.Contains(p.cfg.Users, req.User)
	if subtle.ConstantTimeCompare([]byte(req.Password), []byte(p.cfg.Password)) != 1 || !known {
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}
	switch p.cfg.Factor {
	case FactorNone:
		return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}, NoMFA: true}, nil
	case FactorUnenrolled:
		return identity.Step{Status: identity.Rejected, Why: identity.WhyNoMechanism, Detail: "loadtest: factor = unenrolled"}, nil
	}
	// Each conversation gets its own copies, as from a real provider.
	choices := []identity.Mechanism{codeMech}
	switch {
	case len(p.cfg.Choices) > 0:
		choices = make([]identity.Mechanism, len(p.cfg.Choices))
		for i, m := range p.cfg.Choices {
			choices[i] = identity.Mechanism{ID: clone(m.ID), Kind: m.Kind, Name: clone(m.Name), Label: clone(m.Label), Prompt: clone(m.Prompt), Channel: m.Channel}
		}
	case p.cfg.Factor == FactorPush:
		choices = append(choices, pushMech)
		p.decided.Delete(req.User)
	}
	return identity.Step{Status: identity.Waiting, Choices: choices, Txn: p.txn(req.User, time.Time{})}, nil
}

// txn is the transaction: its MAC (16 bytes), when a push was sent (8
// bytes), the user, and padding to TxnBytes.
func (p *Provider) txn(user string, pushed time.Time) identity.Txn {
	data := make([]byte, macSize, macSize+8+len(user))
	var ns uint64
	if !pushed.IsZero() {
		ns = uint64(pushed.UnixNano())
	}
	data = binary.BigEndian.AppendUint64(data, ns)
	data = append(data, user...)
	if n := p.cfg.TxnBytes - len(data); n > 0 {
		data = append(data, make([]byte, n)...)
	}
	copy(data, p.mac(data[macSize:]))
	return identity.Txn{Provider: p.name, Data: data}
}

const macSize = 16

func (p *Provider) mac(b []byte) []byte {
	h := hmac.New(sha256.New, p.key[:])
	h.Write(b)
	return h.Sum(nil)[:macSize]
}

func (p *Provider) readTxn(txn identity.Txn) (user string, pushed time.Time, err error) {
	if txn.Provider != p.name || len(txn.Data) < macSize+8 || !hmac.Equal(txn.Data[:macSize], p.mac(txn.Data[macSize:])) {
		return "", time.Time{}, identity.ErrBadTxn
	}
	data := txn.Data[macSize:]
	if ns := binary.BigEndian.Uint64(data); ns != 0 {
		pushed = time.Unix(0, int64(ns))
	}
	user = string(data[8:])
	if i := len(user) - 1; p.cfg.TxnBytes > 0 {
		for i >= 0 && user[i] == 0 {
			i--
		}
		user = user[:i+1]
	}
	return user, pushed, nil
}

// clone copies s, as text decoded from a tenant's answer is a copy of its
// own.
func clone(s string) string { return string(append([]byte(nil), s...)) }

// Advance takes the choice, then the code or the push's outcome.
func (p *Provider) Advance(_ context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	if err := p.failure(in.Action.String()); err != nil {
		return identity.Step{}, err
	}
	user, pushed, err := p.readTxn(txn)
	if err != nil {
		return identity.Step{}, err
	}
	switch in.Action {
	case identity.Choose:
		switch {
		case in.MechanismID == pushMech.ID && p.cfg.Factor == FactorPush:
			m := pushMech
			return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: time.Second, Txn: p.txn(user, time.Now())}, nil
		case in.MechanismID == pushMech.ID:
			return identity.Step{}, identity.ErrBadInput
		}
		m := codeMech
		if len(p.cfg.Choices) > 0 {
			for _, c := range p.cfg.Choices {
				if c.ID == in.MechanismID {
					m = c
				}
			}
		}
		return identity.Step{Status: identity.Waiting, Current: &m, Txn: txn}, nil
	case identity.Answer:
		if subtle.ConstantTimeCompare([]byte(in.Value), []byte(p.cfg.Code)) == 1 {
			return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: user}}, nil
		}
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	case identity.Poll:
		if pushed.IsZero() {
			return identity.Step{}, identity.ErrBadInput
		}
		approved, decided := p.decided.Load(user)
		if !decided && p.cfg.PushAfter > 0 && time.Since(pushed) >= p.cfg.PushAfter {
			approved, decided = true, true
		}
		switch {
		case !decided:
			m := pushMech
			return identity.Step{Status: identity.Waiting, Current: &m, Pending: true, PollInterval: time.Second, Txn: txn}, nil
		case approved.(bool):
			p.decided.Delete(user)
			return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: user}}, nil
		}
		p.decided.Delete(user)
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed, Detail: "push denied"}, nil
	}
	return identity.Step{}, identity.ErrBadInput
}
