package cyberark

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// rateLimitedPoll is how long a held push waits before the next poll after
// the tenant answered a poll with 429.
const rateLimitedPoll = 5 * time.Second

// Reasons shown to users. They say what happened without revealing whether
// the user exists or which factor failed.
const (
	reasonFailed    = "Authentication failed."
	reasonFederated = "Your account signs in through an external identity provider, which cannot be used here."
	reasonNoMech    = "No sign-in method that works here is set up for your account."
	reasonRetry     = "Too many attempts. Try again in %d seconds."
	reasonPolicy    = "Sign-in is not configured correctly. Contact your administrator."
)

var whys = map[string]identity.Why{
	reasonFailed:    identity.WhyFailed,
	reasonFederated: identity.WhyFederated,
	reasonNoMech:    identity.WhyNoMechanism,
	reasonPolicy:    identity.WhyMisconfigured,
}

func rejected(reason, detail string) identity.Step {
	why, ok := whys[reason]
	if !ok && strings.HasPrefix(reason, "Too many attempts.") {
		why = identity.WhyRetryLater
	}
	return identity.Step{Status: identity.Rejected, Why: why, Reason: reason, Detail: detail}
}

// Start begins a login: StartAuthentication as the user (ModeLogin) or
// OnDemandChallenge with the service account (ModeOnDemand), then answers
// the password mechanism with req.Password.
func (p *provider) Start(ctx context.Context, req identity.Request) (identity.Step, error) {
	if until, ok := p.notBefore.Load(req.User); ok {
		if wait := until.(time.Time).Sub(p.cfg.Now()); wait > 0 {
			s := rejected(fmt.Sprintf(reasonRetry, int(wait.Seconds()+0.999)), "the tenant asked to wait (RetryWaitingTime); answered without calling it")
			s.RetryAfter = wait
			return s, nil
		}
		p.notBefore.Delete(req.User)
	}
	st := &state{Base: p.base, TenantID: p.cfg.TenantID, User: req.User, Cookies: jar{}}

	var (
		env *envelope
		res *result
		err error
	)
	if p.cfg.Mode == ModeOnDemand {
		env, res, err = p.onDemand(ctx, st)
	} else {
		env, res, err = p.startAuthentication(ctx, st)
	}
	if err != nil {
		return identity.Step{}, err
	}
	if !env.Success {
		return rejected(reasonFailed, "tenant refused the start: "+env.message()), nil
	}
	if res.IdpRedirectURL != "" || res.IdpRedirectShortURL != "" {
		return rejected(reasonFederated, "the user is federated to an external IdP (IdpRedirectUrl); RADIUS cannot complete that flow"), nil
	}
	if res.RetryWaitingTime > 0 {
		wait := time.Duration(res.RetryWaitingTime) * time.Second
		p.notBefore.Store(req.User, p.cfg.Now().Add(wait))
		s := rejected(fmt.Sprintf(reasonRetry, res.RetryWaitingTime), "the tenant asked to wait before the next attempt (RetryWaitingTime)")
		s.RetryAfter = wait
		return s, nil
	}
	switch res.Summary {
	case summaryNewPackage:
	case summaryLoginSuccess:
		// A fresh cookie jar should never see this (identity-api.md A.2,
		// variant 4), and nothing of this login was checked: neither the
		// RADIUS password nor a factor. Never an Accept.
		return rejected(reasonPolicy, "the tenant answered the start of the login with LoginSuccess, so neither the RADIUS password nor a second factor was checked; refused (check the tenant's authentication profile for this user)"), nil
	default:
		return rejected(reasonFailed, fmt.Sprintf("unexpected Summary %q at start", res.Summary)), nil
	}
	if res.SessionID == "" {
		return identity.Step{}, p.upstream("StartAuthentication", http.StatusOK, fmt.Errorf("%w: NewPackage without SessionId", ErrMalformed))
	}
	st.SessionID = res.SessionID
	if res.TenantID != "" && st.TenantID == "" {
		st.TenantID = res.TenantID
	}
	st.Challenges = challengesOf(res)
	return p.proceed(ctx, st, req.Password)
}

