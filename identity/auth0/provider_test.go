package auth0

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/auth0/auth0test"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/totp"
)

const otpSecret = "JBSWY3DPEHPK3PXP"

type env struct {
	tn    *auth0test.Tenant
	p     *provider
	clock *atomic.Int64
}

func (e *env) now() time.Time          { return time.Unix(0, e.clock.Load()) }
func (e *env) advance(d time.Duration) { e.clock.Add(int64(d)) }

func newEnv(t *testing.T, mutate func(*auth0test.Options, *Config)) *env {
	t.Helper()
	e := &env{clock: new(atomic.Int64)}
	e.clock.Store(time.Now().UnixNano())
	opts := auth0test.Options{
		ClientID: "app", ClientSecret: "app-secret",
		Users: []auth0test.User{
			{Name: "alice@example.com", Password: "alice-pw", Roles: []string{"vpn-users", "admins"}, OTPSecret: otpSecret,
				SMS: "XXXXXXXX9167", Voice: "XXXXXXXX9168", Email: "a****@example.com", Push: true, RecoveryCodes: []string{"RECOVERY0001"}},
			{Name: "nomfa@example.com", Password: "nomfa-pw", NoMFA: true, Roles: []string{"vpn-users"}},
			{Name: "blocked@example.com", Password: "x", Blocked: true},
		},
		Now: e.now,
	}
	cfg := Config{Name: "a0", ClientID: "app", ClientSecret: "app-secret", RolesClaim: "https://mfabridge.example/roles", Now: e.now, RetryBackoff: time.Millisecond, Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&opts, &cfg)
	}
	e.tn = auth0test.New(opts)
	t.Cleanup(e.tn.Close)
	cfg.URL = e.tn.URL
	cfg.HTTPClient = e.tn.Client()
	p, err := cfg.open()
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

func (e *env) start(t *testing.T, user, pw string) identity.Step {
	t.Helper()
	return identitytest.Start(t, e.p, identity.Request{User: user, Password: pw, ClientIP: "198.51.100.7"})
}

func (e *env) adv(t *testing.T, s identity.Step, in identity.Input) identity.Step {
	t.Helper()
	return identitytest.Advance(t, e.p, s, in)
}

func choice(t *testing.T, s identity.Step, name string) identity.Mechanism {
	t.Helper()
	return identitytest.Choice(t, s, name)
}

func (e *env) code() string {
	key, _ := totp.DecodeSecret(otpSecret)
	return totp.Code(key, e.now())
}

func TestChoicesFromAuthenticators(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice@example.com", "alice-pw")
	want := map[string]identity.Kind{"sms": identity.KindOOBCode, "voice": identity.KindOOBCode, "email": identity.KindOOBCode, "push": identity.KindPush, "otp": identity.KindCode, "recovery-code": identity.KindCode}
	if len(s.Choices) != len(want) {
		t.Fatalf("choices %+v; want %d (the inactive one left out)", s.Choices, len(want))
	}
	for _, m := range s.Choices {
		if want[m.Name] != m.Kind {
			t.Errorf("%s: kind %s", m.Name, m.Kind)
		}
	}
	if strings.Contains(string(s.Txn.Data), "alice-pw") {
		t.Fatal("the transaction holds the password")
	}
	// The password grant went with the client's credentials and the
	// user's address for Auth0's brute-force protection.
	c := e.tn.Calls()[0]
	if c.GrantType != "password" || c.Form.Get("client_secret") != "app-secret" || c.Header.Get("auth0-forwarded-for") != "198.51.100.7" {
		t.Fatalf("password grant %+v %v", c.Form, c.Header)
	}
}

func TestPasswordRealmGrant(t *testing.T) {
	e := newEnv(t, func(_ *auth0test.Options, c *Config) { c.Realm = "Username-Password-Authentication" })
	if s := e.start(t, "alice@example.com", "alice-pw"); s.Status != identity.Waiting {
		t.Fatalf("status %v (%s)", s.Status, s.Detail)
	}
	c := e.tn.Calls()[0]
	if c.GrantType != grantRealm || c.Form.Get("realm") != "Username-Password-Authentication" {
		t.Fatalf("grant %+v", c.Form)
	}
	e = newEnv(t, func(_ *auth0test.Options, c *Config) { c.Realm = "No-Such-Connection" })
	if _, err := e.p.Start(context.Background(), identity.Request{User: "alice@example.com", Password: "alice-pw"}); !errors.Is(err, identity.ErrUpstream) || !strings.Contains(err.Error(), "connection is disabled") {
		t.Fatalf("wrong realm, a configuration error: %v", err)
	}
}

