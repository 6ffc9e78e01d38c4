// Package auth0test is an emulated Auth0 tenant for the MFA API: the
// password and password-realm grants answering mfa_required with a reusable
// mfa_token, /mfa/authenticators, /mfa/challenge, and the mfa-otp, mfa-oob
// and mfa-recovery-code grants, with the statuses and error bodies recorded
// from the live service (see reference/identity-api.md, Part B). Tests and
// `mfabridge demo --provider auth0` run on it.
package auth0test

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mfabridge/mfabridge/internal/faults"
	"github.com/mfabridge/mfabridge/internal/totp"
)

// User is an emulated Auth0 user.
type User struct {
	// Name is the login name (the username or email the password grant
	// takes).
	Name     string
	Password string
	Roles    []string
	// OTPSecret (base32) enrols an authenticator app.
	OTPSecret string
	// SMS, Voice and Email enrol those channels (the value is the masked
	// name the authenticator list shows).
	SMS, Voice, Email string
	// Push enrols Guardian push; AutoApprove approves it this long after
	// the challenge, otherwise the test calls Approve or Deny.
	Push        bool
	AutoApprove time.Duration
	// RecoveryCodes are accepted once each.
	RecoveryCodes []string
	// NoMFA users get tokens from the password grant.
	NoMFA bool
	// Blocked users get too_many_attempts.
	Blocked bool
}

// Options configures a Tenant.
type Options struct {
	ClientID, ClientSecret string
	// Connection is the realm the password-realm grant must name. Default
	// "Username-Password-Authentication".
	Connection string
	// RolesClaim is the claim that carries roles in the id_token. Default
	// "https://mfabridge.example/roles".
	RolesClaim string
	Users      []User
	// RejectWith is the error of a denied push: "access_denied" (as
	// recorded from a live tenant, the default the reference asks of a
	// fake) or "invalid_grant" (as Auth0's documentation shows it).
	RejectWith string
	// OnCode and OnPush are told of codes sent and pushes started.
	OnCode func(user, channel, code string)
	OnPush func(user string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Fault makes a path misbehave (see Inject).
type Fault = faults.Fault

// Call is one request the tenant received.
type Call struct {
	Path      string
	GrantType string
	Header    http.Header
	Form      url.Values
}

// Tenant is a running emulated Auth0 tenant.
type Tenant struct {
	URL  string
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	users     map[string]*User
	mfaTokens map[string]*mfaToken
	oobs      map[string]*oob
	calls     []Call
	faults    faults.Set
	codes     map[string]string
	pending   map[string]*oob        // user -> push waiting
	used      map[string]bool        // recovery codes and OTPs used
	attempts  map[string][]time.Time // user|kind -> recent attempts or sends
}

type mfaToken struct {
	user    *User
	expires time.Time
}

type oob struct {
	user      *User
	token     string
	channel   string
	binding   string // code to type, or "" for push and email links
	state     int    // 0 pending, 1 approved, 2 denied
	lastPoll  time.Time
	polls     []time.Time
	approveAt time.Time
	sent      time.Time // when the code was sent (binding codes live 5 min)
}

// Limits of identity-api.md B.8: an OTP is valid once, a user has 10 OTP
// attempts an hour, SMS and voice codes 10 an hour, pushes a burst of 5,
// and a sent code lives 5 minutes.
const (
	otpAttemptsPerHour = 10
	smsPerHour         = 10
	pushBurst          = 5
	codeLifetime       = 5 * time.Minute
)

// New starts a tenant; Close it when done.
func New(o Options) *Tenant {
	if o.Connection == "" {
		o.Connection = "Username-Password-Authentication"
	}
	if o.RolesClaim == "" {
		o.RolesClaim = "https://mfabridge.example/roles"
	}
	if o.RejectWith == "" {
		o.RejectWith = "access_denied"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := &Tenant{opts: o, users: map[string]*User{}, mfaTokens: map[string]*mfaToken{}, oobs: map[string]*oob{},
		codes: map[string]string{}, pending: map[string]*oob{}, used: map[string]bool{}, attempts: map[string][]time.Time{}}
	for i := range o.Users {
		u := o.Users[i]
		t.users[strings.ToLower(u.Name)] = &u
	}
	t.srv = httptest.NewUnstartedServer(http.HandlerFunc(t.serve))
	t.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.srv.StartTLS()
	t.URL = t.srv.URL
	return t
}

// Close stops the tenant.
func (t *Tenant) Close() { t.srv.Close() }

// Client trusts the tenant's certificate.
func (t *Tenant) Client() *http.Client { return t.srv.Client() }

// Certificate is the tenant's certificate (PEM), for a ca_file.
func (t *Tenant) Certificate() []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + wrap(base64.StdEncoding.EncodeToString(t.srv.Certificate().Raw)) + "-----END CERTIFICATE-----\n")
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	return b.String() + s + "\n"
}

// Inject makes path misbehave.
func (t *Tenant) Inject(path string, f Fault) {
	t.faults.Add(path, f)
}

// Calls returns the requests received.
func (t *Tenant) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Call(nil), t.calls...)
}

