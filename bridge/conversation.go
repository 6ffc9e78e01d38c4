package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radattr"
)

// maxRounds bounds the challenges of one conversation.
const maxRounds = 10

// exchange is one Access-Request being answered.
type exchange struct {
	s         *Server
	cfg       *config.Config
	providers map[string]identity.Provider
	client    *config.Client
	req       *radius.Packet
	log       *logrus.Entry
	start     time.Time
	received  time.Time // when the kernel received the request (zero: unknown)

	user string
	prov identity.Provider
	conv session.Session // the conversation so far
	mech string          // the mechanism last used, for the outcome log
	src  throttle.Source // where the login comes from, for counting failures
	// watch are the live traces that follow this exchange (see trace.go).
	watch   []*traceWatch
	traceID string
	// lessThanMFA marks an Accept without a factor beyond the password,
	// which the admin allowed; its log line is a warning.
	lessThanMFA bool
	inline      *inlineFactor // a factor typed after the password
}

// respond returns the reply to ex.req, or nil to send none.
func (ex *exchange) respond(ctx context.Context) *radius.Packet {
	if m := authMethod(ex.req); m != "" {
		if sent, ok := userName(ex.req); ok {
			ex.log = ex.log.WithField("user", ex.client.MapUser(sent))
		}
		ex.log.WithField("method", m).Warn("Access-Request is not PAP: rejected; mfabridge needs the password itself (configure the NAS for PAP)")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.NotPAP, "not_pap", m)
	}
	sent, ok := userName(ex.req)
	if !ok {
		ex.log.Warn("Access-Request without a usable User-Name (missing, too long, or not text): rejected")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Failed, "bad_user_name", "")
	}
	name := ex.client.MapUser(sent)
	ex.user = name
	ex.log = ex.log.WithField("user", name)
	if name != sent {
		ex.log = ex.log.WithField("user_sent", sent)
	}
	ex.prov = ex.providers[ex.client.Provider]
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
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Failed, "empty_password", "")
	case err == radius.ErrNoAttribute && resuming:
		input = "" // some NAS send no User-Password for an empty answer
	case err == radius.ErrNoAttribute:
		ex.log.WithField("method", "none").Warn("Access-Request without User-Password: rejected; configure the NAS for PAP")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.NotPAP, "not_pap", "none")
	case err != nil:
		ex.log.Warn("User-Password cannot be decoded: rejected")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Failed, "bad_password_attribute", "")
	}
	ex.src = throttle.Source{NAS: ex.client.Name, Station: station(ex.req)}
	if ex.watch = ex.s.watchers(name, ex.client.Name); len(ex.watch) > 0 {
		ex.traceID = hex.EncodeToString(ex.req.Authenticator[:3])
		ex.prov = tracedProvider{Provider: ex.prov, ex: ex}
		ex.traceRequest()
	}
	verdict, err := ex.s.throttle.Check(ctx, name, ex.src)
	if err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: login goes on uncounted")
	}
	if verdict.Refuse != throttle.None && (!resuming || verdict.Refuse != throttle.Busy) {
		ex.log.WithFields(logrus.Fields{"reason": string(verdict.Refuse), "locked_for": verdict.For.Round(time.Second), "failures": verdict.Failures}).Warn("too many failed logins: rejected without asking the identity provider")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.LockedOut, "locked_out", "")
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
	if err := ex.s.storeReady(ctx); err != nil {
		ex.log.WithError(err).Error("session store not reachable: new logins are refused until it is back")
		return ex.upstreamFailure(err)
	}
	ex.conv = session.Session{NAS: ex.client.Name, User: name, Started: ex.start}
	req := identity.Request{User: name, Password: input, ClientIP: clientIP(ex.req)}
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
func (ex *exchange) nasDeadline() time.Time {
	w := ex.client.NASWait.Duration
	if w <= 0 {
		w = config.DefaultNASWait
	}
	margin := min(max(w/10, 500*time.Millisecond), 2*time.Second)
	return ex.arrived().Add(w - margin)
}

// arrived is when the request reached this host.
func (ex *exchange) arrived() time.Time {
	if ex.received.IsZero() {
		return ex.start
	}
	return ex.received
}

