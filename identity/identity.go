// Package identity is the provider-neutral model between the RADIUS bridge and
// an identity provider's MFA API.
//
// A provider speaks its upstream protocol; the bridge owns the RADIUS user
// experience and policy. A login is a sequence of steps: Start answers the
// password and returns the first step, Advance moves the login on with the
// user's input. Each step is accepted, rejected, or waiting for the user.
//
// A rejected login is a result (Step.Status == Rejected); an error means the
// upstream or the network broke, and the bridge maps it to its configured
// upstream-failure action. Nothing here ever turns an error into an accept.
package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is the neutral kind of an MFA mechanism.
type Kind string

// The mechanism kinds a RADIUS conversation can carry.
const (
	// KindPassword is a password typed by the user. The provider answers the
	// first one from the Access-Request itself.
	KindPassword Kind = "password"
	// KindCode is a code the user reads from an authenticator (TOTP/HOTP).
	KindCode Kind = "code"
	// KindOOBCode is a code sent out of band (SMS, email) and typed back;
	// the user may instead follow a link, which a poll notices.
	KindOOBCode Kind = "oob_code"
	// KindPush is a mobile push approval. The user approves on the phone
	// (poll) or types the code the app shows.
	KindPush Kind = "push"
	// KindPhone is a phone call the user answers; it can only be polled.
	KindPhone Kind = "phone"
	// KindQuestion is a security question answered as text.
	KindQuestion Kind = "question"
	// KindNotice is a message the user must see before the login ends (a
	// new recovery code); any answer, Enter included, acknowledges it.
	// Step.Display holds the message, which the bridge shows and never
	// stores.
	KindNotice Kind = "notice"
)

// Pollable reports whether the outcome of a mechanism of this kind can arrive
// out of band, so that polling makes sense.
func (k Kind) Pollable() bool {
	switch k {
	case KindOOBCode, KindPush, KindPhone:
		return true
	}
	return false
}

// Typed reports whether the user answers a mechanism of this kind by typing.
func (k Kind) Typed() bool {
	return k != KindPhone
}

// Secret reports whether a typed answer of this kind should not be echoed.
func (k Kind) Secret() bool {
	return k == KindPassword || k == KindQuestion
}

// Mechanism is one way for the user to pass the current challenge.
type Mechanism struct {
	// ID identifies the mechanism within the login; opaque to the bridge.
	ID string `json:"id"`
	// Kind is the neutral kind.
	Kind Kind `json:"kind"`
	// Name is the provider's name of the mechanism (OATH, SMS, push...),
	// used in logs and matched when a user types a mechanism by name.
	Name string `json:"name"`
	// Label is the provider's short text for a menu entry.
	Label string `json:"label,omitempty"`
	// Prompt is the provider's text once the mechanism is chosen.
	Prompt string `json:"prompt,omitempty"`
	// Channel is how a code or a push reaches the user (ChannelSMS...),
	// set by the provider; "" when the mechanism has no channel (a
	// password, an authenticator app's code) or the provider cannot tell.
	Channel Channel `json:"channel,omitempty"`
}

// Channel is how a mechanism reaches the user, in neutral terms, so that
// the bridge can match what a user types ("sms", "email") without knowing
// a provider's names.
type Channel string

// The channels a mechanism may use.
const (
	ChannelSMS   Channel = "sms"
	ChannelEmail Channel = "email"
	ChannelVoice Channel = "voice"
	// ChannelApp is a push to, or a code shown by, a mobile app.
	ChannelApp Channel = "app"
)

// Status says where a login stands after a step.
type Status int

// The three outcomes of a step.
const (
	// Waiting means the user must do something: choose, type or approve.
	Waiting Status = iota
	// Accepted means the user passed every challenge.
	Accepted
	// Rejected means the user failed; Step.Reason says why.
	Rejected
)

