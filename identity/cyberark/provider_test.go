package cyberark

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/internal/totp"
)

const oathSecret = "JBSWY3DPEHPK3PXP"

func testUsers() []cyberarktest.User {
	return []cyberarktest.User{
		{Name: "alice", Password: "alice-pw", Factors: []cyberarktest.Factor{cyberarktest.OATH, cyberarktest.SMS, cyberarktest.Email, cyberarktest.Push, cyberarktest.Phone, cyberarktest.SQ, cyberarktest.U2F, cyberarktest.QR},
			OATHSecret: oathSecret, Question: "First pet?", Answer: "Rex", NumberMatching: true},
		{Name: "bob", Password: "bob-pw", Factors: []cyberarktest.Factor{cyberarktest.Push}},
		{Name: "carol", Password: "carol-pw", Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: oathSecret, NewPackage: true},
		{Name: "dave", Password: "dave-pw", Federated: true},
		{Name: "erin", Password: "erin-pw", Factors: []cyberarktest.Factor{cyberarktest.U2F, cyberarktest.QR}},
		{Name: "frank", Password: "frank-pw", Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: oathSecret, NoPassword: true},
	}
}

type env struct {
	tn *cyberarktest.Tenant
	p  *provider
}

func newEnv(t *testing.T, mutate func(*cyberarktest.Options, *Config)) *env {
	t.Helper()
	opts := cyberarktest.Options{
		Users:           testUsers(),
		Apps:            []cyberarktest.App{{ID: "mfabridge", ClientID: "svc@example", ClientSecret: "svc-secret-123", Scope: "radius", Lifetime: time.Hour}},
		PolicyModifiers: []string{"RadiusMFA"},
		LockoutAfter:    3,
	}
	cfg := Config{Name: "test", RetryBackoff: time.Millisecond, PollInterval: 10 * time.Millisecond, Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&opts, &cfg)
	}
	tn := cyberarktest.New(opts)
	t.Cleanup(tn.Close)
	if cfg.URL == "" {
		cfg.URL = tn.URL
	}
	cfg.HTTPClient = tn.Client()
	p, err := cfg.open()
	if err != nil {
		t.Fatal(err)
	}
	return &env{tn: tn, p: p}
}

func (e *env) start(t *testing.T, user, pw string) identity.Step {
	t.Helper()
	return identitytest.Start(t, e.p, identity.Request{User: user, Password: pw})
}

func (e *env) advance(t *testing.T, s identity.Step, in identity.Input) identity.Step {
	t.Helper()
	return identitytest.Advance(t, e.p, s, in)
}

func choice(t *testing.T, s identity.Step, name string) identity.Mechanism {
	t.Helper()
	return identitytest.Choice(t, s, name)
}

func code() string {
	key, _ := totp.DecodeSecret(oathSecret)
	return totp.Code(key, time.Now())
}

func TestChoicesLeaveOutWhatRADIUSCannotCarry(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice", "alice-pw")
	if s.Status != identity.Waiting {
		t.Fatalf("status %v (%s)", s.Status, s.Detail)
	}
	want := map[string]identity.Kind{"OATH": identity.KindCode, "SMS": identity.KindOOBCode, "EMAIL": identity.KindOOBCode, "OTP": identity.KindPush, "PF": identity.KindPhone, "SQ": identity.KindQuestion}
	if len(s.Choices) != len(want) {
		t.Fatalf("choices %+v, want %d (no U2F, no QR)", s.Choices, len(want))
	}
	for _, m := range s.Choices {
		if want[m.Name] != m.Kind {
			t.Errorf("%s: kind %q, want %q", m.Name, m.Kind, want[m.Name])
		}
		if m.Label == "" || m.Prompt == "" {
			t.Errorf("%s: empty label or prompt", m.Name)
		}
	}
	if strings.Contains(string(s.Txn.Data), "alice-pw") {
		t.Fatal("the transaction state holds the password")
	}
}

