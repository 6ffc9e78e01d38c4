// Package cyberarktest is an emulated CyberArk Identity tenant: an HTTP
// server that follows the contract of the real API (lower-case "success",
// PascalCase elsewhere, HTTP 200 with success:false for failed logins, the
// session voided after a wrong answer, PodFqdn redirects, OAuth2 client
// credentials, on-demand challenges). Tests and `mfabridge demo` run on it.
//
// Tests steer it: approve or deny a push, read the code of an SMS, inject
// slow or failing responses, and count calls.
package cyberarktest

import (
	"bytes"
	"crypto/rand"
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
)

// Factor is an enrolled MFA mechanism of an emulated user.
type Factor string

// The mechanisms the emulated tenant knows, by their tenant names.
const (
	OATH  Factor = "OATH"  // TOTP from an authenticator app (User.OATHSecret)
	SMS   Factor = "SMS"   // code by text message
	Email Factor = "EMAIL" // code by email
	Push  Factor = "OTP"   // CyberArk Identity app push
	Phone Factor = "PF"    // phone call, approved on the keypad
	SQ    Factor = "SQ"    // security question (User.Question, User.Answer)
	U2F   Factor = "U2F"   // security key: not usable over RADIUS
	QR    Factor = "QR"    // QR code: not usable over RADIUS
)

// User is an emulated tenant user.
type User struct {
	Name        string
	Password    string
	DisplayName string
	Roles       []string
	// Factors are offered, in this order, as the second challenge.
	Factors []Factor
	// OATHSecret is the base32 TOTP secret of the OATH factor.
	OATHSecret string
	// Question and Answer are the security question of the SQ factor.
	Question, Answer string
	// NumberMatching makes a push carry a number to pick in the app.
	NumberMatching bool
	// AutoApprove, when set, approves a push or phone call this long after
	// it starts; otherwise the test calls Approve or Deny.
	AutoApprove time.Duration
	// Federated users are sent to an external IdP.
	Federated bool
	// NewPackage makes the tenant answer the password with a NewPackage
	// (a new challenge set) instead of StartNextChallenge.
	NewPackage bool
	// NoPassword leaves the password challenge out of the package.
	NoPassword bool
}

// App is an OAuth2 confidential client (service account) of the tenant.
type App struct {
	ID           string // the application id in /oauth2/token/{ID}
	ClientID     string
	ClientSecret string
	Scope        string
	// Lifetime of issued tokens. Default one hour.
	Lifetime time.Duration
}

// Options configures a Tenant.
type Options struct {
	// TenantID is the tenant's id. Default "ABC1234".
	TenantID string
	Users    []User
	Apps     []App
	// PolicyModifiers are the challenge policies OnDemandChallenge accepts.
	PolicyModifiers []string
	// OnCode is called when an SMS or email code is sent.
	OnCode func(user string, f Factor, code string)
	// OnPush is called when a push or phone call starts (number is the
	// number-matching value, or "").
	OnPush func(user string, f Factor, number string)
	// LockoutAfter failed logins of a user make StartAuthentication answer
	// with RetryWaitingTime. 0 disables it.
	LockoutAfter int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// PlainHTTP serves http:// instead of https://.
	PlainHTTP bool
	// CountOnly keeps counts of the calls (Count) but not the calls
	// themselves (Calls, CountFor): for load runs of many thousand calls.
	CountOnly bool
	// Cookieless does not bind a login to the cookie of its
	// StartAuthentication (the reference has the binding as likely, seen
	// in practice, not as confirmed): for clients without a cookie jar,
	// such as FreeRADIUS's rlm_rest in make bench.
	Cookieless bool
	// HTTP1 serves HTTPS with HTTP/1.1 only; by default the tenant also
	// offers HTTP/2 (ALPN h2), so that a client that can use it does.
	HTTP1 bool

	// Answer shapes the references allow, so that a provider can be tested
	// against each (identity-api.md A.2):

	// LoginSuccessAtStart answers StartAuthentication and
	// OnDemandChallenge of a known user with LoginSuccess at once, as the
	// tenant does for a request that carries a valid .ASPXAUTH cookie
	// (variant 4).
	LoginSuccessAtStart bool
	// RedirectTo is the host the entry URL's PodFqdn redirect names
	// (variant 2). Default: the pod's own host.
	RedirectTo string
	// CloseConnections closes the connection after every answer
	// (Connection: close), as some proxies in front of a tenant do.
	CloseConnections bool
	// KeepModifiersEmpty makes GetPolicyBlock answer an empty
	// PolicyModifiers list whatever was added, as seed 000 step 6 shows
	// the block saved with "PolicyModifiers": [].
	KeepModifiersEmpty bool
}

// Fault makes the tenant misbehave on a path (see Inject).
type Fault = faults.Fault

// Call is one request the tenant received.
type Call struct {
	Path   string // lower-case path
	Action string // Action of an AdvanceAuthentication call
	User   string // the user of the login, when known
	Header http.Header
	Body   map[string]any
}