// TestStartErrors covers the password grant's answers.
func TestStartErrors(t *testing.T) {
	tests := []struct {
		name, user, pw string
		mutate         func(*auth0test.Options, *Config)
		status         identity.Status
		why            identity.Why
	}{
		{"wrong password (403 invalid_grant)", "alice@example.com", "nope", nil, identity.Rejected, identity.WhyFailed},
		{"unknown user", "who@example.com", "x", nil, identity.Rejected, identity.WhyFailed},
		{"blocked (too_many_attempts)", "blocked@example.com", "x", nil, identity.Rejected, identity.WhyRetryLater},
		{"no MFA, refused by default", "nomfa@example.com", "nomfa-pw", nil, identity.Rejected, identity.WhyNoMechanism},
		{"no MFA, accepted when allowed", "nomfa@example.com", "nomfa-pw", func(_ *auth0test.Options, c *Config) { c.AllowNoMFA = true }, identity.Accepted, identity.WhyOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mutate)
			s := e.start(t, tc.user, tc.pw)
			if s.Status != tc.status || s.Why != tc.why {
				t.Fatalf("got %v %q (%s), want %v %q", s.Status, s.Why, s.Detail, tc.status, tc.why)
			}
			if strings.Contains(s.Detail, "app-secret") || strings.Contains(s.Detail, tc.pw) && tc.pw != "x" {
				t.Fatal("the detail holds a secret")
			}
		})
	}
}

// TestTenantTroubleIsNeverTheUsersFailure: a 5xx with an error body, a rate
// limit and mfabridge's own misconfiguration are upstream failures (the
// bridge applies upstream_failure and counts nothing against the user),
// never a rejection of the user.
func TestTenantTroubleIsNeverTheUsersFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*auth0test.Options, *Config)
		fault  *auth0test.Fault
		want   string
	}{
		{"503 temporarily_unavailable", nil, &auth0test.Fault{Status: 503, ContentType: "application/json", Body: `{"error":"temporarily_unavailable","error_description":"The service is temporarily unavailable"}`, Times: 3}, "HTTP 503"},
		{"429 at the password grant", nil, &auth0test.Fault{Status: 429, ContentType: "application/json", Header: map[string]string{"Retry-After": "7"}, Body: `{"error":"too_many_requests","error_description":"Global limit has been reached"}`, Times: 1}, "wait 7s"},
		{"wrong client secret (invalid_client)", func(_ *auth0test.Options, c *Config) { c.ClientSecret = "wrong" }, nil, "invalid_client"},
		{"grant type not allowed (unauthorized_client)", nil, &auth0test.Fault{Status: 403, ContentType: "application/json", Body: `{"error":"unauthorized_client","error_description":"Grant type 'password' not allowed for the client."}`, Times: 1}, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mutate)
			if tc.fault != nil {
				e.tn.Inject("/oauth/token", *tc.fault)
			}
			s, err := e.p.Start(context.Background(), identity.Request{User: "alice@example.com", Password: "alice-pw"})
			if !errors.Is(err, identity.ErrUpstream) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v %q (%s), error %v; want an upstream error with %q", s.Status, s.Why, s.Detail, err, tc.want)
			}
			if strings.Contains(err.Error(), "app-secret") || strings.Contains(err.Error(), "alice-pw") {
				t.Fatal("the error holds a secret")
			}
		})
	}
}

// TestClientSecretBasic: an application set to Basic authenticates with an
// Authorization header at /oauth/token and /mfa/challenge, and sends no
// client_secret in a body.
func TestClientSecretBasic(t *testing.T) {
	e := newEnv(t, func(_ *auth0test.Options, c *Config) { c.ClientAuth = ClientAuthBasic })
	s := e.start(t, "alice@example.com", "alice-pw")
	s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
	if !s.Pending {
		t.Fatalf("push not started: %+v", s)
	}
	for _, c := range e.tn.Calls() {
		if c.Path == "/mfa/authenticators" {
			continue // the mfa_token is the bearer there
		}
		if u, pw, ok := (&http.Request{Header: c.Header}).BasicAuth(); !ok || u != "app" || pw != "app-secret" {
			t.Errorf("%s: no Basic credentials (%q)", c.Path, c.Header.Get("Authorization"))
		}
		if c.Form.Get("client_secret") != "" {
			t.Errorf("%s: client_secret in the body", c.Path)
		}
	}
	if err := (&Config{URL: "https://x.auth0.com", ClientID: "a", ClientSecret: "b", ClientAuth: "jwt"}).Validate(); err == nil || !strings.Contains(err.Error(), "client_auth") {
		t.Fatalf("client_auth = \"jwt\": %v", err)
	}
}

