package auth0

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/identity"
)

// The grant types of /oauth/token.
const (
	grantPassword = "password"
	grantRealm    = "http://auth0.com/oauth/grant-type/password-realm"
	grantOTP      = "http://auth0.com/oauth/grant-type/mfa-otp"
	grantOOB      = "http://auth0.com/oauth/grant-type/mfa-oob"
	grantRecovery = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
)

type provider struct {
	cfg  Config
	http http.RoundTripper
	base string
	log  logrus.FieldLogger
}

var _ identity.Provider = (*provider)(nil)

func (p *provider) Name() string { return p.cfg.Name }

// authenticator is an entry of /mfa/authenticators.
type authenticator struct {
	ID       string `json:"id"`
	Type     string `json:"authenticator_type"`
	Active   bool   `json:"active"`
	Channel  string `json:"oob_channel,omitempty"`
	Channels string `json:"oob_channels,omitempty"` // older name
	Name     string `json:"name,omitempty"`
}

func (a authenticator) channel() string {
	if a.Channel != "" {
		return a.Channel
	}
	return a.Channels
}

// state is the transaction between RADIUS packets. The mfa_token and
// oob_code are bearer credentials for this login only (ten minutes); they
// are never logged. The password is not kept.
type state struct {
	User     string          `json:"user"`
	Token    string          `json:"mfa_token"`
	Auths    []authenticator `json:"auths"`
	Current  string          `json:"cur,omitempty"`
	OOBCode  string          `json:"oob,omitempty"`
	Binding  bool            `json:"binding,omitempty"`
	LastPoll int64           `json:"last_poll,omitempty"` // unix milliseconds
	Interval int64           `json:"interval,omitempty"`  // milliseconds between polls
	ClientIP string          `json:"ip,omitempty"`
	// Accepted is the identity of a login that passed, waiting for the
	// user to acknowledge a notice (a new recovery code).
	Accepted *identity.Identity `json:"accepted,omitempty"`
}

func (p *provider) txn(st *state) identity.Txn {
	b, _ := json.Marshal(st)
	return identity.Txn{Provider: p.cfg.Name, Data: b}
}

func rejected(why identity.Why, detail string) identity.Step {
	return identity.Step{Status: identity.Rejected, Why: why, Detail: detail}
}

// Start checks the password with the password (or password-realm) grant;
// mfa_required starts the MFA conversation.
func (p *provider) Start(ctx context.Context, req identity.Request) (identity.Step, error) {
	if req.Password == "" {
		return rejected(identity.WhyFailed, "empty password; not sent to Auth0"), nil
	}
	form := url.Values{"username": {req.User}, "password": {req.Password}, "scope": {p.cfg.Scope}}
	if p.cfg.Realm != "" {
		form.Set("grant_type", grantRealm)
		form.Set("realm", p.cfg.Realm)
	} else {
		form.Set("grant_type", grantPassword)
	}
	if p.cfg.Audience != "" {
		form.Set("audience", p.cfg.Audience)
	}
	ts, ae, err := p.grant(ctx, "password", form, req.ClientIP, true)
	if err != nil {
		return identity.Step{}, err
	}
	if ts != nil {
		if !p.cfg.AllowNoMFA {
			return rejected(identity.WhyNoMechanism, "Auth0 asked no MFA for this user (no MFA enrolled or required); set allow_no_mfa = true to accept such users"), nil
		}
		step, err := p.accepted(req.User, ts)
		step.NoMFA = true
		step.Detail = "accepted with the password alone: Auth0 asked no MFA and allow_no_mfa = true"
		return step, err
	}
	switch ae.Code {
	case "mfa_required":
	case "invalid_grant", "access_denied", "invalid_user_password":
		return rejected(identity.WhyFailed, "Auth0: "+ae.Code+": "+ae.Description), nil
	case "too_many_attempts", "too_many_requests":
		s := rejected(identity.WhyRetryLater, "Auth0: "+ae.Code+": "+ae.Description)
		return s, nil
	case "unauthorized_client", "invalid_client", "unsupported_grant_type", "invalid_request", "invalid_scope":
		// mfabridge's own configuration, not the user's failure: the
		// upstream-failure path, which counts nothing against the user.
		return identity.Step{}, p.upstream("password", ae.status, fmt.Errorf("Auth0 refused the application: %s: %s (check client_id, client_secret, client_auth, the Password and MFA grant types, and realm)", ae.Code, ae.Description))
	default:
		return rejected(identity.WhyFailed, "Auth0: "+ae.Code+": "+ae.Description), nil
	}
	if ae.MFAToken == "" {
		return identity.Step{}, p.upstream("password", ae.status, fmt.Errorf("%w: mfa_required without mfa_token", ErrMalformed))
	}
	st := &state{User: req.User, Token: ae.MFAToken, ClientIP: req.ClientIP}
	body, ae, err := p.call(ctx, request{op: "authenticators", method: http.MethodGet, path: "/mfa/authenticators", bearer: st.Token, safe: true})
	if err != nil {
		return identity.Step{}, err
	}
	if ae != nil {
		return rejected(identity.WhyFailed, "Auth0 /mfa/authenticators: "+ae.Code+": "+ae.Description), nil
	}
	if err := json.Unmarshal(body, &st.Auths); err != nil {
		return identity.Step{}, p.upstream("authenticators", http.StatusOK, ErrMalformed)
	}
	var choices []identity.Mechanism
	var kept []authenticator
	for _, a := range st.Auths {
		if m, ok := neutral(a); ok {
			choices = append(choices, m)
			kept = append(kept, a)
		}
	}
	st.Auths = kept
	if len(choices) == 0 {
		return rejected(identity.WhyNoMechanism, "no active authenticator usable over RADIUS; the user must enrol one"), nil
	}
	return identity.Step{Status: identity.Waiting, Choices: choices, Txn: p.txn(st)}, nil
}