// Tenant is a running emulated tenant.
type Tenant struct {
	// URL is the tenant's pod URL.
	URL string
	// EntryURL is a second address whose StartAuthentication redirects to
	// URL with PodFqdn, as a system-generated tenant URL does.
	EntryURL string

	opts  Options
	pod   *httptest.Server
	entry *httptest.Server

	mu       sync.Mutex
	users    map[string]*User
	apps     map[string]App
	sessions map[string]*session
	tokens   map[string]time.Time
	faults   faults.Set
	calls    []Call
	counts   map[[2]string]int // calls by path and Action
	failures map[string]int
	codes    map[string]string
	numbers  map[string]string
	userIDs  map[string]string // user name -> stable uuid
	pol      *policyState
	pending  map[string]*session // user -> session with an out-of-band factor started
}

// New starts a tenant. Close it when done.
func New(opts Options) *Tenant {
	if opts.TenantID == "" {
		opts.TenantID = "ABC1234"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Tenant{
		opts:     opts,
		users:    map[string]*User{},
		apps:     map[string]App{},
		sessions: map[string]*session{},
		tokens:   map[string]time.Time{},
		failures: map[string]int{},
		codes:    map[string]string{},
		numbers:  map[string]string{},
		userIDs:  map[string]string{},
		pending:  map[string]*session{},
	}
	for i := range opts.Users {
		u := opts.Users[i]
		t.users[strings.ToLower(u.Name)] = &u
		id := newID(16)
		t.userIDs[strings.ToLower(u.Name)] = fmt.Sprintf("%s-%s-%s-%s-%s", id[:8], id[8:12], id[12:16], id[16:20], id[20:])
	}
	for _, a := range opts.Apps {
		if a.Lifetime == 0 {
			a.Lifetime = time.Hour
		}
		t.apps[strings.ToLower(a.ID)] = a
	}
	start := func(h http.HandlerFunc) *httptest.Server {
		s := httptest.NewUnstartedServer(h)
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS noise of clients that do not trust it
		if opts.PlainHTTP {
			s.Start()
		} else {
			s.EnableHTTP2 = !opts.HTTP1
			s.StartTLS()
		}
		return s
	}
	t.pod = start(t.serve)
	t.URL = t.pod.URL
	t.entry = start(t.serveEntry)
	t.EntryURL = t.entry.URL
	return t
}

// Close stops the tenant.
func (t *Tenant) Close() {
	t.pod.Close()
	t.entry.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.sessions {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
}

// Client returns an HTTP client that trusts the tenant's certificate.
func (t *Tenant) Client() *http.Client { return t.pod.Client() }

// Certificate returns the tenant's TLS certificate in PEM form, for a
// ca_file; empty for a plain-HTTP tenant.
func (t *Tenant) Certificate() []byte {
	if t.pod.Certificate() == nil {
		return nil
	}
	return pemCert(t.pod.Certificate().Raw)
}

// Inject makes path (case-insensitive, such as
// "/Security/AdvanceAuthentication") misbehave as f says.
func (t *Tenant) Inject(path string, f Fault) {
	t.faults.Add(strings.ToLower(path), f)
}

// ClearFaults removes every injected fault.
func (t *Tenant) ClearFaults() {
	t.faults.Clear()
}

// Calls returns the requests received so far.
func (t *Tenant) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Call(nil), t.calls...)
}

// Count returns how many calls went to path (case-insensitive) with the
// given Action ("" for any).
func (t *Tenant) Count(path, action string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, v := range t.counts {
		if k[0] == strings.ToLower(path) && (action == "" || k[1] == action) {
			n += v
		}
	}
	return n
}

// CountFor is Count for the calls of one user's logins.
func (t *Tenant) CountFor(user, path, action string) int {
	n := 0
	for _, c := range t.Calls() {
		if strings.EqualFold(c.User, user) && c.Path == strings.ToLower(path) && (action == "" || c.Action == action) {
			n++
		}
	}
	return n
}

// UserID returns the tenant's id of a user.
func (t *Tenant) UserID(user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.userIDs[strings.ToLower(user)]
}

// LastCode returns the last SMS or email code sent to user.
func (t *Tenant) LastCode(user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.codes[strings.ToLower(user)]
}

// LastNumber returns the number-matching value of user's last push.
func (t *Tenant) LastNumber(user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.numbers[strings.ToLower(user)]
}

// Approve approves the push or phone call pending for user. It reports
// whether one was pending.
func (t *Tenant) Approve(user string) bool { return t.decide(user, oobApproved) }

// Deny denies the push or phone call pending for user.
func (t *Tenant) Deny(user string) bool { return t.decide(user, oobDenied) }

// ExpireTokens makes every issued OAuth2 token invalid.
func (t *Tenant) ExpireTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = map[string]time.Time{}
}