// startAuthentication calls /Security/StartAuthentication, following a
// PodFqdn redirect to the tenant's own pod.
func (p *provider) startAuthentication(ctx context.Context, st *state) (*envelope, *result, error) {
	for hop := 0; ; hop++ {
		env, res, err := p.envelopeCall(ctx, call{
			op:      "StartAuthentication",
			base:    st.Base,
			path:    "/Security/StartAuthentication",
			body:    startRequest{TenantID: st.TenantID, User: st.User, Version: "1.0"},
			cookies: st.Cookies,
			safe:    true,
		})
		if err != nil {
			return nil, nil, err
		}
		if !env.Success || !res.isPodRedirect() {
			return env, res, nil
		}
		if hop >= 2 {
			return nil, nil, p.upstream("StartAuthentication", http.StatusOK, fmt.Errorf("cyberark: the tenant redirected more than twice (last PodFqdn %q)", res.PodFqdn))
		}
		base, err := podURL(st.Base, res.PodFqdn)
		if err == nil {
			err = p.podAllowed(base)
		}
		if err != nil {
			return nil, nil, p.upstream("StartAuthentication", http.StatusOK, err)
		}
		p.log.WithField("pod", base).Debug("tenant redirected the login to its pod (PodFqdn)")
		st.Base = base
		st.Cookies = jar{}
	}
}

// podURL builds the URL of a PodFqdn, which comes without a scheme. The
// scheme of the configured URL is kept (https in production).
func podURL(current, fqdn string) (string, error) {
	u, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	fqdn = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(fqdn, "https://"), "http://"), "/")
	if fqdn == "" || strings.ContainsAny(fqdn, "/?#@ ") {
		return "", fmt.Errorf("cyberark: PodFqdn %q is not a host name", fqdn)
	}
	return u.Scheme + "://" + fqdn, nil
}

// podAllowed reports whether base, from a PodFqdn redirect, is a host
// mfabridge may send the user's login to: within the configured tenant's
// domain, or named in pod_hosts.
func (p *provider) podAllowed(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	host := strings.ToLower(u.Hostname())
	if podHostMatches(host, p.base) {
		return nil
	}
	for _, pattern := range p.cfg.PodHosts {
		pattern = strings.ToLower(pattern)
		if host == pattern || (strings.HasPrefix(pattern, "*.") && strings.HasSuffix(host, pattern[1:])) {
			return nil
		}
	}
	return fmt.Errorf("cyberark: the tenant redirected the login to %q (PodFqdn), which is outside the configured tenant's domain; refused (add the host to pod_hosts, or set url to the tenant's own URL)", host)
}

// podHostMatches reports whether host is the configured URL's host or a
// sibling of it: a name directly below the configured host's parent domain,
// where that parent has at least two labels (my.idaptive.app, not .app).
// Addresses must match exactly.
func podHostMatches(host, configured string) bool {
	u, err := url.Parse(configured)
	if err != nil {
		return false
	}
	own := strings.ToLower(u.Hostname())
	if host == own {
		return true
	}
	if net.ParseIP(own) != nil || net.ParseIP(host) != nil {
		return false
	}
	_, parent, ok := strings.Cut(own, ".")
	if !ok || !strings.Contains(parent, ".") {
		return false
	}
	label, rest, ok := strings.Cut(host, ".")
	return ok && label != "" && rest == parent
}

// checkPodHost validates an entry of pod_hosts.
func checkPodHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "/:@?# *") || !strings.Contains(name, ".") {
		return fmt.Errorf("pod_hosts: %q is not a host name; write \"corp.my.idaptive.app\" or \"*.id.cyberark.cloud\"", h)
	}
	return nil
}

// onDemand calls /Security/OnDemandChallenge with the service account's
// token, naming the user and the challenge policy as in the API guide.
func (p *provider) onDemand(ctx context.Context, st *state) (*envelope, *result, error) {
	for attempt := 0; ; attempt++ {
		token, err := p.tokens.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		env, res, err := p.envelopeCall(ctx, call{
			op:   "OnDemandChallenge",
			base: st.Base,
			path: "/Security/OnDemandChallenge",
			body: map[string]any{
				"User":           st.User,
				"arguments":      nil,
				"PolicyModifier": p.cfg.PolicyModifier,
			},
			bearer:  token,
			cookies: st.Cookies,
			safe:    true,
		})
		if ue, ok := err.(*identity.UpstreamError); ok && ue.Status == http.StatusUnauthorized && attempt == 0 {
			p.tokens.invalidate(token) // revoked or expired early: renew once
			continue
		}
		return env, res, err
	}
}