// TestMechanisms runs each mechanism kind to its end.
func TestMechanisms(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, s identity.Step) identity.Step
		want identity.Status
	}{
		{"OATH code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
			if s.Status != identity.Waiting || s.Current == nil || s.Current.Kind != identity.KindCode {
				t.Fatalf("after choosing OATH: %+v", s)
			}
			return e.advance(t, s, identity.Input{Action: identity.Answer, Value: code()})
		}, identity.Accepted},
		{"OATH wrong code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
			return e.advance(t, s, identity.Input{Action: identity.Answer, Value: "000000"})
		}, identity.Rejected},
		{"SMS code", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "SMS").ID})
			if !s.Pending || s.Current.Kind != identity.KindOOBCode {
				t.Fatalf("SMS not pending: %+v", s)
			}
			s = e.advance(t, s, identity.Input{Action: identity.Poll})
			if s.Status != identity.Waiting || !s.Pending {
				t.Fatalf("poll before the code: %+v", s)
			}
			return e.advance(t, s, identity.Input{Action: identity.Answer, Value: e.tn.LastCode("alice")})
		}, identity.Accepted},
		{"EMAIL link clicked", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "EMAIL").ID})
			if !e.tn.Approve("alice") {
				t.Fatal("nothing pending")
			}
			return e.advance(t, s, identity.Input{Action: identity.Poll})
		}, identity.Accepted},
		{"push with number matching approved", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OTP").ID})
			if s.Display == "" || s.Display != e.tn.LastNumber("alice") {
				t.Fatalf("number shown %q, tenant's %q", s.Display, e.tn.LastNumber("alice"))
			}
			s = e.advance(t, s, identity.Input{Action: identity.Poll})
			if s.Status != identity.Waiting {
				t.Fatalf("poll before approval: %v", s.Status)
			}
			e.tn.Approve("alice")
			return e.advance(t, s, identity.Input{Action: identity.Poll})
		}, identity.Accepted},
		{"push denied", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OTP").ID})
			e.tn.Deny("alice")
			return e.advance(t, s, identity.Input{Action: identity.Poll})
		}, identity.Rejected},
		{"phone call approved", func(t *testing.T, e *env, s identity.Step) identity.Step {
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "PF").ID})
			if _, err := e.p.Advance(context.Background(), s.Txn, identity.Input{Action: identity.Answer, Value: "1"}); !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("typing for a phone call: %v, want ErrBadInput", err)
			}
			e.tn.Approve("alice")
			return e.advance(t, s, identity.Input{Action: identity.Poll})
		}, identity.Accepted},
		{"security question", func(t *testing.T, e *env, s identity.Step) identity.Step {
			m := choice(t, s, "SQ")
			if m.Prompt != "First pet?" {
				t.Errorf("prompt %q", m.Prompt)
			}
			s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: m.ID})
			return e.advance(t, s, identity.Input{Action: identity.Answer, Value: "rex"})
		}, identity.Accepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := tc.run(t, e, e.start(t, "alice", "alice-pw"))
			if s.Status != tc.want {
				t.Fatalf("status %v, want %v (%s)", s.Status, tc.want, s.Detail)
			}
			if s.Status == identity.Accepted && s.Identity.User != "alice" {
				t.Errorf("identity %+v", s.Identity)
			}
			if s.Status == identity.Rejected && s.Reason == "" {
				t.Error("a rejection without a reason")
			}
		})
	}
}