// Count counts calls to path, with grant type grant ("" for any).
func (t *Tenant) Count(path, grant string) int {
	n := 0
	for _, c := range t.Calls() {
		if c.Path == path && (grant == "" || c.GrantType == grant) {
			n++
		}
	}
	return n
}

// LastCode is the last code sent to user by SMS, voice or email.
func (t *Tenant) LastCode(user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.codes[strings.ToLower(user)]
}

// Approve approves user's pending push.
func (t *Tenant) Approve(user string) bool { return t.decide(user, 1) }

// Deny denies user's pending push.
func (t *Tenant) Deny(user string) bool { return t.decide(user, 2) }

func (t *Tenant) decide(user string, state int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.pending[strings.ToLower(user)]
	if o == nil || o.state != 0 {
		return false
	}
	o.state = state
	return true
}

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// limited counts an attempt of kind by user within window and reports
// whether it is over limit; then it answers 429 too_many_requests with the
// rate-limit headers Auth0 sends (B.7, B.8). t.mu must not be held.
func (t *Tenant) limited(w http.ResponseWriter, user, kind string, limit int, window time.Duration) bool {
	now := t.opts.Now()
	key := strings.ToLower(user) + "|" + kind
	t.mu.Lock()
	recent := t.attempts[key][:0]
	for _, a := range t.attempts[key] {
		if now.Sub(a) < window {
			recent = append(recent, a)
		}
	}
	over := len(recent) >= limit
	if !over {
		recent = append(recent, now)
	}
	t.attempts[key] = recent
	reset := now.Add(window)
	if len(recent) > 0 {
		reset = recent[0].Add(window)
	}
	t.mu.Unlock()
	if !over {
		return false
	}
	rateLimitHeaders(w, limit, 0, reset)
	oauthErr(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.")
	return true
}

func rateLimitHeaders(w http.ResponseWriter, limit, remaining int, reset time.Time) {
	w.Header().Set("X-RateLimit-Limit", fmt.Sprint(limit))
	w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(remaining))
	w.Header().Set("X-RateLimit-Reset", fmt.Sprint(reset.Unix()))
}

// record notes a call and applies a fault; it reports whether the fault
// answered.
func (t *Tenant) record(w http.ResponseWriter, r *http.Request, form url.Values) bool {
	t.mu.Lock()
	t.calls = append(t.calls, Call{Path: r.URL.Path, GrantType: form.Get("grant_type"), Header: r.Header.Clone(), Form: form})
	t.mu.Unlock()
	return t.faults.Serve(w, r, r.URL.Path)
}

// params reads a form or JSON body, as Auth0 accepts both.
func params(r *http.Request) url.Values {
	out := url.Values{}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	// JSON, with its content type or without one (the seed's curl example
	// sends none); otherwise a form.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		for k, v := range m {
			if s, ok := v.(string); ok {
				out.Set(k, s)
			}
		}
		return out
	}
	form, _ := url.ParseQuery(string(body))
	return form
}