func challengesOf(res *result) [][]mechanism {
	out := make([][]mechanism, 0, len(res.Challenges))
	for _, c := range res.Challenges {
		out = append(out, c.Mechanisms)
	}
	return out
}

// proceed works through the current challenge: the password is answered
// from password (when given); any other challenge becomes a choice for the
// user.
func (p *provider) proceed(ctx context.Context, st *state, password string) (identity.Step, error) {
	for {
		if st.Index >= len(st.Challenges) {
			return identity.Step{}, p.upstream("AdvanceAuthentication", http.StatusOK, fmt.Errorf("%w: all challenges passed but no LoginSuccess", ErrMalformed))
		}
		mechs := st.Challenges[st.Index]
		if up := findByName(mechs, "UP"); up != nil && password != "" {
			pw := password
			password = "" // answered once; a second password challenge is asked of the user
			st.Current = up.MechanismID
			env, res, err := p.advance(ctx, st, actionAnswer, pw, false)
			if err != nil {
				return identity.Step{}, err
			}
			if env.Success {
				st.Password = true
			}
			step, next, err := p.follow(st, env, res)
			if err != nil || !next {
				return step, err
			}
			continue
		}
		if !st.Password && !p.cfg.PasswordOptional {
			return rejected(reasonPolicy, "the tenant's challenges do not start with a password (UP) mechanism, so the RADIUS password would go unchecked; put UP first in the authentication profile or set password_optional = true"), nil
		}
		var choices []identity.Mechanism
		for i, m := range mechs {
			if nm, ok := neutral(m); ok {
				// A menu entry is named by its place in the challenge: the
				// transaction holds the tenant's MechanismId, and a waiting
				// conversation need not keep it twice.
				nm.ID = strconv.Itoa(i)
				choices = append(choices, nm)
			}
		}
		if len(choices) == 0 {
			names := make([]string, 0, len(mechs))
			for _, m := range mechs {
				names = append(names, m.Name)
			}
			return rejected(reasonNoMech, "no mechanism usable over RADIUS in this challenge; offered: "+strings.Join(names, ", ")), nil
		}
		st.Current, st.Started = "", false
		return identity.Step{Status: identity.Waiting, Choices: choices, Txn: p.txn(st)}, nil
	}
}

// follow maps an AdvanceAuthentication answer to a step. next is true when
// the login moved to the next challenge (or a new package) and proceed
// should go on.
func (p *provider) follow(st *state, env *envelope, res *result) (step identity.Step, next bool, err error) {
	if !env.Success {
		return rejected(reasonFailed, "tenant: "+env.message()), false, nil
	}
	switch res.Summary {
	case summaryStartNextChallenge:
		st.Index++
		st.Current, st.Started = "", false
		return identity.Step{}, true, nil
	case summaryNewPackage:
		if res.SessionID != "" {
			st.SessionID = res.SessionID
		}
		st.Challenges = challengesOf(res)
		st.Index = 0
		st.Current, st.Started = "", false
		return identity.Step{}, true, nil
	case summaryLoginSuccess:
		return p.loginSuccess(st, res), false, nil
	case summaryOobPending:
		m := st.mechanism(st.Current)
		if m == nil {
			return identity.Step{}, false, p.upstream("AdvanceAuthentication", http.StatusOK, fmt.Errorf("%w: OobPending for no mechanism in progress", ErrMalformed))
		}
		nm, _ := neutral(*m)
		st.Started = true
		s := identity.Step{
			Status:       identity.Waiting,
			Current:      &nm,
			Pending:      true,
			PollInterval: p.cfg.PollInterval,
			Txn:          p.txn(st),
		}
		if v := res.generatedAuthValue(); v != "" {
			s.Display = v
		}
		return s, false, nil
	}
	return rejected(reasonFailed, fmt.Sprintf("unexpected Summary %q", res.Summary)), false, nil
}