func (t *Tenant) decide(user string, st oobState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.pending[strings.ToLower(user)]
	if s == nil || s.oob != oobPending {
		return false
	}
	s.oob = st
	return true
}

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errorID has the tenant's "<uuid>:<32 hex>" form.
func errorID() string {
	u := newID(16)
	return fmt.Sprintf("%s-%s-%s-%s-%s:%s", u[:8], u[8:12], u[12:16], u[16:20], u[20:32], newID(16))
}

// envelope writes the standard response envelope.
func writeEnvelope(w http.ResponseWriter, success bool, result any, message string) {
	env := map[string]any{
		"success":         success,
		"Result":          result,
		"Message":         nil,
		"MessageID":       nil,
		"Exception":       nil,
		"ErrorID":         nil,
		"ErrorCode":       nil,
		"IsSoftError":     false,
		"InnerExceptions": nil,
	}
	if !success {
		env["Message"] = message
		env["ErrorID"] = errorID()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(env)
}

const failedMessage = "Authentication (login or challenge) has failed. Please try again or contact your system administrator."

func writeFailure(w http.ResponseWriter) {
	writeEnvelope(w, false, map[string]any{"Summary": "Failure"}, failedMessage)
}

func writeHTML(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>%s</title></head><body><h1>%s</h1></body></html>", title, title)
}

// record notes a call and applies any fault; it reports whether the
// request was answered by a fault.
func (t *Tenant) record(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
	path := strings.ToLower(r.URL.Path)
	c := Call{Path: path, Header: r.Header.Clone(), Body: body}
	if a, ok := body["Action"].(string); ok {
		c.Action = a
	}
	t.mu.Lock()
	if u, ok := body["User"].(string); ok {
		c.User = u
	} else if sid, ok := body["SessionId"].(string); ok && t.sessions[sid] != nil {
		c.User = t.sessions[sid].user
	}
	if !t.opts.CountOnly {
		t.calls = append(t.calls, c)
	}
	if t.counts == nil {
		t.counts = map[[2]string]int{}
	}
	t.counts[[2]string{c.Path, c.Action}]++
	t.mu.Unlock()
	if t.opts.CloseConnections {
		w.Header().Set("Connection", "close")
	}
	return t.faults.Serve(w, r, path)
}

// readJSON decodes a JSON request body as the real tenant needs it: POST,
// Content-Type application/json and X-IDAP-NATIVE-CLIENT: true.
func readJSON(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	if r.Method != http.MethodPost {
		writeHTML(w, http.StatusMethodNotAllowed, "405 - HTTP verb used to access this page is not allowed.")
		return nil, false
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeHTML(w, http.StatusUnsupportedMediaType, "415 - Unsupported Media Type")
		return nil, false
	}
	if !strings.EqualFold(r.Header.Get("X-IDAP-NATIVE-CLIENT"), "true") {
		writeHTML(w, http.StatusOK, "Sign In")
		return nil, false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeEnvelope(w, false, nil, "The request body is too large.")
		return nil, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, true // a call without a body (Call.Body is nil)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeEnvelope(w, false, nil, "The request body is not valid JSON.")
		return nil, false
	}
	return body, true
}

func (t *Tenant) serveEntry(w http.ResponseWriter, r *http.Request) {
	if strings.ToLower(r.URL.Path) != "/security/startauthentication" {
		writeHTML(w, http.StatusNotFound, "404 - File or directory not found.")
		return
	}
	body, ok := readJSON(w, r)
	if !ok {
		return
	}
	if t.record(w, r, body) {
		return
	}
	u, _ := url.Parse(t.URL)
	host := u.Host
	if t.opts.RedirectTo != "" {
		host = t.opts.RedirectTo
	}
	writeEnvelope(w, true, map[string]any{"PodFqdn": host}, "")
}

func (t *Tenant) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.ToLower(r.URL.Path)
	if strings.HasPrefix(path, "/oauth2/token/") {
		t.token(w, r, strings.TrimPrefix(path, "/oauth2/token/"))
		return
	}
	handlers := map[string]func(http.ResponseWriter, *http.Request, map[string]any){
		"/security/startauthentication":                  t.startAuthentication,
		"/security/ondemandchallenge":                    t.onDemandChallenge,
		"/security/advanceauthentication":                t.advanceAuthentication,
		"/security/cleanupauthentication":                t.cleanup,
		"/usermgmt/getusersrolesandadministrativerights": t.userRoles,
		"/redrock/query":                                 t.redrockQuery,
		"/policy/getusingcloudmobilegp":                  t.cloudGP,
		"/policy/getniceplinks":                          t.nicePlinks,
		"/policy/getpolicyblock":                         t.policyBlock,
		"/policy/addauthpolicymodifier":                  t.addModifier,
		"/policy/savepolicyblock3":                       t.savePolicyBlock,
	}
	h, ok := handlers[path]
	if !ok {
		writeHTML(w, http.StatusNotFound, "404 - File or directory not found.")
		return
	}
	body, ok := readJSON(w, r)
	if !ok {
		return
	}
	if t.record(w, r, body) {
		return
	}
	h(w, r, body)
}