// mechLabel names a mechanism in logs as its user knows it: push, phone,
// code (an authenticator app), question, sms, email or voice; the
// provider's own name (OTP for a CyberArk push) is not what users call it.
func mechLabel(m identity.Mechanism) string {
	if m.Kind == identity.KindOOBCode {
		switch n := strings.ToLower(m.Name); n {
		case "sms", "email", "voice":
			return n
		}
	}
	return string(m.Kind)
}

// countFailure counts a failed login of ex.user from ex.src.
func (ex *exchange) countFailure(ctx context.Context) {
	if err := ex.s.throttle.Fail(ctx, ex.user, ex.src); err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: this failure is not counted")
	}
}

// station is the Calling-Station-Id the NAS reports, when it is text.
func station(p *radius.Packet) string {
	v, ok := p.Lookup(rfc2865.CallingStationID_Type)
	if !ok || len(v) == 0 || !utf8.Valid(v) {
		return ""
	}
	return string(v)
}

// userName returns the User-Name if it is printable UTF-8 text.
func userName(p *radius.Packet) (string, bool) {
	v, ok := p.Lookup(rfc2865.UserName_Type)
	if !ok || len(v) == 0 || len(v) > maxAttrLen || !utf8.Valid(v) {
		return "", false
	}
	s := string(v)
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

// clientIP is the end user's address as the NAS reports it.
func clientIP(p *radius.Packet) string {
	if ip, err := rfc2865.FramedIPAddress_Lookup(p); err == nil {
		return ip.String()
	}
	if v, ok := p.Lookup(rfc2865.CallingStationID_Type); ok && utf8.Valid(v) {
		return string(v)
	}
	return ""
}

// resume continues a conversation from its State.
func (ex *exchange) resume(ctx context.Context, state, input string) *radius.Packet {
	conv, err := ex.s.store.Take(ctx, state)
	if errors.Is(err, session.ErrNotFound) {
		ex.log.Info("State is unknown, expired or already used: rejected")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Expired, "bad_state", "")
	}
	if err != nil {
		return ex.upstreamFailure(fmt.Errorf("session store: %w", err))
	}
	if conv.NAS != ex.client.Name || conv.User != ex.user {
		ex.log.WithField("state_nas", conv.NAS).Warn("State belongs to another NAS or user: rejected")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Expired, "foreign_state", "")
	}
	ex.conv = conv
	if conv.Current != nil {
		ex.mech = mechLabel(*conv.Current)
	}
	var in identity.Input
	switch conv.Phase {
	case session.PhaseMenu:
		m, ok := pick(conv.Choices, input)
		if !ok {
			return ex.menu(ex.cfg.Texts.BadChoice)
		}
		ex.mech = mechLabel(m)
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
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Expired, "bad_state", "")
	}
	step, err := ex.prov.Advance(ctx, conv.Txn, in)
	if errors.Is(err, identity.ErrBadInput) {
		ex.log.WithError(err).Info("input does not fit the login; asking again")
		return ex.again(ex.cfg.Texts.BadInput)
	}
	if conv.Phase == session.PhaseApprove && err == nil && step.Status == identity.Waiting && step.Pending {
		return ex.approve(step, ex.cfg.Texts.NotYet)
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
func (ex *exchange) drive(ctx context.Context, step identity.Step, err error) *radius.Packet {
	var (
		holdUntil time.Time
		pushSent  time.Time
		nasBound  bool // holdUntil is the NAS's time, not push_wait
	)
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
					return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Failed, "inline_unavailable", "")
				}
				ex.conv.Choices = menuEntries(step.Choices)
				return ex.menu("")
			}
			ex.mech = mechLabel(m)
			step, err = ex.prov.Advance(ctx, step.Txn, identity.Input{Action: identity.Choose, MechanismID: m.ID})
			continue
		}
		ex.mech = mechLabel(*step.Current)
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
		if holdUntil.IsZero() {
			pushSent = ex.s.now()
			holdUntil = ex.s.now().Add(ex.client.PushWait.Duration)
			if nas := ex.nasDeadline(); nas.Before(holdUntil) {
				holdUntil, nasBound = nas, true
			}
		}
		wait := step.PollInterval
		if wait <= 0 {
			wait = time.Second
		}
		now := ex.s.now()
		// A push that has waited a while is polled less often: most are
		// approved in seconds, and a morning's held pushes should not poll
		// the tenant at the pace of the first seconds.
		switch held := now.Sub(pushSent); {
		case held > 20*time.Second:
			wait = max(wait, 3*time.Second)
		case held > 10*time.Second:
			wait = max(wait, 2*time.Second)
		}
		if !now.Before(holdUntil) {
			if nasBound && !held && ex.client.Push == config.PushAdaptive {
				// Switch once to a challenge on the same push: the user
				// approves, then presses Enter; no second push.
				ex.log.WithField("nas_wait", ex.client.NASWait.Duration).Info("push not approved within the NAS's time: asking the user to approve, then press Enter")
				ex.s.obs.PushSwitched()
				return ex.approve(step, "")
			}
			if nasBound {
				ex.log.WithField("nas_wait", ex.client.NASWait.Duration).Info("push or call not approved within the NAS's time (nas_wait); rejected before the NAS gives up")
				return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.ApproveTimeout, "timeout", "")
			}
			ex.log.Info("push or call not approved within push_wait")
			ex.countFailure(ctx) // an unanswered push counts, as push bombing does
			return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.ApproveTimeout, "timeout", "")
		}
		// The last poll goes at the deadline itself, not an interval early.
		wait = min(wait, holdUntil.Sub(now))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ex.upstreamFailure(ctx.Err())
		case <-t.C:
		}
		step, err = ex.prov.Advance(ctx, step.Txn, identity.Input{Action: identity.Poll})
	}
}

