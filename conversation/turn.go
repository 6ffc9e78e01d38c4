package conversation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radpacket"
)

// turn is one Access-Request of a conversation being answered.
type turn struct {
	e *Engine
	// ctx is the request's, for the store calls of the replies built
	// deep in the state machine (see challenge).
	ctx      context.Context
	failure  *Failure
	client   *config.Client
	req      *radius.Packet
	log      *logrus.Entry
	start    time.Time
	received time.Time // when the kernel received the request (zero: unknown)

	user string
	prov identity.Provider
	conv session.Session // the conversation so far
	mech string          // the mechanism last used, for the outcome log
	src  throttle.Source // where the login comes from, for counting failures
	// watch are the live traces that follow this exchange (see trace.go).
	watch  []*traceWatch
	inline *inlineFactor // a factor typed after the password

	// A push being held (see park.go): holdUntil is when it must be
	// decided.
	pushSent  time.Time
	holdUntil time.Time
	// later takes the reply of a parked turn; parkCtx is the context
	// its polls run under (nil: the request's); held is its record.
	later   func(Reply, error)
	parkCtx context.Context
	held    *parked

	// The flags are together, so that a turn fits the allocator's
	// 480-byte class (a held push keeps one).
	//
	// lessThanMFA marks an Accept without a factor beyond the password,
	// which the admin allowed; its log line is a warning. holding says
	// that a held push counts against server.max_held; nasBound that
	// holdUntil is the NAS's time, not push_wait; parkedNow that the
	// turn's last drive parked it.
	lessThanMFA, holding, nasBound, parkedNow bool
}

// respond returns the reply to ex.req, or nil to send none.
func (ex *turn) respond(ctx context.Context) *radius.Packet {
	if m := radpacket.AuthMethod(ex.req); m != "" {
		if sent, ok := radpacket.UserName(ex.req); ok {
			ex.log = ex.log.WithField("user", ex.client.MapUser(sent))
		}
		ex.log.WithField("method", m).Warn("Access-Request is not PAP: rejected; mfabridge needs the password itself (configure the NAS for PAP)")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.NotPAP, "not_pap", m)
	}
	sent, ok := radpacket.UserName(ex.req)
	if !ok {
		ex.log.Warn("Access-Request without a usable User-Name (missing, too long, or not text): rejected")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Failed, "bad_user_name", "")
	}
	name := ex.client.MapUser(sent)
	ex.user = name
	ex.log = ex.log.WithField("user", name)
	if name != sent {
		ex.log = ex.log.WithField("user_sent", sent)
	}
	ex.prov = ex.e.Providers[ex.client.Provider]
	state, resuming := ex.req.Lookup(rfc2865.State_Type)
	input, err := rfc2865.UserPassword_LookupString(ex.req)
	if raw, ok := ex.req.Lookup(rfc2865.UserPassword_Type); ok && len(raw) == 0 {
		// ocserv (radcli) sends a zero-length User-Password when the user
		// presses Enter: an empty answer, not a malformed attribute.
		input, err = "", nil
	}
	switch {
	case err == nil && input == "" && !resuming:
		ex.log.Info("empty password: rejected without asking the identity provider")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Failed, "empty_password", "")
	case err == radius.ErrNoAttribute && resuming:
		input = "" // some NAS send no User-Password for an empty answer
	case err == radius.ErrNoAttribute:
		ex.log.WithField("method", "none").Warn("Access-Request without User-Password: rejected; configure the NAS for PAP")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.NotPAP, "not_pap", "none")
	case err != nil:
		ex.log.Warn("User-Password cannot be decoded: rejected")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Failed, "bad_password_attribute", "")
	}
	ex.src = throttle.Source{NAS: ex.client.Name, Station: radpacket.Station(ex.req)}
	if ex.watch = ex.e.Tracer.watchers(name, ex.client.Name); len(ex.watch) > 0 {
		ex.prov = tracedProvider{Provider: ex.prov, ex: ex}
		ex.traceRequest()
	}
	verdict, err := ex.e.Throttle.Check(ctx, name, ex.src)
	if err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: login goes on uncounted")
	}
	if verdict.Refuse != throttle.None && (!resuming || verdict.Refuse != throttle.Busy) {
		ex.log.WithFields(logrus.Fields{"reason": string(verdict.Refuse), "locked_for": verdict.For.Round(time.Second), "failures": verdict.Failures}).Warn("too many failed logins: rejected without asking the identity provider")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.LockedOut, "locked_out", "")
	}
	if resuming {
		return ex.resume(ctx, string(state), input)
	}
	if verdict.Delay > 0 {
		// Slowed: the user failed often from sources this one is not.
		ex.log.WithFields(logrus.Fields{"delay": verdict.Delay, "failures": verdict.Failures}).Info("login slowed after failed logins of this user elsewhere")
		t := time.NewTimer(verdict.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ex.upstreamFailure(ctx.Err())
		case <-t.C:
		}
	}
	if err := ex.e.storeReady(ctx); err != nil {
		ex.log.WithError(err).Error("session store not reachable: new logins are refused until it is back")
		return ex.upstreamFailure(err)
	}
	ex.conv = session.Session{NAS: ex.client.Name, User: name, Started: ex.start}
	req := identity.Request{User: name, Password: input, ClientIP: radpacket.ClientIP(ex.req)}
	if d := ex.client.InlineDelimiter; d != "" {
		if pw, f, ok := splitInline(input, d); ok {
			inline := req
			inline.Password = pw
			step, err := ex.prov.Start(ctx, inline)
			if err != nil || step.Status != identity.Rejected {
				ex.inline = &f
				ex.log = ex.log.WithField("inline", f.String())
				return ex.drive(ctx, step, err)
			}
			// The password was refused: perhaps the delimiter is part of
			// it. Try the whole string as the password.
			ex.log.Debug("password before the inline delimiter refused; trying the whole field as the password")
		}
	}
	step, err := ex.prov.Start(ctx, req)
	return ex.drive(ctx, step, err)
}