func (t *Tenant) serve(w http.ResponseWriter, r *http.Request) {
	form := url.Values{}
	if r.Method == http.MethodPost {
		form = params(r)
	}
	if t.record(w, r, form) {
		return
	}
	switch {
	case r.URL.Path == "/oauth/token" && r.Method == http.MethodPost:
		t.token(w, r, form)
	case r.URL.Path == "/mfa/authenticators" && r.Method == http.MethodGet:
		t.authenticators(w, r)
	case r.URL.Path == "/mfa/challenge" && r.Method == http.MethodPost:
		t.challenge(w, r, form)
	case r.URL.Path == "/oauth/token" || r.URL.Path == "/mfa/authenticators" || r.URL.Path == "/mfa/challenge":
		oauthErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>Not found</body></html>"))
	}
}

func (t *Tenant) clientOK(r *http.Request, form url.Values) bool {
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	return id == t.opts.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(t.opts.ClientSecret)) == 1
}

// jwt is an unsigned-looking token whose payload carries claims; the
// emulator signs nothing.
func jwt(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString([]byte(newID(16)))
}

func (t *Tenant) tokens(w http.ResponseWriter, u *User, extra map[string]any) {
	// The claims Auth0 puts in its tokens: the issuer is the tenant's URL
	// with a slash, the ID token's audience the application, the access
	// token's the API (or the userinfo endpoint), and an expiry.
	now := t.opts.Now()
	claims := map[string]any{"sub": "auth0|" + newID(8), "name": u.Name, t.opts.RolesClaim: u.Roles,
		"iss": t.URL + "/", "aud": t.opts.ClientID, "iat": now.Unix(), "exp": now.Add(10 * time.Hour).Unix()}
	access := map[string]any{"sub": claims["sub"], t.opts.RolesClaim: u.Roles,
		"iss": t.URL + "/", "aud": []string{t.URL + "/userinfo"}, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}
	body := map[string]any{
		"access_token": jwt(access), "id_token": jwt(claims),
		"expires_in": 86400, "scope": "openid profile", "token_type": "Bearer",
	}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, http.StatusOK, body)
}

const (
	grantPassword = "password"
	grantRealm    = "http://auth0.com/oauth/grant-type/password-realm"
	grantOTP      = "http://auth0.com/oauth/grant-type/mfa-otp"
	grantOOB      = "http://auth0.com/oauth/grant-type/mfa-oob"
	grantRecovery = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
)