func TestRolesFromTheConfiguredClaim(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice@example.com", "alice-pw")
	s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "otp").ID})
	s = e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.code()})
	if s.Status != identity.Accepted || strings.Join(s.Identity.Groups, ",") != "vpn-users,admins" {
		t.Fatalf("%v %+v", s.Status, s.Identity)
	}
}

// TestGrants runs each MFA grant to its end.
func TestGrants(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, s identity.Step) identity.Step
		want identity.Status
		why  identity.Why
	}{
		{"mfa-otp", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "otp").ID})
			if e.tn.Count("/mfa/challenge", "") != 0 {
				t.Error("an OTP was challenged")
			}
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.code()})
		}, identity.Accepted, ""},
		{"mfa-otp wrong code (invalid_grant)", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "otp").ID})
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: "000000"})
		}, identity.Rejected, identity.WhyFailed},
		{"mfa-oob SMS with binding code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "sms").ID})
			if s.Pending {
				t.Error("an SMS code was marked pollable")
			}
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.tn.LastCode("alice@example.com")})
		}, identity.Accepted, ""},
		{"mfa-oob voice with binding code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "voice").ID})
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.tn.LastCode("alice@example.com")})
		}, identity.Accepted, ""},
		{"mfa-oob email with binding code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "email").ID})
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.tn.LastCode("alice@example.com")})
		}, identity.Accepted, ""},
		{"mfa-oob wrong binding code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "sms").ID})
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: "999999x"})
		}, identity.Rejected, identity.WhyFailed},
		{"mfa-recovery-code, the new code shown before the Accept", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "recovery-code").ID})
			s = e.adv(t, s, identity.Input{Action: identity.Answer, Value: "RECOVERY0001"})
			if s.Status != identity.Waiting || s.Current == nil || s.Current.Kind != identity.KindNotice || !strings.HasPrefix(s.Display, "Your new recovery code: ") {
				t.Fatalf("after a recovery code: %v %+v %q", s.Status, s.Current, s.Display)
			}
			code := strings.TrimPrefix(s.Display, "Your new recovery code: ")
			if len(code) < 8 || strings.Contains(string(s.Txn.Data), code) || strings.Contains(s.Detail, code) {
				t.Fatalf("the new code %q is kept in the transaction or the detail", code)
			}
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: ""})
		}, identity.Accepted, ""},
		{"push approved, first poll at once, then every 5s", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
			if !s.Pending || s.PollInterval != 5*time.Second {
				t.Fatalf("push: pending %v interval %v", s.Pending, s.PollInterval)
			}
			before := e.tn.Count("/oauth/token", grantOOB)
			// The user pressed Enter right away: the first poll goes to
			// Auth0 (authorization_pending, same mfa_token).
			s = e.adv(t, s, identity.Input{Action: identity.Poll})
			if s.Status != identity.Waiting || e.tn.Count("/oauth/token", grantOOB) != before+1 {
				t.Fatalf("first poll: %v, %d polls", s.Status, e.tn.Count("/oauth/token", grantOOB)-before)
			}
			s = e.adv(t, s, identity.Input{Action: identity.Poll}) // too early: answered locally
			if e.tn.Count("/oauth/token", grantOOB) != before+1 {
				t.Fatal("polled Auth0 sooner than 5s after the last poll")
			}
			e.tn.Approve("alice@example.com")
			e.advance(5 * time.Second)
			return e.adv(t, s, identity.Input{Action: identity.Poll})
		}, identity.Accepted, ""},
		{"push denied (invalid_grant, as documented)", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
			e.tn.Deny("alice@example.com")
			e.advance(5 * time.Second)
			return e.adv(t, s, identity.Input{Action: identity.Poll})
		}, identity.Rejected, identity.WhyFailed},
		{"push code typed from Guardian", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
			return e.adv(t, s, identity.Input{Action: identity.Answer, Value: e.code()})
		}, identity.Accepted, ""},
		{"mfa_token expired (expired_token)", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
			e.advance(11 * time.Minute)
			return e.adv(t, s, identity.Input{Action: identity.Poll})
		}, identity.Rejected, identity.WhyFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := tc.run(t, e, e.start(t, "alice@example.com", "alice-pw"))
			if s.Status != tc.want || (tc.why != "" && s.Why != tc.why) {
				t.Fatalf("got %v %q (%s), want %v %q", s.Status, s.Why, s.Detail, tc.want, tc.why)
			}
		})
	}
}