// loginSuccess checks that a LoginSuccess follows what mfabridge asks of
// every login before it becomes an Accept: the RADIUS password passed by
// the tenant in this login (unless password_optional) and a factor beyond
// it, the mechanism just passed (unless allow_no_mfa, and then the step
// says so for the log).
func (p *provider) loginSuccess(st *state, res *result) identity.Step {
	last := st.mechanism(st.Current)
	factor := last != nil && last.Name != "UP"
	switch {
	case !st.Password && !p.cfg.PasswordOptional:
		return rejected(reasonPolicy, "the tenant reported LoginSuccess although the RADIUS password was not passed in this login; refused (put UP first in the authentication profile, or set password_optional = true)")
	case !st.Password && !factor:
		return rejected(reasonPolicy, "the tenant reported LoginSuccess with neither the password nor a factor passed in this login; refused")
	case !factor && !p.cfg.AllowNoMFA:
		return rejected(reasonNoMech, "the tenant accepted the password alone (no factor beyond it was asked); refused: require MFA in the tenant's authentication profile, or set allow_no_mfa = true to accept such logins")
	}
	step := p.accepted(st, res)
	if !factor {
		step.NoMFA = true
		step.Detail = "accepted with the password alone: the tenant asked no second factor and allow_no_mfa = true"
	}
	return step
}

func (p *provider) accepted(st *state, res *result) identity.Step {
	user := res.User
	if user == "" {
		user = st.User
	}
	return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: user, ID: res.UserID, DisplayName: res.DisplayName}}
}

// advance calls /Security/AdvanceAuthentication for the mechanism in
// progress. Only Poll is retried: an Answer or a StartOOB sent twice could
// burn a code or push twice.
func (p *provider) advance(ctx context.Context, st *state, action string, answer any, safe bool) (*envelope, *result, error) {
	c := call{
		op:   "AdvanceAuthentication",
		base: st.Base,
		path: "/Security/AdvanceAuthentication",
		body: advanceRequest{
			TenantID:    st.TenantID,
			SessionID:   st.SessionID,
			MechanismID: st.Current,
			Action:      action,
			Answer:      answer,
		},
		cookies: st.Cookies,
		safe:    safe,
	}
	if p.cfg.Mode == ModeOnDemand {
		token, err := p.tokens.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		c.bearer = token
	}
	return p.envelopeCall(ctx, c)
}

// Advance moves a login on: Choose starts a mechanism (StartOOB for
// out-of-band ones), Answer sends a typed answer, Poll checks an out-of-band
// mechanism.
func (p *provider) Advance(ctx context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	st, err := p.decode(txn)
	if err != nil {
		return identity.Step{}, err
	}
	switch in.Action {
	case identity.Choose:
		return p.choose(ctx, st, in.MechanismID)
	case identity.Answer:
		m := st.mechanism(st.Current)
		if m == nil {
			return identity.Step{}, fmt.Errorf("%w: no mechanism in progress to answer", identity.ErrBadInput)
		}
		nm, _ := neutral(*m)
		if !nm.Kind.Typed() {
			return identity.Step{}, fmt.Errorf("%w: %s cannot be answered by typing", identity.ErrBadInput, m.Name)
		}
		env, res, err := p.advance(ctx, st, actionAnswer, answerValue(*m, in.Value), false)
		if err != nil {
			return identity.Step{}, err
		}
		if env.Success && m.Name == "UP" {
			st.Password = true
		}
		return p.after(ctx, st, env, res)
	case identity.Poll:
		m := st.mechanism(st.Current)
		if m == nil || !st.Started {
			return identity.Step{}, fmt.Errorf("%w: nothing is pending to poll", identity.ErrBadInput)
		}
		env, res, err := p.advance(ctx, st, actionPoll, nil, true)
		var ue *identity.UpstreamError
		if errors.As(err, &ue) && ue.Status == http.StatusTooManyRequests {
			// The tenant asks to poll less often: the push is still
			// pending as far as anyone knows; poll again later rather
			// than fail the login.
			nm, _ := neutral(*m)
			p.log.WithField("op", "Poll").Debug("the tenant rate-limited a poll (429): polling more slowly")
			return identity.Step{Status: identity.Waiting, Current: &nm, Pending: true, PollInterval: rateLimitedPoll, SlowDown: true, Txn: p.txn(st)}, nil
		}
		if err != nil {
			return identity.Step{}, err
		}
		return p.after(ctx, st, env, res)
	}
	return identity.Step{}, fmt.Errorf("%w: unknown action %v", identity.ErrBadInput, in.Action)
}

func (p *provider) after(ctx context.Context, st *state, env *envelope, res *result) (identity.Step, error) {
	step, next, err := p.follow(st, env, res)
	if err != nil || !next {
		return step, err
	}
	return p.proceed(ctx, st, "")
}

