package cyberarktest

import (
	"crypto/subtle"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/internal/totp"
)

type oobState int

const (
	oobNone oobState = iota
	oobPending
	oobApproved
	oobDenied
)

// mech is a mechanism offered in a session's package.
type mech struct {
	id     string
	factor Factor
}

// session is one login in progress.
type session struct {
	id         string
	user       string // as sent by the client
	known      *User  // nil for an unknown user
	cookie     string
	challenges [][]mech
	index      int
	current    string // mechanism id started with StartOOB
	oob        oobState
	code       string
	timer      *time.Timer
	onDemand   bool // started by OnDemandChallenge
}

const loginCookie = "ASP.NET_SessionId"

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (t *Tenant) mechanisms(u *User) []mech {
	var out []mech
	for _, f := range u.Factors {
		out = append(out, mech{id: newID(16), factor: f})
	}
	return out
}

// newSession builds the package of a login; t.mu must be held.
func (t *Tenant) newSession(name string, u *User) *session {
	s := &session{id: newID(20), user: name, known: u, cookie: newID(16)}
	if u == nil {
		// An unknown user gets a normal-looking package and fails later.
		s.challenges = [][]mech{{{id: newID(16), factor: "UP"}}, {{id: newID(16), factor: Email}}}
	} else {
		if !u.NoPassword {
			s.challenges = append(s.challenges, []mech{{id: newID(16), factor: "UP"}})
		}
		if len(u.Factors) > 0 {
			s.challenges = append(s.challenges, t.mechanisms(u))
		}
	}
	t.sessions[s.id] = s
	return s
}

func (t *Tenant) packageOf(s *session) map[string]any {
	var chs []map[string]any
	for _, c := range s.challenges {
		var ms []map[string]any
		for _, m := range c {
			ms = append(ms, t.describe(s, m))
		}
		chs = append(chs, map[string]any{"Mechanisms": ms})
	}
	return map[string]any{
		"ClientHints": map[string]any{
			"PersistDefault": false, "AllowPersist": false, "AllowForgotPassword": false,
			"EndpointAuthenticationEnabled": false,
		},
		"Version":            "1.0",
		"SessionId":          s.id,
		"EventDescription":   nil,
		"RetryWaitingTime":   0,
		"SecurityImageName":  nil,
		"AllowLoginMfaCache": false,
		"Challenges":         chs,
		"Summary":            "NewPackage",
		"TenantId":           t.opts.TenantID,
	}
}

// describe renders a mechanism as the tenant does.
func (t *Tenant) describe(s *session, m mech) map[string]any {
	d := map[string]any{"Name": string(m.factor), "MechanismId": m.id, "Enrolled": true}
	switch m.factor {
	case "UP":
		d["AnswerType"], d["PromptSelectMech"], d["PromptMechChosen"] = "Text", "Password", "Enter Password"
	case OATH:
		d["AnswerType"], d["PromptSelectMech"], d["PromptMechChosen"] = "StartTextOob", "OATH OTP Client", "Enter the code from your authenticator app"
		d["UiPrompt"] = "OATH OTP Client"
	case SMS:
		d["AnswerType"], d["PromptSelectMech"] = "StartTextOob", "SMS... XXX-1234"
		d["PromptMechChosen"] = "Sending a text to mobile phone ending... 1234. Enter the code or click the link in the message to proceed with authentication."
		d["PartialDeviceAddress"] = "1234"
	case Email:
		d["AnswerType"], d["PromptSelectMech"] = "StartTextOob", "Email... @example.com"
		d["PromptMechChosen"] = "Email sent to xxxx@example.com. Click the link or manually enter the code to authenticate."
		d["PartialAddress"], d["MaskedEmailAddress"] = "example.com", "***@example.com"
	case Push:
		d["AnswerType"], d["PromptSelectMech"] = "StartTextOob", "Mobile Authenticator"
		d["PromptMechChosen"] = "Approve the request in the CyberArk Identity app, or enter the code it shows"
	case Phone:
		d["AnswerType"], d["PromptSelectMech"] = "StartOob", "Phone call... XXX-1234"
		d["PromptMechChosen"] = "Calling your phone ending... 1234. Follow the instructions to authenticate."
		d["PartialPhoneNumber"] = "1234"
	case SQ:
		q := "Security question"
		if s.known != nil && s.known.Question != "" {
			q = s.known.Question
		}
		d["AnswerType"], d["PromptSelectMech"], d["PromptMechChosen"] = "Text", "Security Question", q
		d["MultipartMechanism"] = map[string]any{"MechanismParts": []map[string]any{{"Uuid": m.id, "QuestionText": q, "PromptMechChosen": q}}}
	case U2F:
		d["AnswerType"], d["PromptSelectMech"], d["PromptMechChosen"] = "StartTextOob", "Security Key", "Use your security key"
		d["Type"] = "SECURITYKEY"
	case QR:
		d["AnswerType"], d["PromptSelectMech"], d["PromptMechChosen"] = "StartOob", "QR Code", "Scan the QR code"
		d["Image"] = "data:image/png;base64,iVBORw0KGgo="
	}
	return d
}