// nasDeadline is when a held request must be answered for the NAS (or the
// proxy in front of mfabridge) to still be waiting for it: nas_wait from
// when the request arrived, less a margin for the answer's way back and a
// slow moment here (a tenth, from half a second to two seconds).
func (ex *turn) nasDeadline() time.Time {
	w := ex.client.NASWait.Duration
	if w <= 0 {
		w = config.DefaultNASWait
	}
	margin := min(max(w/10, 500*time.Millisecond), 2*time.Second)
	return ex.arrived().Add(w - margin)
}

// arrived is when the request reached this host.
func (ex *turn) arrived() time.Time {
	if ex.received.IsZero() {
		return ex.start
	}
	return ex.received
}

// countFailure counts a failed login of ex.user from ex.src.
func (ex *turn) countFailure(ctx context.Context) {
	if err := ex.e.Throttle.Fail(ctx, ex.user, ex.src); err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: this failure is not counted")
	}
}

// resume continues a conversation from its State.
func (ex *turn) resume(ctx context.Context, state, input string) *radius.Packet {
	conv, err := ex.e.Store.Take(ctx, state)
	if errors.Is(err, session.ErrNotFound) {
		ex.log.Info("State is unknown, expired or already used: rejected")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Expired, "bad_state", "")
	}
	if err != nil {
		return ex.upstreamFailure(fmt.Errorf("session store: %w", err))
	}
	if conv.NAS != ex.client.Name || conv.User != ex.user {
		ex.log.WithField("state_nas", conv.NAS).Warn("State belongs to another NAS or user: rejected")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Expired, "foreign_state", "")
	}
	ex.conv = conv
	if conv.Current != nil {
		ex.mech = conv.Current.Word()
	}
	var in identity.Input
	switch conv.Phase {
	case session.PhaseMenu:
		m, ok := pick(conv.Choices, input)
		if !ok {
			return ex.menu(ex.e.Config.Texts.BadChoice)
		}
		ex.mech = m.Word()
		in = identity.Input{Action: identity.Choose, MechanismID: m.ID}
	case session.PhaseAnswer:
		in = identity.Input{Action: identity.Answer, Value: strings.TrimSpace(input)}
		if conv.Current.Kind.Secret() {
			in.Value = input // passwords and answers may end in spaces
		}
		if in.Value == "" && conv.Pending {
			in = identity.Input{Action: identity.Poll} // a link was followed
		}
	case session.PhaseApprove:
		in = identity.Input{Action: identity.Poll}
		if v := strings.TrimSpace(input); v != "" && conv.Current.Kind.Typed() {
			in = identity.Input{Action: identity.Answer, Value: v} // the code the app shows
		}
	default:
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Expired, "bad_state", "")
	}
	step, err := ex.prov.Advance(ctx, conv.Txn, in)
	if errors.Is(err, identity.ErrBadInput) {
		ex.log.WithError(err).Info("input does not fit the login; asking again")
		return ex.again(ex.e.Config.Texts.BadInput)
	}
	if conv.Phase == session.PhaseApprove && err == nil && step.Status == identity.Waiting && step.Pending {
		return ex.approve(step, ex.e.Config.Texts.NotYet)
	}
	return ex.drive(ctx, step, err)
}

