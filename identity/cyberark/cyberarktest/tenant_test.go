package cyberarktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/internal/totp"
)

const secret = "JBSWY3DPEHPK3PXP"

func newTenant(t *testing.T) *Tenant {
	t.Helper()
	tn := New(Options{
		TenantID: "AAA1234",
		Users: []User{
			{Name: "alice@example.com", Password: "pw", Factors: []Factor{Email, SMS, OATH}, OATHSecret: secret},
		},
		Apps:            []App{{ID: "_genericmfa", ClientID: "svc", ClientSecret: "s3cret", Scope: "GenericMFA"}},
		PolicyModifiers: []string{"test1"},
	})
	t.Cleanup(tn.Close)
	return tn
}

// post sends body to the tenant as the real clients do and decodes the JSON
// answer.
func post(t *testing.T, tn *Tenant, c *http.Client, path string, body any, header map[string]string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, tn.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-IDAP-NATIVE-CLIENT", "true")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: HTTP %d: %s", path, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v: %s", path, err, raw)
	}
	return out
}

func loadSeed(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/seed_" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// sameShape checks that got has every key of want, with the same JSON type,
// recursively (arrays by their first element).
func sameShape(t *testing.T, where string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: want an object, got %T", where, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s: key %q missing", where, k)
				continue
			}
			sameShape(t, where+"."+k, wv, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: want an array, got %T", where, got)
			return
		}
		if len(w) > 0 && len(g) > 0 {
			sameShape(t, where+"[0]", w[0], g[0])
		}
	case nil:
		// null in the seed: any value is fine (e.g. Message on success).
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			t.Errorf("%s: want %T, got %T (%v)", where, want, got, got)
		}
	}
}

