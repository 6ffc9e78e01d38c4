package auth0test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/internal/totp"
)

// TestTenantFollowsTheRecordedContract checks statuses and bodies against
// reference/identity-api.md Part B: mfa_required is 403 with an mfa_token
// that stays usable, the authenticator list has the recorded fields,
// challenges answer oob_code (with binding_method for codes), and a pending
// push is 400 authorization_pending.
func TestTenantFollowsTheRecordedContract(t *testing.T) {
	tn := New(Options{ClientID: "c", ClientSecret: "s", Users: []User{{Name: "u@example.com", Password: "p", SMS: "XXXXXXXX9167", Push: true}}})
	defer tn.Close()
	c := tn.Client()
	do := func(method, path string, body io.Reader, ct, bearer string) (int, map[string]any, []any) {
		t.Helper()
		req, _ := http.NewRequest(method, tn.URL+path, body)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var obj map[string]any
		var arr []any
		if json.Unmarshal(raw, &obj) != nil {
			_ = json.Unmarshal(raw, &arr)
		}
		return resp.StatusCode, obj, arr
	}
	form := func(v url.Values) (io.Reader, string) {
		return strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	}

	// The password grant, form-encoded, then as JSON (Auth0 takes both).
	b, ct := form(url.Values{"grant_type": {"password"}, "username": {"u@example.com"}, "password": {"p"}, "client_id": {"c"}, "client_secret": {"s"}})
	st, obj, _ := do("POST", "/oauth/token", b, ct, "")
	if st != 403 || obj["error"] != "mfa_required" || obj["error_description"] != "Multifactor authentication required" || obj["mfa_token"] == "" {
		t.Fatalf("mfa_required: %d %v", st, obj)
	}
	tok := obj["mfa_token"].(string)
	jb, _ := json.Marshal(map[string]string{"grant_type": "password", "username": "u@example.com", "password": "wrong", "client_id": "c", "client_secret": "s"})
	if st, obj, _ = do("POST", "/oauth/token", bytes.NewReader(jb), "application/json", ""); st != 403 || obj["error"] != "invalid_grant" || obj["error_description"] != "Wrong email or password." {
		t.Fatalf("wrong password: %d %v", st, obj)
	}

	st, _, list := do("GET", "/mfa/authenticators", nil, "", tok)
	if st != 200 || len(list) < 2 {
		t.Fatalf("authenticators: %d %v", st, list)
	}
	for _, a := range list {
		m := a.(map[string]any)
		for _, k := range []string{"id", "authenticator_type", "active"} {
			if _, ok := m[k]; !ok {
				t.Errorf("authenticator %v lacks %s", m, k)
			}
		}
	}

	cb, _ := json.Marshal(map[string]string{"client_id": "c", "client_secret": "s", "mfa_token": tok, "challenge_type": "oob", "authenticator_id": "sms|dev_u@example.com"})
	st, obj, _ = do("POST", "/mfa/challenge", bytes.NewReader(cb), "application/json", "")
	if st != 200 || obj["challenge_type"] != "oob" || obj["oob_code"] == nil || obj["binding_method"] != "prompt" {
		t.Fatalf("SMS challenge: %d %v", st, obj)
	}
	pb, _ := json.Marshal(map[string]string{"client_id": "c", "client_secret": "s", "mfa_token": tok, "challenge_type": "oob", "authenticator_id": "push|dev_u@example.com"})
	st, obj, _ = do("POST", "/mfa/challenge", bytes.NewReader(pb), "application/json", "")
	if st != 200 || obj["oob_code"] == nil || obj["binding_method"] != nil {
		t.Fatalf("push challenge: %d %v", st, obj)
	}
	oob := obj["oob_code"].(string)
	b, ct = form(url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "mfa_token": {tok}, "oob_code": {oob}, "client_id": {"c"}, "client_secret": {"s"}})
	if st, obj, _ = do("POST", "/oauth/token", b, ct, ""); st != 400 || obj["error"] != "authorization_pending" {
		t.Fatalf("pending: %d %v", st, obj)
	}
	// Polled again at once: slow_down; the mfa_token is still good.
	b, ct = form(url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/mfa-oob"}, "mfa_token": {tok}, "oob_code": {oob}, "client_id": {"c"}, "client_secret": {"s"}})
	if st, obj, _ = do("POST", "/oauth/token", b, ct, ""); st != 400 || obj["error"] != "slow_down" {
		t.Fatalf("fast poll: %d %v", st, obj)
	}
	if st, _, _ = do("GET", "/mfa/authenticators", nil, "", tok); st != 200 {
		t.Fatal("the mfa_token was used up")
	}
}