// neutral maps an authenticator to the neutral model; inactive ones
// (unconfirmed enrolments) are left out.
func neutral(a authenticator) (identity.Mechanism, bool) {
	if !a.Active {
		return identity.Mechanism{}, false
	}
	m := identity.Mechanism{ID: a.ID}
	switch {
	case a.Type == "otp":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindCode, "otp", "Authenticator app", "Enter the code from your authenticator app"
	case a.Type == "recovery-code":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindCode, "recovery-code", "Recovery code", "Enter one of your recovery codes"
	case a.Type == "oob" && a.channel() == "auth0":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindPush, "push", "Push to Auth0 Guardian", "Approve the request in Auth0 Guardian"
		m.Channel = identity.ChannelApp
	case a.Type == "oob" && a.channel() == "sms":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindOOBCode, "sms", "SMS to "+a.Name, "Enter the code sent by text message to "+a.Name
		m.Channel = identity.ChannelSMS
	case a.Type == "oob" && a.channel() == "voice":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindOOBCode, "voice", "Voice call to "+a.Name, "Enter the code read to you on the call to "+a.Name
		m.Channel = identity.ChannelVoice
	case a.Type == "oob" && a.channel() == "email":
		m.Kind, m.Name, m.Label, m.Prompt = identity.KindOOBCode, "email", "Email to "+a.Name, "Enter the code sent by email to "+a.Name
		m.Channel = identity.ChannelEmail
	default:
		return identity.Mechanism{}, false
	}
	return m, true
}

func (p *provider) decode(txn identity.Txn) (*state, error) {
	if txn.Provider != p.cfg.Name {
		return nil, fmt.Errorf("%w: it belongs to provider %q", identity.ErrBadTxn, txn.Provider)
	}
	var st state
	if err := json.Unmarshal(txn.Data, &st); err != nil || (st.Token == "" && st.Accepted == nil) {
		return nil, identity.ErrBadTxn
	}
	return &st, nil
}

func (st *state) auth(id string) *authenticator {
	for i := range st.Auths {
		if st.Auths[i].ID == id {
			return &st.Auths[i]
		}
	}
	return nil
}

// Advance moves the login on.
func (p *provider) Advance(ctx context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	st, err := p.decode(txn)
	if err != nil {
		return identity.Step{}, err
	}
	if st.Accepted != nil {
		// The notice was seen: whatever the user typed ends the login.
		return identity.Step{Status: identity.Accepted, Identity: st.Accepted}, nil
	}
	switch in.Action {
	case identity.Choose:
		return p.choose(ctx, st, in.MechanismID)
	case identity.Answer:
		return p.answer(ctx, st, in.Value)
	case identity.Poll:
		return p.poll(ctx, st)
	}
	return identity.Step{}, fmt.Errorf("%w: unknown action %v", identity.ErrBadInput, in.Action)
}

func (p *provider) waiting(st *state, pending bool) identity.Step {
	a := st.auth(st.Current)
	m, _ := neutral(*a)
	return identity.Step{Status: identity.Waiting, Current: &m, Pending: pending, PollInterval: time.Duration(st.interval()) * time.Millisecond, Txn: p.txn(st)}
}