func (t *Tenant) startAuthentication(w http.ResponseWriter, r *http.Request, body map[string]any) {
	name, _ := body["User"].(string)
	if name == "" || body["Version"] != "1.0" {
		writeEnvelope(w, false, nil, failedMessage)
		return
	}
	t.mu.Lock()
	u := t.users[strings.ToLower(name)]
	if u != nil && u.Federated {
		t.mu.Unlock()
		writeEnvelope(w, true, map[string]any{
			"IdpRedirectUrl":        "https://idp.example.com/sso?x=1",
			"IdpRedirectShortUrl":   "https://aaa.example.com/s",
			"IdpShortUrlId":         "short_id",
			"SessionId":             newID(20),
			"IdpOobAuthPinRequired": false,
			"IdpLoginSessionId":     newID(20),
			"TenantId":              t.opts.TenantID,
		}, "")
		return
	}
	if u != nil && t.opts.LoginSuccessAtStart {
		t.mu.Unlock()
		writeEnvelope(w, true, t.successResult(u, false), "")
		return
	}
	s := t.newSession(name, u)
	pkg := t.packageOf(s)
	if t.opts.LockoutAfter > 0 && t.failures[strings.ToLower(name)] >= t.opts.LockoutAfter {
		pkg["RetryWaitingTime"] = 30
	}
	t.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: s.cookie, Path: "/", HttpOnly: true, Secure: !t.opts.PlainHTTP})
	writeEnvelope(w, true, pkg, "")
}

func (t *Tenant) bearerValid(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.tokens[strings.TrimPrefix(h, "Bearer ")]
	return ok && t.opts.Now().Before(exp)
}