// accept finishes a login the provider accepted: the user's roles are
// looked up when the client's rules need them, access rules are checked
// (after MFA, so that membership is never revealed to someone who has not
// proved who they are), and the reply attributes are added.
func (ex *exchange) accept(ctx context.Context, id *identity.Identity) *radius.Packet {
	if id == nil {
		id = &identity.Identity{User: ex.user}
	}
	if id.User != "" && id.User != ex.user {
		ex.log = ex.log.WithField("identity", id.User)
	}
	if err := ex.s.throttle.Succeed(ctx, ex.user, ex.src); err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: this success is not recorded")
	}
	var attrs []radattr.Attr
	attrs = append(attrs, ex.client.ReplyAttrs...)
	if ex.client.NeedsGroups() {
		groups := id.Groups
		if groups == nil {
			lookup, ok := ex.prov.(identity.GroupLookup)
			if !ok {
				return ex.upstreamFailure(fmt.Errorf("provider %q cannot look up roles", ex.prov.Name()))
			}
			var err error
			if groups, err = lookup.Groups(ctx, *id); err != nil {
				return ex.upstreamFailure(fmt.Errorf("looking up the user's roles: %w", err))
			}
		}
		if len(ex.client.AllowedRoles) > 0 && !intersects(groups, ex.client.AllowedRoles) {
			ex.log = ex.log.WithField("roles", strings.Join(groups, ","))
			ex.log.Warn("MFA passed but the user is in none of the client's allowed_roles: rejected")
			return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.NotAllowed, "not_allowed", "")
		}
		roles := make([]string, 0, len(ex.client.RoleReplyAttrs))
		for role := range ex.client.RoleReplyAttrs {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			if intersects(groups, []string{role}) {
				attrs = append(attrs, ex.client.RoleReplyAttrs[role]...)
			}
		}
		ex.log = ex.log.WithField("roles", strings.Join(groups, ","))
	}
	r := ex.finish(radius.CodeAccessAccept, ex.cfg.Texts.Accepted, "accept", "")
	for _, a := range attrs {
		a.AddTo(r)
	}
	return r
}

// intersects reports whether a and b share a name (case-insensitive).
func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}

// rejectText is the configured text for a provider's rejection.
func (ex *exchange) rejectText(step identity.Step) string {
	t := ex.cfg.Texts
	switch step.Why {
	case identity.WhyFailed:
		return t.Failed
	case identity.WhyFederated:
		return t.Federated
	case identity.WhyNoMechanism:
		return t.NoMechanism
	case identity.WhyRetryLater:
		return t.RetryLater
	case identity.WhyMisconfigured:
		return t.Misconfigured
	}
	if step.Reason != "" {
		return step.Reason
	}
	return t.Failed
}