// TestStarts covers what can happen at the start of a login.
func TestStarts(t *testing.T) {
	tests := []struct {
		name, user, pw string
		mutate         func(*cyberarktest.Options, *Config)
		want           identity.Status
		reason         string
	}{
		{"wrong password", "alice", "nope", nil, identity.Rejected, reasonFailed},
		{"unknown user fails like a wrong password", "nobody", "x", nil, identity.Rejected, reasonFailed},
		{"federated user", "dave", "dave-pw", nil, identity.Rejected, reasonFederated},
		{"only U2F and QR enrolled", "erin", "erin-pw", nil, identity.Rejected, reasonNoMech},
		{"no password challenge", "frank", "frank-pw", nil, identity.Rejected, reasonPolicy},
		{"no password challenge, allowed", "frank", "frank-pw", func(_ *cyberarktest.Options, c *Config) { c.PasswordOptional = true }, identity.Waiting, ""},
		{"single mechanism", "bob", "bob-pw", nil, identity.Waiting, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mutate)
			s := e.start(t, tc.user, tc.pw)
			if s.Status != tc.want || s.Reason != tc.reason {
				t.Fatalf("got %v %q (%s), want %v %q", s.Status, s.Reason, s.Detail, tc.want, tc.reason)
			}
		})
	}
}

func TestNewPackageAfterPassword(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "carol", "carol-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
	s = e.advance(t, s, identity.Input{Action: identity.Answer, Value: code()})
	if s.Status != identity.Accepted {
		t.Fatalf("status %v (%s)", s.Status, s.Detail)
	}
}

func TestPodRedirectIsFollowed(t *testing.T) {
	var entry string
	e := newEnv(t, func(_ *cyberarktest.Options, c *Config) {})
	entry = e.tn.EntryURL
	cfg := e.p.cfg
	cfg.URL = entry
	p, err := cfg.open()
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Start(context.Background(), identity.Request{User: "bob", Password: "bob-pw"})
	if err != nil || s.Status != identity.Waiting {
		t.Fatalf("Start via the entry URL: %v %+v", err, s)
	}
	if !strings.Contains(string(s.Txn.Data), strings.TrimPrefix(e.tn.URL, "https://")) {
		t.Fatalf("the login did not move to the pod: %s", s.Txn.Data)
	}
}

func TestRetryWaitingTimeIsHonoured(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 3; i++ {
		if s := e.start(t, "alice", "wrong"); s.Status != identity.Rejected {
			t.Fatal("wrong password accepted")
		}
	}
	s := e.start(t, "alice", "alice-pw")
	if s.Status != identity.Rejected || s.RetryAfter != 30*time.Second {
		t.Fatalf("after lockout: %v retry %v", s.Status, s.RetryAfter)
	}
	before := e.tn.Count("/Security/StartAuthentication", "")
	s = e.start(t, "alice", "alice-pw")
	if s.Status != identity.Rejected || s.RetryAfter <= 0 {
		t.Fatalf("second try during the wait: %v", s.Status)
	}
	if after := e.tn.Count("/Security/StartAuthentication", ""); after != before {
		t.Fatalf("the tenant was called during RetryWaitingTime (%d calls, want %d)", after, before)
	}
}