func (t *Tenant) onDemandChallenge(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if !t.bearerValid(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"success":false,"Result":null,"Message":"Not authorized","MessageID":null,"Exception":null,"ErrorID":null,"ErrorCode":null,"IsSoftError":false,"InnerExceptions":null}`))
		return
	}
	name, _ := body["User"].(string)
	modifier, _ := body["PolicyModifier"].(string)
	known := false
	t.mu.Lock()
	for _, m := range t.opts.PolicyModifiers {
		known = known || m == modifier
	}
	t.mu.Unlock()
	if name == "" || !known {
		writeEnvelope(w, false, nil, fmt.Sprintf("Policy modifier %q not found.", modifier))
		return
	}
	t.mu.Lock()
	u := t.users[strings.ToLower(name)]
	if u != nil && t.opts.LoginSuccessAtStart {
		t.mu.Unlock()
		writeEnvelope(w, true, t.successResult(u, true), "")
		return
	}
	s := t.newSession(name, u)
	s.onDemand = true
	pkg := t.packageOf(s)
	t.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: s.cookie, Path: "/", HttpOnly: true, Secure: !t.opts.PlainHTTP})
	writeEnvelope(w, true, pkg, "")
}

func (t *Tenant) cleanup(w http.ResponseWriter, _ *http.Request, body map[string]any) {
	sid, _ := body["SessionId"].(string)
	t.mu.Lock()
	t.dropLocked(sid)
	t.mu.Unlock()
	writeEnvelope(w, true, nil, "")
}

// dropLocked voids a session; t.mu must be held.
func (t *Tenant) dropLocked(sid string) {
	s := t.sessions[sid]
	if s == nil {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	delete(t.sessions, sid)
	if s.known != nil && t.pending[strings.ToLower(s.known.Name)] == s {
		delete(t.pending, strings.ToLower(s.known.Name))
	}
}

func (t *Tenant) failLocked(w http.ResponseWriter, s *session) {
	t.failures[strings.ToLower(s.user)]++
	t.dropLocked(s.id)
	writeFailure(w)
}

func (t *Tenant) advanceAuthentication(w http.ResponseWriter, r *http.Request, body map[string]any) {
	sid, _ := body["SessionId"].(string)
	mid, _ := body["MechanismId"].(string)
	action, _ := body["Action"].(string)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[sid]
	if s == nil {
		writeFailure(w)
		return
	}
	if c, err := r.Cookie(loginCookie); !t.opts.Cookieless && (err != nil || c.Value != s.cookie) {
		// The login is bound to the cookie jar of its StartAuthentication.
		t.failLocked(w, s)
		return
	}
	var m *mech
	if s.index < len(s.challenges) {
		for i := range s.challenges[s.index] {
			if s.challenges[s.index][i].id == mid {
				m = &s.challenges[s.index][i]
			}
		}
	}
	if m == nil {
		t.failLocked(w, s)
		return
	}
	switch action {
	case "Answer":
		if !t.answerOK(s, m, body["Answer"]) {
			t.failLocked(w, s)
			return
		}
		t.passLocked(w, s, m)
	case "StartOOB":
		t.startOOBLocked(w, s, m)
	case "Poll":
		if s.current != m.id {
			t.failLocked(w, s)
			return
		}
		switch s.oob {
		case oobApproved:
			t.passLocked(w, s, m)
		case oobDenied:
			t.failLocked(w, s)
		default:
			writeEnvelope(w, true, map[string]any{"Summary": "OobPending"}, "")
		}
	default:
		t.failLocked(w, s)
	}
}

func (t *Tenant) answerOK(s *session, m *mech, answer any) bool {
	u := s.known
	if u == nil {
		return false
	}
	text, _ := answer.(string)
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	switch m.factor {
	case "UP":
		return eq(text, u.Password)
	case OATH, Push:
		key, err := totp.DecodeSecret(u.OATHSecret)
		if err != nil || u.OATHSecret == "" {
			return false
		}
		return totp.Valid(key, text, t.opts.Now())
	case SMS, Email:
		return s.current == m.id && s.code != "" && eq(text, s.code)
	case SQ:
		if obj, ok := answer.(map[string]any); ok {
			text, _ = obj[m.id].(string)
		}
		return u.Answer != "" && strings.EqualFold(strings.TrimSpace(text), u.Answer)
	}
	return false
}

func (t *Tenant) startOOBLocked(w http.ResponseWriter, s *session, m *mech) {
	switch m.factor {
	case OATH:
		s.current, s.oob = m.id, oobNone
		writeEnvelope(w, true, map[string]any{"Summary": "OobPending"}, "")
		return
	case SMS, Email:
		s.current, s.oob = m.id, oobPending
		s.code = fmt.Sprintf("%06d", rand.IntN(1000000))
		if s.known != nil {
			t.codes[strings.ToLower(s.known.Name)] = s.code
			t.pending[strings.ToLower(s.known.Name)] = s
			if t.opts.OnCode != nil {
				go t.opts.OnCode(s.known.Name, m.factor, s.code)
			}
		}
		writeEnvelope(w, true, map[string]any{"Summary": "OobPending"}, "")
		return
	case Push, Phone:
	default:
		t.failLocked(w, s)
		return
	}
	s.current, s.oob = m.id, oobPending
	res := map[string]any{"Summary": "OobPending"}
	number := ""
	if u := s.known; u != nil {
		key := strings.ToLower(u.Name)
		t.pending[key] = s
		if m.factor == Push && u.NumberMatching {
			number = fmt.Sprintf("%02d", 10+rand.IntN(90))
			res["GeneratedAuthValue"] = number
			t.numbers[key] = number
		}
		if u.AutoApprove > 0 {
			s.timer = time.AfterFunc(u.AutoApprove, func() {
				t.mu.Lock()
				defer t.mu.Unlock()
				if s.oob == oobPending {
					s.oob = oobApproved
				}
			})
		}
		if t.opts.OnPush != nil {
			go t.opts.OnPush(u.Name, m.factor, number)
		}
	}
	writeEnvelope(w, true, res, "")
}

// passLocked moves a session past its current challenge.
func (t *Tenant) passLocked(w http.ResponseWriter, s *session, m *mech) {
	s.index++
	s.current, s.oob, s.code = "", oobNone, ""
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	u := s.known
	if m.factor == "UP" && u != nil && u.NewPackage {
		// The tenant swaps in a new challenge set after the password.
		s.challenges = [][]mech{t.mechanisms(u)}
		s.index = 0
		writeEnvelope(w, true, t.packageOf(s), "")
		return
	}
	if s.index < len(s.challenges) {
		writeEnvelope(w, true, map[string]any{"Summary": "StartNextChallenge"}, "")
		return
	}
	t.dropLocked(s.id)
	delete(t.failures, strings.ToLower(s.user))
	res := t.successResult(u, s.onDemand)
	if auth, ok := res["Auth"].(string); ok {
		http.SetCookie(w, &http.Cookie{Name: ".ASPXAUTH", Value: auth, Path: "/", HttpOnly: true, Secure: !t.opts.PlainHTTP})
	}
	writeEnvelope(w, true, res, "")
}

// successResult is the Result of a LoginSuccess as the seeds show it: a
// login as the user carries Auth (the .ASPXAUTH value) and AuthLevel
// "Normal" (seed 002); a login through a challenge policy answers with
// AuthLevel "High" and no Auth (seed 000, the on-demand flow). Both carry
// PodFqdn and no SessionId.
func (t *Tenant) successResult(u *User, onDemand bool) map[string]any {
	display := u.DisplayName
	if display == "" {
		display = u.Name
	}
	res := map[string]any{
		"AuthLevel":     "Normal",
		"DisplayName":   display,
		"UserId":        t.userIDs[strings.ToLower(u.Name)],
		"EmailAddress":  u.Name + "@example.com",
		"UserDirectory": "CDS",
		"PodFqdn":       strings.TrimPrefix(strings.TrimPrefix(t.URL, "https://"), "http://"),
		"User":          u.Name,
		"CustomerID":    t.opts.TenantID,
		"SystemID":      t.opts.TenantID,
		"SourceDsType":  "CDS",
		"Summary":       "LoginSuccess",
	}
	if onDemand {
		res["AuthLevel"] = "High"
	} else {
		res["Auth"] = newID(32)
	}
	return res
}

func (t *Tenant) token(w http.ResponseWriter, r *http.Request, appID string) {
	oauthErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
	}
	if r.Method != http.MethodPost {
		writeHTML(w, http.StatusMethodNotAllowed, "405")
		return
	}
	_ = r.ParseForm()
	form := map[string]any{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	if t.record(w, r, form) {
		return
	}
	t.mu.Lock()
	app, ok := t.apps[appID]
	t.mu.Unlock()
	// The client authenticates with Basic (as every client does) or, as
	// the OpenAPI file documents too, with client_id and client_secret
	// form fields.
	id, secret, basic := r.BasicAuth()
	if !basic && r.PostForm.Get("client_id") != "" {
		id, secret, basic = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), true
	}
	switch {
	case !ok:
		oauthErr(http.StatusBadRequest, "invalid_client", "unknown application")
	case !basic || id != app.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1:
		oauthErr(http.StatusBadRequest, "invalid_client", "wrong clientid or secret")
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthErr(http.StatusBadRequest, "invalid_grant", "invalid grant type")
	case app.Scope != "" && r.PostForm.Get("scope") != app.Scope:
		oauthErr(http.StatusBadRequest, "invalid_scope", "invalid scope")
	default:
		tok := newID(32)
		t.mu.Lock()
		t.tokens[tok] = t.opts.Now().Add(app.Lifetime)
		t.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d,"scope":%q}`, tok, int(app.Lifetime.Seconds()), app.Scope)
	}
}