func (s Status) String() string {
	switch s {
	case Waiting:
		return "waiting"
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Why is the kind of a rejection.
type Why string

// The kinds of rejection.
const (
	// WhyFailed: wrong password, code or answer, denied push, unknown user.
	WhyFailed Why = "failed"
	// WhyFederated: the account signs in through an external IdP.
	WhyFederated Why = "federated"
	// WhyNoMechanism: no mechanism usable over RADIUS is enrolled.
	WhyNoMechanism Why = "no_mechanism"
	// WhyRetryLater: the provider asked to wait (Step.RetryAfter).
	WhyRetryLater Why = "retry_later"
	// WhyMisconfigured: the provider's setup does not allow a safe login.
	WhyMisconfigured Why = "misconfigured"
	// WhyOther: see Step.Reason.
	WhyOther Why = ""
)

// Identity is who the user turned out to be after an accepted login.
type Identity struct {
	// User is the login name the provider reports.
	User string `json:"user"`
	// ID is the provider's identifier of the user, when known.
	ID string `json:"id,omitempty"`
	// DisplayName is the user's name for humans, when known.
	DisplayName string `json:"display_name,omitempty"`
	// Groups holds roles or groups, when the provider reports them.
	Groups []string `json:"groups,omitempty"`
}

// Step is the result of Start or Advance.
type Step struct {
	Status Status

	// Identity is set when Status is Accepted.
	Identity *Identity
	// Why is the kind of rejection when Status is Rejected; the bridge
	// shows the user its configured text for it.
	Why Why
	// Reason is the provider's own text for a rejection, safe to show the
	// user; the bridge uses it when Why is WhyOther. Details go to the log
	// only through Detail.
	Reason string
	// Detail is an explanation for the operator's log; never shown to the
	// user and never holding a secret.
	Detail string
	// NoMFA, on an Accept, says that the user passed no factor beyond the
	// password, as the admin allowed (allow_no_mfa); the bridge logs every
	// such Accept as a warning.
	NoMFA bool
	// RetryAfter, when set on a rejection, is how long the provider asked
	// the user to wait before trying again.
	RetryAfter time.Duration

	// Choices lists the mechanisms the user may pick from when Status is
	// Waiting and no mechanism is in progress.
	Choices []Mechanism
	// Current is the mechanism in progress when Status is Waiting.
	Current *Mechanism
	// Pending is true when Current has been started out of band (a push
	// sent, a call placed, a code sent) and polling may finish it.
	Pending bool
	// Display is extra text for the user, such as the number to pick on the
	// phone when push number matching is on.
	Display string
	// PollInterval is how often the provider may be polled while Pending.
	PollInterval time.Duration
	// SlowDown, on a Waiting step answering a poll, says that the tenant
	// rate-limited the poll (HTTP 429): the limit is the tenant's, so every
	// held push of this provider waits PollInterval before its next poll,
	// not only this one.
	SlowDown bool

	// Txn is what the provider needs to go on; set whenever Status is
	// Waiting.
	Txn Txn
}

// Txn is the provider's transaction state between two RADIUS packets: a plain
// serializable value that a session store may keep outside the process. It
// never holds the user's password.
type Txn struct {
	// Provider is the name of the provider that owns the transaction.
	Provider string `json:"provider"`
	// Data is the provider's own state, opaque to the bridge (and not
	// necessarily text).
	Data []byte `json:"data"`
}

// Request is what a login starts from.
type Request struct {
	// User is the login name as the tenant knows it.
	User string
	// Password is the password from the Access-Request. Providers use it
	// for the first password mechanism and never store it.
	Password string
	// ClientIP is the end user's address as the NAS reported it, when known.
	ClientIP string
}

// Action is what the user did when a login is advanced.
type Action int

// The ways a login moves on.
const (
	// Choose picks Input.MechanismID from Step.Choices and starts it.
	Choose Action = iota + 1
	// Answer sends Input.Value (a code or answer) for the current mechanism.
	Answer
	// Poll asks whether the out-of-band mechanism in progress has finished.
	Poll
)

func (a Action) String() string {
	switch a {
	case Choose:
		return "choose"
	case Answer:
		return "answer"
	case Poll:
		return "poll"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Input is the user's part of an Advance.
type Input struct {
	Action      Action
	MechanismID string
	Value       string
}

// Provider drives one identity provider's login.
type Provider interface {
	// Name is the provider's configured name, as used in Txn.Provider.
	Name() string
	// Start begins a login for req.User and answers the password.
	Start(ctx context.Context, req Request) (Step, error)
	// Advance moves a login on with the user's input.
	Advance(ctx context.Context, txn Txn, in Input) (Step, error)
}

// Prober is a provider that can check, without a user's login, that its
// tenant answers and accepts mfabridge's own credentials: for `mfabridge
// doctor` and the readiness check. It never counts against a user.
type Prober interface {
	// Probe returns nil when the tenant answered as it should; an error
	// says what failed (DNS, connection, TLS, credentials, answer).
	Probe(ctx context.Context) error
}

// GroupLookup is a provider that can look up a user's roles or groups
// after the login, for access rules and reply attributes. The bridge finds
// it by type assertion and calls it only when a rule needs the groups.
type GroupLookup interface {
	Groups(ctx context.Context, id Identity) ([]string, error)
}

// ErrUpstream marks errors where the identity provider or the network to it
// failed, as opposed to a user failing authentication.
var ErrUpstream = errors.New("identity: upstream failure")

// UpstreamError describes a failed call to an identity provider. It never
// holds a secret, a password, a code or a token.
type UpstreamError struct {
	// Provider is the provider's name.
	Provider string
	// Op is the call that failed, such as "StartAuthentication".
	Op string
	// Status is the HTTP status, or 0 when no response arrived.
	Status int
	// Err is the cause.
	Err error
}

func (e *UpstreamError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s: HTTP %d: %v", e.Provider, e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Provider, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *UpstreamError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUpstream) true for every UpstreamError.
func (e *UpstreamError) Is(target error) bool { return target == ErrUpstream }

// ErrBadInput marks an Advance whose input does not fit the login's state,
// such as a choice that is not on offer. The bridge answers it itself.
var ErrBadInput = errors.New("identity: input does not fit the login")

// ErrBadTxn marks transaction state that cannot be decoded.
var ErrBadTxn = errors.New("identity: transaction state is not valid")

// Word names the mechanism as its user knows it, for logs and metrics:
// push, phone, code (an authenticator app), question, or the channel of a
// code sent out of band (sms, email, voice); the provider's own name (OTP
// for a CyberArk push) is not what users call it.
func (m Mechanism) Word() string {
	if m.Kind == KindOOBCode {
		switch m.Channel {
		case ChannelSMS, ChannelEmail, ChannelVoice:
			return string(m.Channel)
		}
	}
	return string(m.Kind)
}