func TestPushDeniedWithAccessDeniedAsSeenLive(t *testing.T) {
	e := newEnv(t, func(o *auth0test.Options, _ *Config) { o.RejectWith = "access_denied" })
	s := e.start(t, "alice@example.com", "alice-pw")
	s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
	e.tn.Deny("alice@example.com")
	e.advance(5 * time.Second)
	if s = e.adv(t, s, identity.Input{Action: identity.Poll}); s.Status != identity.Rejected {
		t.Fatalf("status %v", s.Status)
	}
}

// TestSlowDownAndRateLimit: slow_down and 429 too_many_requests make the
// provider poll less often; a pending answer with HTTP 200 (as documented)
// is still pending: decisions follow the error field.
func TestSlowDownAndRateLimit(t *testing.T) {
	for _, f := range []auth0test.Fault{
		{Status: 400, ContentType: "application/json", Body: `{"error":"slow_down","error_description":"You are polling faster than allowed."}`, Times: 1},
		{Status: 429, ContentType: "application/json", Body: `{"error":"too_many_requests","error_description":"Too many requests"}`, Times: 1},
		{Status: 200, ContentType: "application/json", Body: `{"error":"authorization_pending","error_description":"Authorization pending: please repeat the request in a few seconds."}`, Times: 1},
	} {
		e := newEnv(t, nil)
		s := e.start(t, "alice@example.com", "alice-pw")
		s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
		e.advance(5 * time.Second)
		e.tn.Inject("/oauth/token", f)
		s = e.adv(t, s, identity.Input{Action: identity.Poll})
		if s.Status != identity.Waiting || !s.Pending {
			t.Fatalf("%d %s: %v (%s)", f.Status, f.Body, s.Status, s.Detail)
		}
		if f.Status != 200 && s.PollInterval != 10*time.Second {
			t.Errorf("%s: interval %v, want 10s", f.Body, s.PollInterval)
		}
		// A 429 is a rate limit: every held push of the tenant waits;
		// slow_down is this transaction's pace alone.
		if s.SlowDown != (f.Status == 429) {
			t.Errorf("%d %s: SlowDown %v", f.Status, f.Body, s.SlowDown)
		}
	}
}

func TestUpstreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		fault     auth0test.Fault
		atChoose  bool
		want      error
		wantCalls int
	}{
		{"503 once at the password grant is retried", "/oauth/token", auth0test.Fault{Status: 503, Body: "busy", Times: 1}, false, nil, 2},
		{"HTML page", "/oauth/token", auth0test.Fault{Status: 200, Body: "<html>login</html>"}, false, ErrHTML, 1},
		{"malformed JSON", "/mfa/authenticators", auth0test.Fault{Status: 200, ContentType: "application/json", Body: `[{"id":`}, false, ErrMalformed, 1},
		{"500 without an error body", "/oauth/token", auth0test.Fault{Status: 500, ContentType: "application/json", Body: `{}`}, false, ErrStatus, 3},
		{"timeout", "/oauth/token", auth0test.Fault{Delay: 300 * time.Millisecond, Status: 200, Body: "{}"}, false, context.DeadlineExceeded, 3},
		{"503 at a challenge is not retried", "/mfa/challenge", auth0test.Fault{Status: 503, ContentType: "text/plain", Body: "busy"}, true, ErrStatus, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *auth0test.Options, c *Config) { c.Timeout = 100 * time.Millisecond })
			var err error
			if tc.atChoose {
				s := e.start(t, "alice@example.com", "alice-pw")
				e.tn.Inject(tc.path, tc.fault)
				_, err = e.p.Advance(context.Background(), s.Txn, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
			} else {
				e.tn.Inject(tc.path, tc.fault)
				_, err = e.p.Start(context.Background(), identity.Request{User: "alice@example.com", Password: "alice-pw"})
			}
			if n := e.tn.Count(tc.path, ""); n != tc.wantCalls {
				t.Errorf("%d calls to %s, want %d", n, tc.path, tc.wantCalls)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, identity.ErrUpstream) || !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "alice-pw") || strings.Contains(err.Error(), "app-secret") {
				t.Fatal("the error holds a secret")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{URL: "http://x", PollInterval: time.Second}).Validate()
	for _, want := range []string{"url:", "allow_http", "client_id: required", "client_secret: required", "poll_interval:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// TestPollPacing: poll_interval is the pace of a push's polls, and a rate
// limit's Retry-After slows them further.
func TestPollPacing(t *testing.T) {
	e := newEnv(t, func(_ *auth0test.Options, c *Config) { c.PollInterval = 12 * time.Second })
	s := e.start(t, "alice@example.com", "alice-pw")
	s = e.adv(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "push").ID})
	if s.PollInterval != 12*time.Second {
		t.Fatalf("poll interval %v, want the configured 12s", s.PollInterval)
	}
	e.tn.Inject("/oauth/token", auth0test.Fault{Status: 429, ContentType: "application/json", Header: map[string]string{"Retry-After": "30"}, Body: `{"error":"slow_down","error_description":"You are polling faster than allowed"}`, Times: 1})
	s = e.adv(t, s, identity.Input{Action: identity.Poll})
	if s.Status != identity.Waiting || s.PollInterval != 30*time.Second {
		t.Fatalf("after slow_down with Retry-After 30: %v, interval %v", s.Status, s.PollInterval)
	}
	before := e.tn.Count("/oauth/token", grantOOB)
	e.advance(20 * time.Second)
	if s = e.adv(t, s, identity.Input{Action: identity.Poll}); e.tn.Count("/oauth/token", grantOOB) != before {
		t.Fatal("polled 20s after a Retry-After of 30s")
	}
}

// TestRolesOnlyFromTheTenantsOwnCurrentToken: an ID token from another
// issuer, for another application, or expired is not used for roles.
func TestRolesOnlyFromTheTenantsOwnCurrentToken(t *testing.T) {
	e := newEnv(t, nil)
	tok := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		return "e30." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
	}
	good := func() map[string]any {
		return map[string]any{"iss": e.p.base + "/", "aud": "app", "exp": e.now().Add(time.Hour).Unix(), "https://mfabridge.example/roles": []string{"admins"}}
	}
	if s, err := e.p.accepted("alice", &tokenSet{AccessToken: "x", IDToken: tok(good())}); err != nil || strings.Join(s.Identity.Groups, ",") != "admins" {
		t.Fatalf("a good ID token: %+v %v", s.Identity, err)
	}
	for name, change := range map[string]func(map[string]any){
		"another issuer":      func(c map[string]any) { c["iss"] = "https://evil.example.com/" },
		"another application": func(c map[string]any) { c["aud"] = "other-app" },
		"expired":             func(c map[string]any) { c["exp"] = e.now().Add(-time.Hour).Unix() },
	} {
		c := good()
		change(c)
		if _, err := e.p.accepted("alice", &tokenSet{AccessToken: "x", IDToken: tok(c)}); !errors.Is(err, identity.ErrUpstream) {
			t.Errorf("%s: %v, want an upstream error", name, err)
		}
	}
}

// TestProbe: the tenant answers and takes the application's credentials;
// a wrong secret, a wrong connection and a dead tenant each say so.
func TestProbe(t *testing.T) {
	if err := newEnv(t, nil).p.Probe(context.Background()); err != nil {
		t.Fatalf("a good set-up: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*auth0test.Options, *Config)
		want   string
	}{
		"wrong secret":     {func(_ *auth0test.Options, c *Config) { c.ClientSecret = "wrong" }, "invalid_client"},
		"wrong connection": {func(_ *auth0test.Options, c *Config) { c.Realm = "Nope" }, "check realm"},
	} {
		if err := newEnv(t, tc.mutate).p.Probe(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	e := newEnv(t, nil)
	e.tn.Close()
	if err := e.p.Probe(context.Background()); !errors.Is(err, identity.ErrUpstream) {
		t.Errorf("a dead tenant: %v", err)
	}
}