// pick finds the choice a user typed: its number, or a word that names it
// (see matches).
func pick(choices []identity.Mechanism, input string) (identity.Mechanism, bool) {
	in := strings.TrimSpace(input)
	if n, err := strconv.Atoi(in); err == nil {
		if n >= 1 && n <= len(choices) {
			return choices[n-1], true
		}
		return identity.Mechanism{}, false
	}
	return first(choices, in)
}

// drive turns a provider step into a reply, taking the steps the bridge can
// take on its own: starting the only mechanism on offer, and holding a
// push while it is polled.
func (ex *turn) drive(ctx context.Context, step identity.Step, err error) *radius.Packet {
	for {
		if err != nil {
			return ex.upstreamFailure(err)
		}
		ex.conv.Txn = step.Txn
		switch step.Status {
		case identity.Accepted:
			if step.Detail != "" {
				ex.log = ex.log.WithField("detail", step.Detail)
			}
			// An Accept the admin allowed with less than MFA (allow_no_mfa)
			// is said on every such login.
			ex.lessThanMFA = step.NoMFA
			return ex.accept(ctx, step.Identity)
		case identity.Rejected:
			l := ex.log
			if step.Detail != "" {
				l = l.WithField("detail", step.Detail)
			}
			ex.log = l
			reason := ex.rejectText(step)
			if step.Why == identity.WhyFailed || step.Why == identity.WhyOther {
				// The user's failure. A federated or unenrolled account, the
				// tenant's own retry-later and a misconfiguration are not.
				ex.countFailure(ctx)
			}
			return ex.finish(radius.CodeAccessReject, reason, "reject", "")
		}
		if step.Current == nil {
			m, ok := ex.autoChoice(step.Choices)
			if !ok {
				if len(step.Choices) == 0 {
					return ex.upstreamFailure(errors.New("provider is waiting with nothing to offer"))
				}
				if ex.inline != nil {
					ex.log.Info("the inline factor the user typed is not among the user's mechanisms")
					return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Failed, "inline_unavailable", "")
				}
				ex.conv.Choices = menuEntries(step.Choices)
				return ex.menu("")
			}
			ex.mech = m.Word()
			step, err = ex.prov.Advance(ctx, step.Txn, identity.Input{Action: identity.Choose, MechanismID: m.ID})
			continue
		}
		ex.mech = step.Current.Word()
		if step.Current.Kind == identity.KindNotice {
			// A message to see before the login ends (a new recovery
			// code): shown once, never stored nor logged.
			ex.log.WithField("detail", step.Detail).Info("a notice for the user before the login ends")
			notice := *step.Current
			ex.conv.Current, ex.conv.Pending, ex.conv.Display = &notice, false, ""
			ex.conv.Phase = session.PhaseAnswer
			return ex.challenge(strings.TrimSpace(step.Display+"\n"+notice.Prompt), true)
		}
		ex.conv.Current, ex.conv.Pending, ex.conv.Display = step.Current, step.Pending, step.Display
		if ex.inline != nil && ex.inline.code != "" && step.Current.Kind.Typed() {
			code := ex.inline.code
			ex.inline.code = "" // answered once
			step, err = ex.prov.Advance(ctx, step.Txn, identity.Input{Action: identity.Answer, Value: code})
			continue
		}
		out := step.Current.Kind == identity.KindPush || step.Current.Kind == identity.KindPhone
		// An inline word (push, sms...) holds the request whatever the
		// push mode: the device cannot show a challenge.
		held := step.Pending && ex.inline != nil && ex.inline.keyword != ""
		if !held {
			if !out || !step.Pending {
				return ex.ask(step)
			}
			// A held push cannot show a number to match: prompt instead.
			if ex.client.Push == "prompt" || step.Display != "" {
				return ex.approve(step, "")
			}
		}
		// Hold the request while the push or call is approved: push_wait
		// from when it was sent, and never past the NAS's own time
		// (nas_wait from when the request arrived, less a margin for the
		// way back), so that the NAS is always answered in time.
		if ex.holdUntil.IsZero() {
			// A held request waits, it does no work: it leaves the
			// requests being worked on for the held ones, which have a
			// bound of their own. Past it the user is asked to approve,
			// then press Enter (or, where the NAS cannot show that, told
			// to try again), on the same push: never a silent drop.
			if h := ex.e.Holds; h != nil {
				if !h.Hold() {
					if !held && ex.client.Push != config.PushWait {
						ex.log.Warn("too many requests held for a push (server.max_held): asking the user to approve, then press Enter")
						return ex.approve(step, "")
					}
					ex.log.Warn("too many requests held for a push (server.max_held): rejected")
					return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Busy, "too_many_held", "")
				}
				ex.holding = true
			}
			ex.pushSent = ex.e.now()
			ex.holdUntil = ex.e.now().Add(ex.client.PushWait.Duration)
			if nas := ex.nasDeadline(); nas.Before(ex.holdUntil) {
				ex.holdUntil, ex.nasBound = nas, true
			}
		}
		wait := step.PollInterval
		if wait <= 0 {
			wait = time.Second
		}
		now := ex.e.now()
		// A push that has waited a while is polled less often: most are
		// approved in seconds, and a morning's held pushes should not poll
		// the tenant at the pace of the first seconds.
		switch held := now.Sub(ex.pushSent); {
		case held > 20*time.Second:
			wait = max(wait, 3*time.Second)
		case held > 10*time.Second:
			wait = max(wait, 2*time.Second)
		}
		if !now.Before(ex.holdUntil) {
			if ex.nasBound && !held && ex.client.Push == config.PushAdaptive {
				// Switch once to a challenge on the same push: the user
				// approves, then presses Enter; no second push.
				ex.log.WithField("nas_wait", ex.client.NASWait.Duration).Info("push not approved within the NAS's time: asking the user to approve, then press Enter")
				ex.e.Observer.PushSwitched()
				return ex.approve(step, "")
			}
			if ex.nasBound {
				ex.log.WithField("nas_wait", ex.client.NASWait.Duration).Info("push or call not approved within the NAS's time (nas_wait); rejected before the NAS gives up")
				return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.ApproveTimeout, "timeout", "")
			}
			ex.log.Info("push or call not approved within push_wait")
			ex.countFailure(ctx) // an unanswered push counts, as push bombing does
			return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.ApproveTimeout, "timeout", "")
		}
		// The last poll goes at the deadline itself, not an interval early.
		// Until then the request is parked: a record and a timer.
		ex.park(step, min(wait, ex.holdUntil.Sub(now)))
		return nil
	}
}

// autoChoice picks the mechanism to start without asking: the one the
// inline factor names, the only one, or the first of the client's prefer
// list.
func (ex *turn) autoChoice(choices []identity.Mechanism) (identity.Mechanism, bool) {
	switch {
	case ex.inline != nil:
		return inlineChoice(choices, *ex.inline)
	case len(choices) == 1:
		return choices[0], true
	}
	return first(choices, ex.client.Prefer...)
}

// upstreamFailure ends the turn without a reply: Respond returns a
// *Failure, and the bridge answers as the client's upstream_failure says.
// Never an Accept.
func (ex *turn) upstreamFailure(err error) *radius.Packet {
	ex.failure = &Failure{Err: err, Log: ex.log, Mechanism: ex.mech, Took: ex.duration(), Late: ex.late()}
	return nil
}

// late reports whether the NAS has most likely given up waiting.
func (ex *turn) late() bool {
	return ex.e.now().Sub(ex.arrived()) > ex.client.NASWait.Duration && ex.client.NASWait.Duration > 0
}

func (ex *turn) duration() time.Duration {
	start := ex.conv.Started
	if start.IsZero() {
		start = ex.start
	}
	return ex.e.now().Sub(start).Round(time.Millisecond)
}