// TestTenantLimitsAsTheReferenceSays: the shapes and limits of
// identity-api.md B.4, B.8 and the seed: a challenge without
// authenticator_id, JSON without a content type, an OTP used once, 10 OTP
// attempts an hour, SMS sends and push bursts limited with the rate-limit
// headers, and a sent code that expires.
func TestTenantLimitsAsTheReferenceSays(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tn := New(Options{ClientID: "c", ClientSecret: "s", Now: clock, Users: []User{{Name: "u", Password: "p", OTPSecret: "JBSWY3DPEHPK3PXP", SMS: "XXXX9167", Push: true}}})
	defer tn.Close()
	c := tn.Client()
	post := func(path, body, ct string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", tn.URL+path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var obj map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&obj)
		return resp.StatusCode, obj, resp.Header
	}
	// JSON without a content type, as the seed's curl example sends it.
	st, obj, _ := post("/oauth/token", `{"grant_type":"password","username":"u","password":"p","client_id":"c","client_secret":"s"}`, "")
	if st != 403 || obj["error"] != "mfa_required" {
		t.Fatalf("JSON without a content type: %d %v", st, obj)
	}
	tok := obj["mfa_token"].(string)
	// The seed's OTP challenge names no authenticator.
	if st, obj, _ = post("/mfa/challenge", `{"client_id":"c","client_secret":"s","challenge_type":"otp","mfa_token":"`+tok+`"}`, ""); st != 200 || obj["challenge_type"] != "otp" {
		t.Fatalf("otp challenge without authenticator_id: %d %v", st, obj)
	}
	key, _ := totp.DecodeSecret("JBSWY3DPEHPK3PXP")
	otp := func(code string) (int, map[string]any, http.Header) {
		return post("/oauth/token", url.Values{"grant_type": {grantOTP}, "mfa_token": {tok}, "otp": {code}, "client_id": {"c"}, "client_secret": {"s"}}.Encode(), "application/x-www-form-urlencoded")
	}
	code := totp.Code(key, clock())
	if st, _, _ = otp(code); st != 200 {
		t.Fatalf("a good OTP: %d", st)
	}
	if st, obj, _ = otp(code); st != 403 || obj["error_description"] != "Invalid otp_code." {
		t.Fatalf("the same OTP again: %d %v", st, obj)
	}
	for i := 0; i < 8; i++ {
		otp("000000")
	}
	st, obj, h := otp("000000")
	if st != 429 || obj["error"] != "too_many_requests" || h.Get("X-RateLimit-Limit") != "10" || h.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("the 11th OTP attempt in an hour: %d %v %v", st, obj, h)
	}
	// SMS: a code lives 5 minutes; 10 sends an hour.
	challenge := func(id string) (int, map[string]any, http.Header) {
		return post("/mfa/challenge", `{"client_id":"c","client_secret":"s","challenge_type":"oob","authenticator_id":"`+id+`","mfa_token":"`+tok+`"}`, "application/json")
	}
	st, obj, _ = challenge("sms|dev_u")
	if st != 200 || obj["binding_method"] != "prompt" {
		t.Fatalf("sms challenge: %d %v", st, obj)
	}
	advance(6 * time.Minute)
	st, obj, _ = post("/oauth/token", url.Values{"grant_type": {grantOOB}, "mfa_token": {tok}, "oob_code": {obj["oob_code"].(string)}, "binding_code": {tn.LastCode("u")}, "client_id": {"c"}, "client_secret": {"s"}}.Encode(), "application/x-www-form-urlencoded")
	if st != 403 || obj["error_description"] != "Invalid binding_code." {
		t.Fatalf("a code 6 minutes old: %d %v", st, obj)
	}
	for i := 0; i < 9; i++ {
		challenge("sms|dev_u")
	}
	if st, obj, _ = challenge("sms|dev_u"); st != 429 {
		t.Fatalf("the 11th SMS in an hour: %d %v", st, obj)
	}
	// Push: a burst of 5.
	for i := 0; i < 5; i++ {
		if st, obj, _ = challenge("push|dev_u"); st != 200 {
			t.Fatalf("push %d: %d %v", i, st, obj)
		}
	}
	if st, _, h = challenge("push|dev_u"); st != 429 || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("the 6th push in a minute: %d %v", st, h)
	}
}