// TestUpstreamFaults: what breaks upstream is an error, never a result, and
// only safe calls are retried.
func TestUpstreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		fault     cyberarktest.Fault
		atAnswer  bool // the fault hits the OATH answer, not the start
		wantErr   error
		wantCalls int // calls to path
		wantOK    bool
	}{
		{"503 once at start is retried", "/Security/StartAuthentication", cyberarktest.Fault{Status: 503, Body: "busy", Times: 1}, false, nil, 2, true},
		{"500 at start every time", "/Security/StartAuthentication", cyberarktest.Fault{Status: 500, Body: "<html>oops</html>"}, false, ErrStatus, 3, false},
		{"HTML page with 200", "/Security/StartAuthentication", cyberarktest.Fault{Status: 200, Body: "<!DOCTYPE html><html>Sign in</html>"}, false, ErrHTML, 1, false},
		{"malformed JSON", "/Security/StartAuthentication", cyberarktest.Fault{Status: 200, ContentType: "application/json", Body: `{"success":tru`}, false, ErrMalformed, 1, false},
		{"Result of the wrong type", "/Security/StartAuthentication", cyberarktest.Fault{Status: 200, ContentType: "application/json", Body: `{"success":true,"Result":[1,2]}`}, false, ErrMalformed, 1, false},
		{"timeout", "/Security/StartAuthentication", cyberarktest.Fault{Delay: 300 * time.Millisecond, Status: 200, Body: "{}"}, false, context.DeadlineExceeded, 3, false},
		{"503 at an answer is not retried", "/Security/AdvanceAuthentication", cyberarktest.Fault{Status: 503, Body: "busy"}, true, ErrStatus, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *cyberarktest.Options, c *Config) { c.Timeout = 100 * time.Millisecond })
			var s identity.Step
			var err error
			if tc.atAnswer {
				s = e.start(t, "alice", "alice-pw")
				s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
				before := e.tn.Count(tc.path, "")
				e.tn.Inject(tc.path, tc.fault)
				_, err = e.p.Advance(context.Background(), s.Txn, identity.Input{Action: identity.Answer, Value: code()})
				if n := e.tn.Count(tc.path, "") - before; n != tc.wantCalls {
					t.Errorf("%d calls, want %d", n, tc.wantCalls)
				}
			} else {
				e.tn.Inject(tc.path, tc.fault)
				s, err = e.p.Start(context.Background(), identity.Request{User: "alice", Password: "alice-pw"})
				if n := e.tn.Count(tc.path, ""); n != tc.wantCalls {
					t.Errorf("%d calls, want %d", n, tc.wantCalls)
				}
			}
			if tc.wantOK {
				if err != nil || s.Status != identity.Waiting {
					t.Fatalf("got %v %v", err, s.Status)
				}
				return
			}
			if !errors.Is(err, identity.ErrUpstream) {
				t.Fatalf("error %v is not an upstream error", err)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "alice-pw") {
				t.Fatal("the error holds the password")
			}
		})
	}
}

func TestUnknownSummaryIsAFailure(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice", "alice-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
	e.tn.Inject("/Security/AdvanceAuthentication", cyberarktest.Fault{Status: 200, ContentType: "application/json", Body: `{"success":true,"Result":{"Summary":"SelectTenant"}}`})
	s = e.advance(t, s, identity.Input{Action: identity.Answer, Value: code()})
	if s.Status != identity.Rejected || !strings.Contains(s.Detail, "SelectTenant") {
		t.Fatalf("got %v (%s)", s.Status, s.Detail)
	}
}

