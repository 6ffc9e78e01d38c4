package auth0test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