func (st *state) interval() int64 {
	if st.Interval == 0 {
		return MinPollInterval.Milliseconds()
	}
	return st.Interval
}

func (p *provider) choose(ctx context.Context, st *state, id string) (identity.Step, error) {
	a := st.auth(id)
	if a == nil {
		return identity.Step{}, fmt.Errorf("%w: authenticator is not on offer", identity.ErrBadInput)
	}
	st.Current, st.OOBCode, st.Binding = a.ID, "", false
	if a.Type == "otp" || a.Type == "recovery-code" {
		// Codes go straight to their grant; no challenge is needed.
		return p.waiting(st, false), nil
	}
	// The challenge sends the text, call, email or push: never retried.
	params := map[string]string{
		"client_id": p.cfg.ClientID, "mfa_token": st.Token,
		"challenge_type": "oob", "authenticator_id": a.ID,
	}
	if p.cfg.ClientAuth != ClientAuthBasic {
		params["client_secret"] = p.cfg.ClientSecret
	}
	body, ae, err := p.call(ctx, request{op: "challenge", method: http.MethodPost, path: "/mfa/challenge", json: params, basic: p.cfg.ClientAuth == ClientAuthBasic})
	if err != nil {
		return identity.Step{}, err
	}
	if ae != nil {
		return p.mfaRejection(ae), nil
	}
	var ch struct {
		Type          string `json:"challenge_type"`
		OOBCode       string `json:"oob_code"`
		BindingMethod string `json:"binding_method"`
	}
	if json.Unmarshal(body, &ch) != nil || ch.OOBCode == "" {
		return identity.Step{}, p.upstream("challenge", http.StatusOK, fmt.Errorf("%w: no oob_code", ErrMalformed))
	}
	st.OOBCode, st.Binding = ch.OOBCode, ch.BindingMethod == "prompt"
	// No poll yet: the first may go at once (a user who approved and then
	// pressed Enter is not kept waiting); later ones keep poll_interval.
	st.LastPoll = 0
	st.Interval = p.cfg.PollInterval.Milliseconds()
	// A code to type cannot be finished by polling; a push or a link can.
	return p.waiting(st, !st.Binding), nil
}

func (p *provider) answer(ctx context.Context, st *state, code string) (identity.Step, error) {
	a := st.auth(st.Current)
	if a == nil {
		return identity.Step{}, fmt.Errorf("%w: no authenticator chosen", identity.ErrBadInput)
	}
	form := url.Values{"mfa_token": {st.Token}}
	op := "mfa-otp"
	switch {
	case a.Type == "otp":
		form.Set("grant_type", grantOTP)
		form.Set("otp", code)
	case a.Type == "recovery-code":
		op = "mfa-recovery-code"
		form.Set("grant_type", grantRecovery)
		form.Set("recovery_code", code)
	case st.Binding:
		op = "mfa-oob"
		form.Set("grant_type", grantOOB)
		form.Set("oob_code", st.OOBCode)
		form.Set("binding_code", code)
	case a.channel() == "auth0":
		// The Guardian app also shows a code: enrolling push enrols an OTP
		// authenticator with it.
		form.Set("grant_type", grantOTP)
		form.Set("otp", code)
	default:
		return identity.Step{}, fmt.Errorf("%w: this authenticator takes no typed code", identity.ErrBadInput)
	}
	ts, ae, err := p.grant(ctx, op, form, st.ClientIP, false)
	if err != nil {
		return identity.Step{}, err
	}
	if ae != nil {
		return p.mfaRejection(ae), nil
	}
	return p.accepted(st.User, ts)
}