func TestBadInputAndTxn(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice", "alice-pw")
	for _, tc := range []struct {
		name string
		txn  identity.Txn
		in   identity.Input
		want error
	}{
		{"choice not on offer", s.Txn, identity.Input{Action: identity.Choose, MechanismID: "nope"}, identity.ErrBadInput},
		{"answer with nothing chosen", s.Txn, identity.Input{Action: identity.Answer, Value: "1"}, identity.ErrBadInput},
		{"poll with nothing started", s.Txn, identity.Input{Action: identity.Poll}, identity.ErrBadInput},
		{"other provider's txn", identity.Txn{Provider: "other", Data: s.Txn.Data}, identity.Input{Action: identity.Poll}, identity.ErrBadTxn},
		{"junk txn", identity.Txn{Provider: "test", Data: []byte("{junk")}, identity.Input{Action: identity.Poll}, identity.ErrBadTxn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.p.Advance(context.Background(), tc.txn, tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func onDemand(o *cyberarktest.Options, c *Config) {
	c.Mode = ModeOnDemand
	c.AppID, c.ClientID, c.ClientSecret, c.Scope, c.PolicyModifier = "mfabridge", "svc@example", "svc-secret-123", "radius", "RadiusMFA"
}

func TestOnDemandFlow(t *testing.T) {
	e := newEnv(t, onDemand)
	s := e.start(t, "alice", "alice-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
	s = e.advance(t, s, identity.Input{Action: identity.Answer, Value: code()})
	if s.Status != identity.Accepted {
		t.Fatalf("status %v (%s)", s.Status, s.Detail)
	}
	calls := e.tn.Calls()
	var od *cyberarktest.Call
	for i := range calls {
		if calls[i].Path == "/security/ondemandchallenge" {
			od = &calls[i]
		}
	}
	if od == nil {
		t.Fatal("OnDemandChallenge was not called")
	}
	// The request fields are those of the API guide.
	if od.Body["User"] != "alice" || od.Body["PolicyModifier"] != "RadiusMFA" {
		t.Fatalf("body %v", od.Body)
	}
	if _, ok := od.Body["arguments"]; !ok {
		t.Fatalf("body %v has no arguments field", od.Body)
	}
	if e.tn.Count("/oauth2/token/mfabridge", "") != 1 {
		t.Fatalf("%d token calls", e.tn.Count("/oauth2/token/mfabridge", ""))
	}
}

func TestOnDemandWrongModifierIsRejected(t *testing.T) {
	e := newEnv(t, func(o *cyberarktest.Options, c *Config) { onDemand(o, c); c.PolicyModifier = "Missing" })
	if s := e.start(t, "alice", "alice-pw"); s.Status != identity.Rejected {
		t.Fatalf("status %v", s.Status)
	}
}

func TestTokenBadSecretSaysWhatToCheck(t *testing.T) {
	e := newEnv(t, func(o *cyberarktest.Options, c *Config) { onDemand(o, c); c.ClientSecret = "wrong-secret-xyz" })
	_, err := e.p.Start(context.Background(), identity.Request{User: "alice", Password: "alice-pw"})
	if !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-xyz") {
		t.Fatal("the error holds the client secret")
	}
	if n := e.tn.Count("/oauth2/token/mfabridge", ""); n != 1 {
		t.Fatalf("a refused secret was retried: %d calls", n)
	}
}

// TestTokenRenewalUnderConcurrency: many logins at once share one token and
// one renewal when it nears expiry.
func TestTokenRenewalUnderConcurrency(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := newEnv(t, func(o *cyberarktest.Options, c *Config) {
		onDemand(o, c)
		c.Now = clock
		o.Now = clock
	})
	run := func() {
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s, err := e.p.Start(context.Background(), identity.Request{User: "bob", Password: "bob-pw"}); err != nil || s.Status != identity.Waiting {
					t.Errorf("Start: %v %v", err, s.Status)
				}
			}()
		}
		wg.Wait()
	}
	run()
	if n := e.tn.Count("/oauth2/token/mfabridge", ""); n != 1 {
		t.Fatalf("%d token calls for 20 concurrent logins, want 1", n)
	}
	// 56 minutes on, the one-hour token is within its five-minute renewal margin.
	now.Add(int64(56 * time.Minute))
	run()
	if n := e.tn.Count("/oauth2/token/mfabridge", ""); n != 2 {
		t.Fatalf("%d token calls after renewal, want 2", n)
	}
	// A token the tenant no longer honours is renewed once.
	e.tn.ExpireTokens()
	if s := e.start(t, "bob", "bob-pw"); s.Status != identity.Waiting {
		t.Fatalf("after revocation: %v", s.Status)
	}
	if n := e.tn.Count("/oauth2/token/mfabridge", ""); n != 3 {
		t.Fatalf("%d token calls after revocation, want 3", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{}, "url: the tenant URL is required"},
		{"plain http", Config{URL: "http://x"}, "allow_http"},
		{"bad mode", Config{URL: "https://x", Mode: "magic"}, `mode: "magic"`},
		{"ondemand without account", Config{URL: "https://x", Mode: ModeOnDemand}, "client_secret: required"},
		{"missing ca", Config{URL: "https://x", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := (&Config{URL: "http://127.0.0.1:1", AllowHTTP: true}).Validate(); err != nil {
		t.Fatalf("allowed http: %v", err)
	}
}

func TestCAFileIsTrusted(t *testing.T) {
	tn := cyberarktest.New(cyberarktest.Options{Users: testUsers()})
	defer tn.Close()
	ca := t.TempDir() + "/ca.pem"
	if err := writeFile(ca, tn.Certificate()); err != nil {
		t.Fatal(err)
	}
	p, err := Config{URL: tn.URL, CAFile: ca}.open()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.Start(context.Background(), identity.Request{User: "bob", Password: "bob-pw"}); err != nil || s.Status != identity.Waiting {
		t.Fatalf("with ca_file: %v %v", err, s.Status)
	}
	p2, _ := Config{URL: tn.URL, HTTPClient: &http.Client{}, Retries: -0}.open()
	if _, err := p2.Start(context.Background(), identity.Request{User: "bob", Password: "bob-pw"}); !errors.Is(err, identity.ErrUpstream) {
		t.Fatalf("an untrusted certificate was accepted: %v", err)
	}
}

func TestGroupsWithTheServiceAccount(t *testing.T) {
	e := newEnv(t, func(o *cyberarktest.Options, c *Config) {
		o.Users[1].Roles = []string{"VPN Users", "Network Admins"}
		c.AppID, c.ClientID, c.ClientSecret, c.Scope = "mfabridge", "svc@example", "svc-secret-123", "radius"
	})
	s := e.start(t, "bob", "bob-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: s.Choices[0].ID})
	e.tn.Approve("bob")
	s = e.advance(t, s, identity.Input{Action: identity.Poll})
	if s.Status != identity.Accepted || s.Identity.ID != e.tn.UserID("bob") {
		t.Fatalf("%v %+v", s.Status, s.Identity)
	}
	for i := 0; i < 2; i++ {
		groups, err := e.p.Groups(context.Background(), *s.Identity)
		if err != nil || strings.Join(groups, ",") != "VPN Users,Network Admins" {
			t.Fatalf("groups %v %v", groups, err)
		}
	}
	if n := e.tn.Count("/UserMgmt/GetUsersRolesAndAdministrativeRights", ""); n != 1 {
		t.Fatalf("%d lookups for two asks within a minute, want 1 (cached)", n)
	}
	p2, _ := Config{URL: e.tn.URL, HTTPClient: e.tn.Client()}.open()
	if _, err := p2.Groups(context.Background(), *s.Identity); !errors.Is(err, ErrNoServiceAccount) {
		t.Fatalf("without a service account: %v", err)
	}
}

// TestApplyDetectsAConflict: a policy saved by someone else between the
// plan and the save is not overwritten.
func TestApplyDetectsAConflict(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.p.cfg
	cfg.AppID, cfg.ClientID, cfg.ClientSecret, cfg.Scope = "mfabridge", "svc@example", "svc-secret-123", "radius"
	admin, err := cfg.OpenAdmin()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := admin.PlanChallengePolicy(context.Background(), "/Policy/Default Policy", "RadiusMFA", "Default New Device Login Profile")
	if err != nil {
		t.Fatal(err)
	}
	e.tn.TouchPolicy("/Policy/Default Policy")
	if _, err := admin.Apply(context.Background(), plan); !errors.Is(err, ErrConflict) {
		t.Fatalf("Apply after a concurrent change: %v", err)
	}
}

// Menu entries are named by their place in the challenge; anything else,
// the tenant's MechanismId included, is not on offer.
func TestChoiceIDs(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "alice", "alice-pw")
	st, err := e.p.decode(s.Txn)
	if err != nil {
		t.Fatal(err)
	}
	oath := choice(t, s, "OATH")
	var tenantID string
	for i, m := range st.Challenges[st.Index] {
		if m.Name == "OATH" {
			if oath.ID != strconv.Itoa(i) {
				t.Fatalf("OATH is entry %q, want its place %d", oath.ID, i)
			}
			tenantID = m.MechanismID
		}
	}
	n := e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: oath.ID})
	if n.Current == nil || n.Current.Name != "OATH" {
		t.Fatalf("choosing %q: %+v", oath.ID, n)
	}
	for _, id := range []string{"99", "-1", "01", "x", tenantID} {
		if _, err := e.p.Advance(context.Background(), s.Txn, identity.Input{Action: identity.Choose, MechanismID: id}); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("choosing %q: %v, want ErrBadInput", id, err)
		}
	}
}

// TestNothingUncheckedIsAccepted: an Accept needs the RADIUS password
// passed in this login and a factor beyond it, whatever shape of success
// the tenant answers with.
func TestNothingUncheckedIsAccepted(t *testing.T) {
	atStart := func(o *cyberarktest.Options, _ *Config) { o.LoginSuccessAtStart = true }
	tests := []struct {
		name, user, pw string
		mutate         func(*cyberarktest.Options, *Config)
		want           identity.Status
		reason         string
	}{
		{"LoginSuccess at StartAuthentication, wrong password", "bob", "wrong", atStart, identity.Rejected, reasonPolicy},
		{"LoginSuccess at StartAuthentication, right password", "bob", "bob-pw", atStart, identity.Rejected, reasonPolicy},
		{"LoginSuccess at OnDemandChallenge", "bob", "wrong", func(o *cyberarktest.Options, c *Config) { onDemand(o, c); atStart(o, c) }, identity.Rejected, reasonPolicy},
		{"LoginSuccess at start even with both allowances", "bob", "wrong", func(o *cyberarktest.Options, c *Config) {
			atStart(o, c)
			c.PasswordOptional, c.AllowNoMFA = true, true
		}, identity.Rejected, reasonPolicy},
		{"password alone", "gina", "gina-pw", nil, identity.Rejected, reasonNoMech},
		{"password alone, wrong password", "gina", "wrong", nil, identity.Rejected, reasonFailed},
		{"password alone, allow_no_mfa", "gina", "gina-pw", func(_ *cyberarktest.Options, c *Config) { c.AllowNoMFA = true }, identity.Accepted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *cyberarktest.Options, c *Config) {
				o.Users = append(o.Users, cyberarktest.User{Name: "gina", Password: "gina-pw"})
				if tc.mutate != nil {
					tc.mutate(o, c)
				}
			})
			s := e.start(t, tc.user, tc.pw)
			if s.Status != tc.want || s.Reason != tc.reason {
				t.Fatalf("got %v %q (%s), want %v %q", s.Status, s.Reason, s.Detail, tc.want, tc.reason)
			}
			if s.Status == identity.Accepted && (!s.NoMFA || !strings.Contains(s.Detail, "password alone")) {
				t.Fatalf("an Accept without MFA says nothing for the log: %q", s.Detail)
			}
		})
	}
}