// userRoles answers /UserMgmt/GetUsersRolesAndAdministrativeRights?id=<uuid>
// for a service account's token with the user's roles as rows.
func (t *Tenant) userRoles(w http.ResponseWriter, r *http.Request, _ map[string]any) {
	if !t.bearerValid(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"success":false,"Result":null,"Message":"Not authorized","MessageID":null,"Exception":null,"ErrorID":null,"ErrorCode":null,"IsSoftError":false,"InnerExceptions":null}`))
		return
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		id = r.URL.Query().Get("ID")
	}
	t.mu.Lock()
	var u *User
	for name, uid := range t.userIDs {
		if uid == id {
			u = t.users[name]
		}
	}
	t.mu.Unlock()
	if u == nil {
		writeEnvelope(w, false, nil, "User not found.")
		return
	}
	rows := []map[string]any{}
	for _, role := range u.Roles {
		key := strings.ReplaceAll(strings.ToLower(role), " ", "_")
		rows = append(rows, map[string]any{
			"Entities": []map[string]any{{"Type": "Role", "Key": key, "IsForeignKey": false}},
			"Row":      map[string]any{"Name": role, "RoleName": role, "ID": key, "Description": nil, "AdministrativeRights": []any{}},
		})
	}
	writeEnvelope(w, true, map[string]any{"IsAggregate": false, "Count": len(rows), "FullCount": len(rows), "Results": rows, "Columns": []any{}}, "")
}