// autoChoice picks the mechanism to start without asking: the one the
// inline factor names, the only one, or the first of the client's prefer
// list.
func (ex *exchange) autoChoice(choices []identity.Mechanism) (identity.Mechanism, bool) {
	switch {
	case ex.inline != nil:
		return inlineChoice(choices, *ex.inline)
	case len(choices) == 1:
		return choices[0], true
	}
	return first(choices, ex.client.Prefer...)
}

// menuEntries returns choices as a waiting conversation keeps them: without
// their prompts, which a menu does not show and the provider gives again
// with the mechanism once it is chosen. A conversation at a menu is most of
// what a login storm leaves in memory.
func menuEntries(choices []identity.Mechanism) []identity.Mechanism {
	out := make([]identity.Mechanism, len(choices))
	for i, c := range choices {
		c.Prompt = ""
		out[i] = c
	}
	return out
}

// menu sends the numbered list of ex.conv.Choices.
func (ex *exchange) menu(prefix string) *radius.Packet {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix + "\n")
	}
	compact := ex.client.Menu == config.MenuCompact
	sep := "\n"
	if compact {
		sep = " "
	}
	b.WriteString(ex.cfg.Texts.MenuHeader)
	for i, c := range ex.conv.Choices {
		label := c.Label
		if label == "" {
			label = c.Name
		}
		fmt.Fprintf(&b, "%s%d) %s", sep, i+1, label)
	}
	if compact {
		b.WriteString(".")
	}
	b.WriteString(sep + ex.cfg.Texts.MenuFooter)
	ex.conv.Phase, ex.conv.Current, ex.conv.Pending = session.PhaseMenu, nil, false
	return ex.challenge(b.String(), true)
}

// ask prompts for a typed answer to step.Current.
func (ex *exchange) ask(step identity.Step) *radius.Packet {
	m := step.Current
	text := m.Prompt
	if text == "" {
		text = ex.cfg.Texts.CodeHint
	}
	if step.Display != "" {
		text += "\n" + fmt.Sprintf(ex.cfg.Texts.Number, step.Display)
	}
	ex.conv.Phase = session.PhaseAnswer
	return ex.challenge(text, !m.Kind.Secret())
}

// approve asks the user to approve a push or call, then press Enter.
func (ex *exchange) approve(step identity.Step, prefix string) *radius.Packet {
	var parts []string
	if prefix != "" {
		parts = append(parts, prefix)
	}
	parts = append(parts, ex.cfg.Texts.Approve)
	if step.Display != "" {
		parts = append(parts, fmt.Sprintf(ex.cfg.Texts.Number, step.Display))
	}
	ex.conv.Txn = step.Txn
	ex.conv.Current, ex.conv.Pending, ex.conv.Display = step.Current, true, step.Display
	ex.conv.Phase = session.PhaseApprove
	return ex.challenge(strings.Join(parts, "\n"), true)
}

// again repeats the conversation's last question after input it could not
// use.
func (ex *exchange) again(prefix string) *radius.Packet {
	switch ex.conv.Phase {
	case session.PhaseMenu:
		return ex.menu(prefix)
	case session.PhaseApprove:
		return ex.approve(identity.Step{Txn: ex.conv.Txn, Current: ex.conv.Current, Display: ex.conv.Display}, prefix)
	}
	text := prefix
	if ex.conv.Current != nil {
		text += "\n" + ex.conv.Current.Prompt
	}
	return ex.challenge(text, ex.conv.Current == nil || !ex.conv.Current.Kind.Secret())
}