func (t *Tenant) token(w http.ResponseWriter, r *http.Request, form url.Values) {
	if !t.clientOK(r, form) {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	switch form.Get("grant_type") {
	case grantPassword, grantRealm:
		t.password(w, form)
	case grantOTP, grantOOB, grantRecovery:
		t.mfaGrant(w, form)
	default:
		oauthErr(w, http.StatusForbidden, "unauthorized_client", fmt.Sprintf("Grant type '%s' not allowed for the client.", form.Get("grant_type")))
	}
}

func (t *Tenant) password(w http.ResponseWriter, form url.Values) {
	if form.Get("grant_type") == grantRealm && form.Get("realm") != t.opts.Connection {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "connection is disabled")
		return
	}
	if form.Get("username") == "" {
		// A missing parameter is an invalid_request (B.7), checked after
		// the client's authentication and before any user is looked up.
		oauthErr(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: username")
		return
	}
	t.mu.Lock()
	u := t.users[strings.ToLower(form.Get("username"))]
	t.mu.Unlock()
	switch {
	case u != nil && u.Blocked:
		oauthErr(w, http.StatusTooManyRequests, "too_many_attempts", "Your account has been blocked after multiple consecutive login attempts.")
		return
	case u == nil || subtle.ConstantTimeCompare([]byte(form.Get("password")), []byte(u.Password)) != 1:
		oauthErr(w, http.StatusForbidden, "invalid_grant", "Wrong email or password.")
		return
	case u.NoMFA:
		t.tokens(w, u, nil)
		return
	}
	tok := "Fe26." + newID(24)
	t.mu.Lock()
	t.mfaTokens[tok] = &mfaToken{user: u, expires: t.opts.Now().Add(10 * time.Minute)}
	t.mu.Unlock()
	writeJSON(w, http.StatusForbidden, map[string]string{"error": "mfa_required", "error_description": "Multifactor authentication required", "mfa_token": tok})
}

// lookup returns the user of an mfa_token, writing the error otherwise.
func (t *Tenant) lookup(w http.ResponseWriter, tok string) *User {
	t.mu.Lock()
	m := t.mfaTokens[tok]
	t.mu.Unlock()
	switch {
	case m == nil:
		oauthErr(w, http.StatusForbidden, "invalid_grant", "Malformed mfa_token")
		return nil
	case t.opts.Now().After(m.expires):
		oauthErr(w, http.StatusForbidden, "expired_token", "mfa_token is expired")
		return nil
	}
	return m.user
}

type authenticator struct {
	ID      string `json:"id"`
	Type    string `json:"authenticator_type"`
	Active  bool   `json:"active"`
	Channel string `json:"oob_channel,omitempty"`
	Name    string `json:"name,omitempty"`
}

func list(u *User) []authenticator {
	var out []authenticator
	key := strings.ToLower(u.Name)
	if u.SMS != "" {
		out = append(out, authenticator{ID: "sms|dev_" + key, Type: "oob", Active: true, Channel: "sms", Name: u.SMS})
	}
	if u.Voice != "" {
		out = append(out, authenticator{ID: "voice|dev_" + key, Type: "oob", Active: true, Channel: "voice", Name: u.Voice})
	}
	if u.Push {
		out = append(out, authenticator{ID: "push|dev_" + key, Type: "oob", Active: true, Channel: "auth0"})
	}
	if u.OTPSecret != "" {
		out = append(out, authenticator{ID: "totp|dev_" + key, Type: "otp", Active: true})
	}
	if u.Email != "" {
		out = append(out, authenticator{ID: "email|dev_" + key, Type: "oob", Active: true, Channel: "email", Name: u.Email})
	}
	// An enrolment not confirmed yet, as live lists have: never offered.
	out = append(out, authenticator{ID: "sms|dev_unconfirmed_" + key, Type: "oob", Active: false, Channel: "sms", Name: "XXXXXXXXX0000"})
	if len(u.RecoveryCodes) > 0 {
		out = append(out, authenticator{ID: "recovery-code|dev_" + key, Type: "recovery-code", Active: true})
	}
	return out
}

func (t *Tenant) authenticators(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	u := t.lookup(w, tok)
	if u == nil {
		return
	}
	writeJSON(w, http.StatusOK, list(u))
}

func (t *Tenant) challenge(w http.ResponseWriter, r *http.Request, form url.Values) {
	if !t.clientOK(r, form) {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	u := t.lookup(w, form.Get("mfa_token"))
	if u == nil {
		return
	}
	types := strings.Fields(form.Get("challenge_type"))
	allowed := func(typ string) bool {
		if len(types) == 0 {
			return true
		}
		for _, ty := range types {
			if ty == typ {
				return true
			}
		}
		return false
	}
	// authenticator_id is optional: without it the first active
	// authenticator of an allowed type answers (the seed's OTP example
	// names none).
	id := form.Get("authenticator_id")
	var a *authenticator
	for _, x := range list(u) {
		if x.Active && a == nil && (x.ID == id || (id == "" && allowed(x.Type))) {
			x := x
			a = &x
		}
	}
	if a == nil || !allowed(a.Type) {
		oauthErr(w, http.StatusBadRequest, "unsupported_challenge_type", "User is not enrolled with that authenticator.")
		return
	}
	if a.Type == "otp" {
		writeJSON(w, http.StatusOK, map[string]string{"challenge_type": "otp"})
		return
	}
	switch a.Channel {
	case "auth0":
		if t.limited(w, u.Name, "push", pushBurst, time.Minute) {
			return
		}
	case "sms", "voice":
		if t.limited(w, u.Name, "sms", smsPerHour, time.Hour) {
			return
		}
	}
	o := &oob{user: u, token: form.Get("mfa_token"), channel: a.Channel, sent: t.opts.Now()}
	code := "Fe26." + newID(16)
	res := map[string]string{"challenge_type": "oob", "oob_code": code}
	t.mu.Lock()
	t.oobs[code] = o
	if a.Channel == "auth0" {
		t.pending[strings.ToLower(u.Name)] = o
		if u.AutoApprove > 0 {
			o.approveAt = t.opts.Now().Add(u.AutoApprove)
		}
	} else {
		o.binding = fmt.Sprintf("%06d", int(newIDNum()%1000000))
		t.codes[strings.ToLower(u.Name)] = o.binding
		res["binding_method"] = "prompt"
	}
	t.mu.Unlock()
	if a.Channel == "auth0" && t.opts.OnPush != nil {
		go t.opts.OnPush(u.Name)
	} else if t.opts.OnCode != nil && a.Channel != "auth0" {
		go t.opts.OnCode(u.Name, a.Channel, o.binding)
	}
	writeJSON(w, http.StatusOK, res)
}

func newIDNum() uint64 {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return n
}

func (t *Tenant) mfaGrant(w http.ResponseWriter, form url.Values) {
	u := t.lookup(w, form.Get("mfa_token"))
	if u == nil {
		return
	}
	switch form.Get("grant_type") {
	case grantOTP:
		if t.limited(w, u.Name, "otp", otpAttemptsPerHour, time.Hour) {
			return
		}
		otp := form.Get("otp")
		key, err := totp.DecodeSecret(u.OTPSecret)
		t.mu.Lock()
		reused := t.used[u.Name+"|otp|"+otp]
		ok := err == nil && u.OTPSecret != "" && !reused && totp.Valid(key, otp, t.opts.Now())
		if ok {
			t.used[u.Name+"|otp|"+otp] = true // an OTP cannot be reused
		}
		t.mu.Unlock()
		if !ok {
			oauthErr(w, http.StatusForbidden, "invalid_grant", "Invalid otp_code.")
			return
		}
		t.tokens(w, u, nil)
	case grantRecovery:
		code := form.Get("recovery_code")
		t.mu.Lock()
		ok := false
		for _, c := range u.RecoveryCodes {
			if c == code && !t.used[u.Name+"|"+c] {
				ok = true
				t.used[u.Name+"|"+c] = true
			}
		}
		t.mu.Unlock()
		if !ok {
			oauthErr(w, http.StatusForbidden, "invalid_grant", "Invalid recovery_code.")
			return
		}
		t.tokens(w, u, map[string]any{"recovery_code": strings.ToUpper(newID(12))})
	case grantOOB:
		t.oobGrant(w, u, form)
	}
}

func (t *Tenant) oobGrant(w http.ResponseWriter, u *User, form url.Values) {
	now := t.opts.Now()
	t.mu.Lock()
	o := t.oobs[form.Get("oob_code")]
	if o == nil || o.user != u {
		t.mu.Unlock()
		oauthErr(w, http.StatusForbidden, "invalid_grant", "Invalid oob_code.")
		return
	}
	if o.binding != "" {
		bc := form.Get("binding_code")
		t.mu.Unlock()
		switch {
		case bc == "":
			oauthErr(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: binding_code")
		case subtle.ConstantTimeCompare([]byte(bc), []byte(o.binding)) != 1, now.Sub(o.sent) > codeLifetime:
			oauthErr(w, http.StatusForbidden, "invalid_grant", "Invalid binding_code.")
		default:
			t.tokens(w, u, nil)
		}
		return
	}
	// Push: rate limits per session (burst of 12, 12 a minute; 5 s apart).
	recent := o.polls[:0]
	for _, p := range o.polls {
		if now.Sub(p) < time.Minute {
			recent = append(recent, p)
		}
	}
	o.polls = append(recent, now)
	tooFast := !o.lastPoll.IsZero() && now.Sub(o.lastPoll) < 5*time.Second
	o.lastPoll = now
	if !o.approveAt.IsZero() && !now.Before(o.approveAt) && o.state == 0 {
		o.state = 1
	}
	state, polls := o.state, len(o.polls)
	t.mu.Unlock()
	switch {
	case polls > 12:
		rateLimitHeaders(w, 12, 0, now.Add(5*time.Second))
		oauthErr(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests")
	case tooFast:
		oauthErr(w, http.StatusBadRequest, "slow_down", "You are polling faster than allowed. Try again in 5 seconds.")
	case state == 0:
		oauthErr(w, http.StatusBadRequest, "authorization_pending", "Authorization pending: please repeat the request in a few seconds.")
	case state == 2:
		oauthErr(w, http.StatusBadRequest, t.opts.RejectWith, "MFA Authorization rejected.")
	default:
		t.tokens(w, u, nil)
	}
}