// TestFakeAnswersLikeTheSeeds walks the on-demand flow of the API guide
// (token, OnDemandChallenge, password, StartOOB, code) with the guide's own
// request bodies and checks each answer has the shape of the guide's answer.
func TestFakeAnswersLikeTheSeeds(t *testing.T) {
	tn := newTenant(t)
	c := *tn.Client()
	c.Jar = newJar()

	// Step 3: the token.
	req, _ := http.NewRequest(http.MethodPost, tn.URL+"/oauth2/token/_genericmfa", strings.NewReader("scope=GenericMFA&grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "s3cret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	sameShape(t, "token", loadSeed(t, "token_response"), tok)
	bearer := map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}

	// Step 4: OnDemandChallenge with the guide's body.
	odReq := loadSeed(t, "ondemand_request")
	odReq["User"] = "alice@example.com"
	pkg := post(t, tn, &c, "/security/OnDemandChallenge", odReq, bearer)
	sameShape(t, "OnDemandChallenge", loadSeed(t, "ondemand_response"), pkg)
	if pkg["success"] != true {
		t.Fatalf("OnDemandChallenge failed: %v", pkg)
	}
	res := pkg["Result"].(map[string]any)
	sid := res["SessionId"].(string)
	chs := res["Challenges"].([]any)
	mechID := func(ch int, name string) string {
		for _, m := range chs[ch].(map[string]any)["Mechanisms"].([]any) {
			if m.(map[string]any)["Name"] == name {
				return m.(map[string]any)["MechanismId"].(string)
			}
		}
		t.Fatalf("no %s in challenge %d", name, ch)
		return ""
	}

	// Step 5: the password, then StartOOB for SMS, then the code, each with
	// the guide's request body.
	pwReq := loadSeed(t, "advance_ondemand_password_request")
	pwReq["SessionId"], pwReq["MechanismId"], pwReq["Answer"] = sid, mechID(0, "UP"), "pw"
	got := post(t, tn, &c, "/security/advanceauthentication", pwReq, nil)
	sameShape(t, "StartNextChallenge", loadSeed(t, "advance_next_challenge_response"), got)
	if got["Result"].(map[string]any)["Summary"] != "StartNextChallenge" {
		t.Fatalf("password: %v", got)
	}
	// The advance calls above and below carry the login cookie: a client
	// without the cookie jar of its login fails.
	oobReq := loadSeed(t, "advance_startoob_request")
	oobReq["SessionId"], oobReq["MechanismId"] = sid, mechID(1, "SMS")
	got = post(t, tn, &c, "/security/advanceauthentication", oobReq, nil)
	sameShape(t, "OobPending", loadSeed(t, "advance_oob_pending_response"), got)

	ansReq := loadSeed(t, "advance_answer_request")
	ansReq["SessionId"], ansReq["MechanismId"], ansReq["Answer"] = sid, mechID(1, "SMS"), tn.LastCode("alice@example.com")
	got = post(t, tn, &c, "/security/advanceauthentication", ansReq, nil)
	sameShape(t, "LoginSuccess", loadSeed(t, "advance_login_success_response"), got)
	if got["Result"].(map[string]any)["Summary"] != "LoginSuccess" {
		t.Fatalf("code: %v", got)
	}
}

func TestFakeStartAuthenticationLikeTheSeed(t *testing.T) {
	tn := newTenant(t)
	req := loadSeed(t, "start_request")
	req["User"] = "alice@example.com"
	got := post(t, tn, tn.Client(), "/security/startauthentication", req, nil)
	sameShape(t, "StartAuthentication", loadSeed(t, "start_response"), got)
}

func TestFakeRequiresNativeClientHeader(t *testing.T) {
	tn := newTenant(t)
	req, _ := http.NewRequest(http.MethodPost, tn.URL+"/Security/StartAuthentication", strings.NewReader(`{"User":"alice@example.com","Version":"1.0"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := tn.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("without X-IDAP-NATIVE-CLIENT: Content-Type %q, want an HTML page", ct)
	}
}

func TestFakeWrongAnswerVoidsSession(t *testing.T) {
	tn := newTenant(t)
	c := tn.Client()
	jarClient := *c
	jarClient.Jar = newJar()
	start := post(t, tn, &jarClient, "/Security/StartAuthentication", map[string]any{"User": "alice@example.com", "Version": "1.0"}, nil)
	res := start["Result"].(map[string]any)
	sid := res["SessionId"].(string)
	up := res["Challenges"].([]any)[0].(map[string]any)["Mechanisms"].([]any)[0].(map[string]any)["MechanismId"].(string)
	bad := post(t, tn, &jarClient, "/Security/AdvanceAuthentication", map[string]any{"SessionId": sid, "MechanismId": up, "Action": "Answer", "Answer": "wrong"}, nil)
	if bad["success"] != false || bad["Result"].(map[string]any)["Summary"] != "Failure" {
		t.Fatalf("wrong password: %v", bad)
	}
	if id, _ := bad["ErrorID"].(string); !strings.Contains(id, ":") {
		t.Errorf("ErrorID %q is not <uuid>:<hex>", id)
	}
	again := post(t, tn, &jarClient, "/Security/AdvanceAuthentication", map[string]any{"SessionId": sid, "MechanismId": up, "Action": "Answer", "Answer": "pw"}, nil)
	if again["success"] != false {
		t.Fatalf("the session survived a wrong answer: %v", again)
	}
}

func TestFakeTOTPAnswer(t *testing.T) {
	key, _ := totp.DecodeSecret(secret)
	tn := newTenant(t)
	c := *tn.Client()
	c.Jar = newJar()
	start := post(t, tn, &c, "/Security/StartAuthentication", map[string]any{"User": "alice@example.com", "Version": "1.0"}, nil)
	res := start["Result"].(map[string]any)
	sid := res["SessionId"].(string)
	chs := res["Challenges"].([]any)
	up := chs[0].(map[string]any)["Mechanisms"].([]any)[0].(map[string]any)["MechanismId"].(string)
	oath := chs[1].(map[string]any)["Mechanisms"].([]any)[2].(map[string]any)
	if oath["Name"] != "OATH" {
		t.Fatalf("third mechanism is %v", oath["Name"])
	}
	post(t, tn, &c, "/Security/AdvanceAuthentication", map[string]any{"SessionId": sid, "MechanismId": up, "Action": "Answer", "Answer": "pw"}, nil)
	got := post(t, tn, &c, "/Security/AdvanceAuthentication", map[string]any{"SessionId": sid, "MechanismId": oath["MechanismId"], "Action": "Answer", "Answer": totp.Code(key, time.Now())}, nil)
	if got["Result"].(map[string]any)["Summary"] != "LoginSuccess" {
		t.Fatalf("TOTP: %v", got)
	}
}

// TestTokenTakesBasicOrFormCredentials: the token endpoint takes the
// client's credentials in a Basic header or, as the OpenAPI file documents,
// in client_id and client_secret form fields.
func TestTokenTakesBasicOrFormCredentials(t *testing.T) {
	tn := newTenant(t)
	c := tn.Client()
	for name, build := range map[string]func() *http.Request{
		"basic": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, tn.URL+"/oauth2/token/_genericmfa", strings.NewReader("grant_type=client_credentials&scope=GenericMFA"))
			r.SetBasicAuth("svc", "s3cret")
			return r
		},
		"form": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, tn.URL+"/oauth2/token/_genericmfa", strings.NewReader("grant_type=client_credentials&scope=GenericMFA&client_id=svc&client_secret=s3cret"))
			return r
		},
	} {
		req := build()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out["access_token"] == nil {
			t.Errorf("%s: %d %v", name, resp.StatusCode, out)
		}
	}
}