// challenge stores the conversation under a fresh State and returns the
// Access-Challenge.
func (ex *exchange) challenge(text string, echo bool) *radius.Packet {
	ex.conv.Rounds++
	if ex.conv.Rounds > maxRounds {
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.TooManyRounds, "too_many_rounds", "")
	}
	state, err := newState()
	if err != nil {
		return ex.upstreamFailure(err)
	}
	ttl := ex.cfg.Sessions.TTL.Duration
	err = ex.s.store.Create(context.Background(), state, ex.conv, ttl)
	if errors.Is(err, session.ErrFull) {
		ex.log.Warn("session store full (sessions.max): rejected")
		return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Busy, "store_full", "")
	}
	if err != nil {
		return ex.upstreamFailure(fmt.Errorf("session store: %w", err))
	}
	ex.tracef("challenge round %d: waiting for the user (%s)", ex.conv.Rounds, ex.conv.Phase)
	r := newReply(ex.req, radius.CodeAccessChallenge)
	_ = rfc2865.State_Set(r, []byte(state))
	if strings.HasSuffix(text, ":") {
		// A NAS that shows the text as its prompt (pam_radius_auth) puts
		// the cursor right after it: "Enter a number: 1", not ":1".
		text += " "
	}
	addReplyMessage(r, text)
	_ = rfc2865.SessionTimeout_Set(r, rfc2865.SessionTimeout(ttl/time.Second))
	setPrompt(r, echo)
	ex.s.obs.Challenged()
	if ex.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		ex.log.WithFields(logrus.Fields{"phase": ex.conv.Phase, "mechanism": ex.mech, "round": ex.conv.Rounds}).Debug("Access-Challenge")
	}
	return r
}

// newState returns a fresh printable State: 128 random bits in hex.
func newState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("no randomness for State: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// upstreamFailure answers as the client's upstream_failure says: reject
// with a message, or drop so the NAS fails over. Never accept.
func (ex *exchange) upstreamFailure(err error) *radius.Packet {
	l := ex.log.WithError(err)
	if ex.client.UpstreamFailure == "drop" {
		ex.s.obs.Dropped(dropUpstream)
		ex.s.obs.Authenticated(ex.client.Name, "upstream_failure")
		ex.s.obs.LoginFinished("upstream_failure", ex.mech, ex.duration())
		l.WithField("event", "authentication").WithField("outcome", "upstream_failure").WithField("duration", ex.duration()).Error("identity provider failed: request dropped so the NAS can fail over")
		return nil
	}
	ex.log = l
	return ex.finish(radius.CodeAccessReject, ex.cfg.Texts.Unavailable, "upstream_failure", "")
}

func (ex *exchange) duration() time.Duration {
	start := ex.conv.Started
	if start.IsZero() {
		start = ex.start
	}
	return ex.s.now().Sub(start).Round(time.Millisecond)
}

// finish builds an Access-Accept or Access-Reject and logs the outcome of
// the authentication: one line, never a password, code or token.
func (ex *exchange) finish(code radius.Code, text, outcome, method string) *radius.Packet {
	r := newReply(ex.req, code)
	if text != "" {
		addReplyMessage(r, text)
	}
	ex.s.obs.Authenticated(ex.client.Name, outcome)
	if code != radius.CodeAccessChallenge {
		ex.s.obs.LoginFinished(outcome, ex.mech, ex.duration())
	}
	ex.tracef("outcome: %s", outcome)
	fields := logrus.Fields{"event": "authentication", "outcome": outcome, "duration": ex.duration()}
	if ex.mech != "" {
		fields["mechanism"] = ex.mech
	}
	if method != "" {
		fields["method"] = method
	}
	l := ex.log.WithFields(fields)
	late := ex.s.now().Sub(ex.arrived()) > ex.client.NASWait.Duration && ex.client.NASWait.Duration > 0
	if late {
		// The NAS had given up: "accepted" would not be true for the user.
		l = l.WithField("late", true)
	}
	switch {
	case late:
		l.Warn("answered after the NAS's time (nas_wait): the NAS has most likely given up; raise nas_wait only if the NAS waits longer")
	case outcome == "upstream_failure":
		l.Warn("authentication rejected: the identity provider failed")
	case code == radius.CodeAccessAccept && ex.lessThanMFA:
		l.Warn("authentication accepted without MFA (allow_no_mfa)")
	case code == radius.CodeAccessAccept:
		l.Info("authentication accepted")
	default:
		l.Info("authentication rejected")
	}
	return r
}