// TestPodRedirectStaysInTheTenantsDomain: a PodFqdn is followed only in the
// redirect's own shape and only to a host within the configured tenant's
// domain or pod_hosts; a LoginSuccess's PodFqdn is not a redirect.
func TestPodRedirectStaysInTheTenantsDomain(t *testing.T) {
	e := newEnv(t, func(o *cyberarktest.Options, _ *Config) { o.RedirectTo = "attacker.example.net" })
	cfg := e.p.cfg
	cfg.URL = e.tn.EntryURL
	p, err := cfg.open()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Start(context.Background(), identity.Request{User: "bob", Password: "bob-pw"})
	if !errors.Is(err, identity.ErrUpstream) || !strings.Contains(err.Error(), "outside the configured tenant's domain") {
		t.Fatalf("a redirect to another domain: %v", err)
	}
	if n := e.tn.Count("/security/startauthentication", ""); n != 1 {
		t.Fatalf("%d StartAuthentication calls; the redirect must not be followed", n)
	}

	for _, tc := range []struct {
		host, configured string
		pods             []string
		want             bool
	}{
		{"abc1234.my.idaptive.app", "https://abc1234.my.idaptive.app", nil, true},
		{"corp.my.idaptive.app", "https://abc1234.my.idaptive.app", nil, true},
		{"evil.idaptive.app", "https://abc1234.my.idaptive.app", nil, false},
		{"a.b.my.idaptive.app", "https://abc1234.my.idaptive.app", nil, false},
		{"abc1234.id.cyberark.cloud", "https://pod0.idaptive.app", nil, false},
		{"abc1234.id.cyberark.cloud", "https://pod0.idaptive.app", []string{"*.id.cyberark.cloud"}, true},
		{"abc1234.id.cyberark.cloud", "https://pod0.idaptive.app", []string{"abc1234.id.cyberark.cloud"}, true},
		{"other.example.com", "https://tenant.app", nil, false},
		{"127.0.0.2", "https://127.0.0.1:8443", nil, false},
	} {
		p := &provider{cfg: Config{PodHosts: tc.pods}, base: tc.configured}
		if got := p.podAllowed("https://"+tc.host) == nil; got != tc.want {
			t.Errorf("%s from %s (pod_hosts %v): allowed %v, want %v", tc.host, tc.configured, tc.pods, got, tc.want)
		}
	}
	if err := checkPodHost("*.com"); err == nil {
		t.Error("pod_hosts \"*.com\" accepted")
	}
}