func (p *provider) choose(ctx context.Context, st *state, id string) (identity.Step, error) {
	if st.Index >= len(st.Challenges) {
		return identity.Step{}, fmt.Errorf("%w: no challenge open", identity.ErrBadInput)
	}
	var m *mechanism
	mechs := st.Challenges[st.Index]
	if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < len(mechs) && strconv.Itoa(i) == id {
		m = &mechs[i]
	}
	if m == nil {
		return identity.Step{}, fmt.Errorf("%w: mechanism is not on offer", identity.ErrBadInput)
	}
	nm, ok := neutral(*m)
	if !ok {
		return identity.Step{}, fmt.Errorf("%w: %s cannot be used over RADIUS", identity.ErrBadInput, m.Name)
	}
	st.Current, st.Started = m.MechanismID, false
	if m.AnswerType == answerText {
		return identity.Step{Status: identity.Waiting, Current: &nm, Txn: p.txn(st)}, nil
	}
	env, res, err := p.advance(ctx, st, actionStartOOB, nil, false)
	if err != nil {
		return identity.Step{}, err
	}
	return p.after(ctx, st, env, res)
}

func (st *state) mechanism(id string) *mechanism {
	if id == "" || st.Index >= len(st.Challenges) {
		return nil
	}
	for i := range st.Challenges[st.Index] {
		if st.Challenges[st.Index][i].MechanismID == id {
			return &st.Challenges[st.Index][i]
		}
	}
	return nil
}

func findByName(mechs []mechanism, name string) *mechanism {
	for i := range mechs {
		if mechs[i].Name == name {
			return &mechs[i]
		}
	}
	return nil
}

// answerValue shapes a typed answer: a security question with one part is
// answered with an object keyed by the part's Uuid.
func answerValue(m mechanism, v string) any {
	if m.Name == "SQ" && m.MultipartMechanism != nil && len(m.MultipartMechanism.MechanismParts) == 1 {
		return map[string]string{m.MultipartMechanism.MechanismParts[0].UUID: v}
	}
	return v
}

// neutral maps a tenant mechanism to the neutral model. ok is false for
// mechanisms that cannot work over RADIUS: U2F and QR need a browser or a
// camera, RESET and unknown mechanisms have no RADIUS form, a mechanism that
// is not enrolled cannot be used, and security questions with several parts
// cannot be answered in one line.
func neutral(m mechanism) (identity.Mechanism, bool) {
	if m.Enrolled != nil && !*m.Enrolled {
		return identity.Mechanism{}, false
	}
	kind, ok := kinds[m.Name]
	if !ok {
		return identity.Mechanism{}, false
	}
	switch m.AnswerType {
	case answerText, answerStartTextOob, answerStartOob:
	default:
		return identity.Mechanism{}, false
	}
	if m.AnswerType == answerStartOob && kind != identity.KindPhone {
		// Out of band with no typed answer: only a poll can finish it.
		kind = identity.KindPhone
	}
	prompt := m.PromptMechChosen
	if m.Name == "SQ" {
		if m.MultipartMechanism != nil {
			if len(m.MultipartMechanism.MechanismParts) != 1 {
				return identity.Mechanism{}, false
			}
			part := m.MultipartMechanism.MechanismParts[0]
			prompt = part.QuestionText
		} else if m.Question != "" {
			prompt = m.Question
		}
	}
	label := m.PromptSelectMech
	if label == "" {
		label = m.Name
	}
	// Copies: m's texts may be slices of a whole transaction's decoded
	// state, which a held push would otherwise keep alive.
	return identity.Mechanism{ID: strings.Clone(m.MechanismID), Kind: kind, Name: strings.Clone(m.Name), Label: strings.Clone(label), Prompt: strings.Clone(prompt), Channel: channels[m.Name]}, true
}

// kinds are the kinds of the tenant's mechanism names.
var kinds = map[string]identity.Kind{
	"UP":    identity.KindPassword,
	"OATH":  identity.KindCode,
	"SQ":    identity.KindQuestion,
	"SMS":   identity.KindOOBCode,
	"EMAIL": identity.KindOOBCode,
	"OTP":   identity.KindPush,
	"PF":    identity.KindPhone,
}

// channels are the tenant's mechanism names that say how they reach the
// user.
var channels = map[string]identity.Channel{
	"SMS":   identity.ChannelSMS,
	"EMAIL": identity.ChannelEmail,
	"PF":    identity.ChannelVoice,
	"OTP":   identity.ChannelApp,
}