// poll asks whether a push was approved (or an email link followed), no
// faster than every five seconds: an early poll is answered from the state
// without calling Auth0.
func (p *provider) poll(ctx context.Context, st *state) (identity.Step, error) {
	if st.OOBCode == "" || st.Binding {
		return identity.Step{}, fmt.Errorf("%w: nothing to poll", identity.ErrBadInput)
	}
	now := p.cfg.Now().UnixMilli()
	if now-st.LastPoll < st.interval() {
		return p.waiting(st, true), nil
	}
	st.LastPoll = now
	form := url.Values{"grant_type": {grantOOB}, "mfa_token": {st.Token}, "oob_code": {st.OOBCode}}
	ts, ae, err := p.pollGrant(ctx, form, st.ClientIP)
	if err != nil {
		return identity.Step{}, err
	}
	if ae == nil {
		return p.accepted(st.User, ts)
	}
	switch ae.Code {
	case "authorization_pending":
		return p.waiting(st, true), nil
	case "slow_down", "too_many_requests":
		st.Interval = st.interval() + MinPollInterval.Milliseconds()
		if ra := ae.RetryAfter.Milliseconds(); ra > st.Interval {
			st.Interval = ra
		}
		p.log.WithField("interval", time.Duration(st.Interval)*time.Millisecond).Debug("Auth0 asked to poll more slowly")
		step := p.waiting(st, true)
		// A 429 is a rate limit (slow_down, a 400, is this
		// transaction's pace): every held push of this tenant waits.
		step.SlowDown = ae.status == http.StatusTooManyRequests
		return step, nil
	}
	return p.mfaRejection(ae), nil
}

// mfaRejection maps an error of the MFA API to a rejection: a wrong code,
// a denied push (access_denied as seen live, invalid_grant as documented),
// an expired mfa_token or oob_code.
func (p *provider) mfaRejection(ae *apiError) identity.Step {
	why := identity.WhyFailed
	switch ae.Code {
	case "unsupported_challenge_type":
		why = identity.WhyNoMechanism
	case "invalid_client", "unauthorized_client":
		why = identity.WhyMisconfigured
	case "too_many_attempts":
		why = identity.WhyRetryLater
	}
	return rejected(why, "Auth0: "+ae.Code+": "+ae.Description)
}

func (p *provider) accepted(user string, ts *tokenSet) (identity.Step, error) {
	id := &identity.Identity{User: user}
	if p.cfg.RolesClaim != "" {
		// Roles are read from a token only once it is known to be this
		// tenant's, for this application (or API), and current.
		if claims, err := p.tokenClaims(ts.IDToken, p.cfg.ClientID); err == nil {
			id.Groups = claimList(claims, p.cfg.RolesClaim)
		} else if ts.IDToken != "" {
			return identity.Step{}, p.upstream("token", http.StatusOK, fmt.Errorf("the ID token cannot be used for roles: %w", err))
		}
		if id.Groups == nil && ts.AccessToken != "" {
			if claims, err := p.tokenClaims(ts.AccessToken, p.cfg.Audience); err == nil {
				id.Groups = claimList(claims, p.cfg.RolesClaim)
			}
		}
	}
	step := identity.Step{Status: identity.Accepted, Identity: id}
	if ts.RecoveryCode != "" {
		// Auth0 replaced the recovery code the user just spent: the
		// application must show the new one (Auth0's MFA API guide). It
		// is shown in a last challenge that any answer ends; the code is
		// never logged nor stored.
		st := &state{User: user, Accepted: id}
		return identity.Step{
			Status:  identity.Waiting,
			Current: &identity.Mechanism{ID: "recovery-notice", Kind: identity.KindNotice, Name: "recovery-code", Prompt: "Auth0 issued you a new recovery code. Keep it safe; the old one no longer works. Press Enter to finish."},
			Display: "Your new recovery code: " + ts.RecoveryCode,
			Detail:  "Auth0 issued a new recovery code; shown to the user",
			Txn:     p.txn(st),
		}, nil
	}
	return step, nil
}

// tokenClaims returns a JWT's claims once its issuer is this tenant, its
// audience includes aud (when aud is set) and it has not expired. Its
// signature is not checked: the token came straight from the tenant's token
// endpoint over TLS, in answer to mfabridge's own request.
func (p *provider) tokenClaims(jwt, aud string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("not a JWT")
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil, errors.New("not a JWT")
	}
	if iss, _ := claims["iss"].(string); strings.TrimRight(iss, "/") != p.base {
		return nil, fmt.Errorf("issuer %q is not %s/", iss, p.base)
	}
	if aud != "" {
		ok := false
		switch v := claims["aud"].(type) {
		case string:
			ok = v == aud
		case []any:
			for _, x := range v {
				ok = ok || x == aud
			}
		}
		if !ok {
			return nil, fmt.Errorf("audience is not %q", aud)
		}
	}
	exp, _ := claims["exp"].(float64)
	if time.Unix(int64(exp), 0).Add(time.Minute).Before(p.cfg.Now()) {
		return nil, errors.New("expired")
	}
	return claims, nil
}

// claimList reads a list (or a single string) claim.
func claimList(claims map[string]any, claim string) []string {
	switch v := claims[claim].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