// TestTenantClosingConnections: a login works against a tenant (or a proxy
// in front of it) that closes the connection after every answer.
func TestTenantClosingConnections(t *testing.T) {
	e := newEnv(t, func(o *cyberarktest.Options, _ *Config) { o.CloseConnections = true })
	s := e.start(t, "alice", "alice-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OATH").ID})
	if s = e.advance(t, s, identity.Input{Action: identity.Answer, Value: code()}); s.Status != identity.Accepted {
		t.Fatalf("status %v (%s)", s.Status, s.Detail)
	}
}

// TestProbe: the tenant answers as CyberArk Identity, and a service
// account's credentials work; wrong ones, another server and a dead tenant
// each say so.
func TestProbe(t *testing.T) {
	if err := newEnv(t, nil).p.Probe(context.Background()); err != nil {
		t.Fatalf("login mode: %v", err)
	}
	if err := newEnv(t, onDemand).p.Probe(context.Background()); err != nil {
		t.Fatalf("with a service account: %v", err)
	}
	if err := newEnv(t, func(o *cyberarktest.Options, c *Config) { onDemand(o, c); c.ClientSecret = "wrong" }).p.Probe(context.Background()); !errors.Is(err, ErrToken) {
		t.Errorf("a wrong service secret: %v", err)
	}
	e := newEnv(t, nil)
	e.tn.Close()
	if err := e.p.Probe(context.Background()); !errors.Is(err, identity.ErrUpstream) {
		t.Errorf("a dead tenant: %v", err)
	}
}

// TestPollRateLimitedWaits: a poll the tenant answers with 429 leaves the
// push pending, to be polled more slowly, instead of failing the login.
func TestPollRateLimitedWaits(t *testing.T) {
	e := newEnv(t, nil)
	s := e.start(t, "bob", "bob-pw")
	s = e.advance(t, s, identity.Input{Action: identity.Choose, MechanismID: choice(t, s, "OTP").ID})
	e.tn.Inject("/security/advanceauthentication", cyberarktest.Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain", Times: 3})
	s = e.advance(t, s, identity.Input{Action: identity.Poll})
	if s.Status != identity.Waiting || !s.Pending || s.PollInterval != rateLimitedPoll || !s.SlowDown {
		t.Fatalf("after a 429: %v pending %v interval %v slow down %v (the tenant's limit: every held push waits)", s.Status, s.Pending, s.PollInterval, s.SlowDown)
	}
	e.tn.Approve("bob")
	if s = e.advance(t, s, identity.Input{Action: identity.Poll}); s.Status != identity.Accepted {
		t.Fatalf("after approval: %v (%s)", s.Status, s.Detail)
	}
}
