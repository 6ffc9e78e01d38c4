package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

// Sentinel causes inside identity.UpstreamError.
var (
	// ErrHTML is an HTML page where JSON was expected (wrong domain, a
	// proxy's error page).
	ErrHTML = errors.New("auth0: the tenant answered with an HTML page, not JSON (check the url)")
	// ErrMalformed is a body that is not the expected JSON.
	ErrMalformed = errors.New("auth0: the tenant's response is not valid JSON")
	// ErrStatus is an error status without an Auth0 error body.
	ErrStatus = errors.New("auth0: unexpected HTTP status")
)

// apiError is Auth0's error body. Decisions are taken on Code, never on the
// HTTP status, which the documentation and the live service disagree on.
type apiError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
	MFAToken    string `json:"mfa_token"`
	// RetryAfter is what the answer's Retry-After or x-ratelimit-reset
	// header asked for, or 0.
	RetryAfter time.Duration `json:"-"`
	// The other form some endpoints use.
	Name    string `json:"name"`
	AltCode string `json:"code"`
	AltDesc string `json:"description"`
	status  int
}

func (e *apiError) normalize() {
	if e.Code == "" {
		e.Code = e.AltCode
	}
	if e.Description == "" {
		e.Description = e.AltDesc
	}
}

// request is one call to the tenant.
type request struct {
	op     string
	method string
	path   string
	form   url.Values // sent form-encoded (token grants)
	json   any        // sent as JSON (challenge)
	bearer string
	// clientIP is sent as auth0-forwarded-for so that Auth0's brute-force
	// protection sees the user's address, not mfabridge's.
	clientIP string
	safe     bool
	// basic sends the application's credentials in an Authorization:
	// Basic header (client_secret_basic).
	basic bool
	// poll marks a poll of a push: there a rate limit's error body
	// (slow_down, too_many_requests) is the poll's answer, not a fault.
	poll bool
}

// call sends r. It returns the 200 body, or the Auth0 error (whatever its
// status), or an *identity.UpstreamError when the tenant or the network
// failed.
func (p *provider) call(ctx context.Context, r request) ([]byte, *apiError, error) {
	retries := 0
	if r.safe {
		retries = p.cfg.Retries
	}
	var (
		body   []byte
		answer *apiError
		status int
	)
	err := upstream.Retry(ctx, retries, p.cfg.RetryBackoff, func(int) (bool, error) {
		var (
			header http.Header
			err    error
		)
		body, status, header, err = p.once(ctx, r)
		if err != nil {
			return status == 0 || status >= 500 || status == http.StatusTooManyRequests, err
		}
		// An error body decides below 500, whatever the status: the
		// documentation shows 200 for a pending or rejected push, the live
		// service 400. A 5xx (temporarily_unavailable) or a rate limit is
		// the tenant's trouble, never the user's failure.
		var ae apiError
		if json.Unmarshal(body, &ae) == nil {
			ae.normalize()
			if ae.Code != "" {
				ae.status = status
				ae.RetryAfter = retryAfter(header, p.cfg.Now())
				switch {
				case status >= 500:
					return true, fmt.Errorf("%w %d: %s: %s", ErrStatus, status, ae.Code, ae.Description)
				case status == http.StatusTooManyRequests && !r.poll && ae.Code != "too_many_attempts":
					// too_many_attempts is Auth0's block of this user after
					// failed logins (brute-force protection): the user's own
					// answer. Any other 429 is the tenant's rate limit.
					return false, fmt.Errorf("%w %d (rate limited; the tenant asked to wait %v): %s: %s", ErrStatus, status, ae.RetryAfter, ae.Code, ae.Description)
				}
				answer = &ae
				return false, nil
			}
		}
		if status == http.StatusOK {
			return false, nil
		}
		return status >= 500, fmt.Errorf("%w %d", ErrStatus, status)
	})
	switch {
	case err != nil:
		return nil, nil, p.upstream(r.op, status, err)
	case answer != nil:
		return nil, answer, nil
	}
	return body, nil, nil
}

func (p *provider) upstream(op string, status int, err error) error {
	return &identity.UpstreamError{Provider: p.cfg.Name, Op: op, Status: status, Err: err}
}

// retryAfter reads how long a rate-limited answer asks to wait: Retry-After
// in seconds or as an HTTP date, or Auth0's x-ratelimit-reset (the Unix
// time the limit resets).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := h.Get("X-Ratelimit-Reset"); v != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			if d := time.Unix(n, 0).Sub(now); d > 0 {
				return d
			}
		}
	}
	return 0
}

func (p *provider) once(ctx context.Context, r request) ([]byte, int, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var (
		body io.Reader
		ct   string
	)
	switch {
	case r.form != nil:
		body, ct = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	case r.json != nil:
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, 0, nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, p.base+r.path, body)
	if err != nil {
		return nil, 0, nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mfabridge")
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.basic {
		// RFC 6749 §2.3.1: both parts form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	if r.clientIP != "" {
		req.Header.Set("auth0-forwarded-for", r.clientIP)
	}
	start := time.Now()
	resp, err := p.http.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if p.cfg.Observe != nil {
		defer func() { p.cfg.Observe(r.op, status, time.Since(start)) }()
	}
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, status, resp.Header, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" || bytes.HasPrefix(bytes.TrimSpace(b), []byte("<")) {
		return nil, status, resp.Header, ErrHTML
	}
	return b, status, resp.Header, nil
}

// pollGrant polls a push with the OOB grant. A rate limit's answer
// (slow_down, too_many_requests) comes back as an *apiError for poll to
// slow down on.
func (p *provider) pollGrant(ctx context.Context, form url.Values, clientIP string) (*tokenSet, *apiError, error) {
	return p.grantWith(ctx, request{op: "mfa-oob", form: form, clientIP: clientIP, safe: true, poll: true})
}

// tokenSet is a successful grant.
type tokenSet struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RecoveryCode string `json:"recovery_code"`
}

// grant posts to /oauth/token with the client's credentials.
func (p *provider) grant(ctx context.Context, op string, form url.Values, clientIP string, safe bool) (*tokenSet, *apiError, error) {
	return p.grantWith(ctx, request{op: op, form: form, clientIP: clientIP, safe: safe})
}

func (p *provider) grantWith(ctx context.Context, r request) (*tokenSet, *apiError, error) {
	r.method, r.path = http.MethodPost, "/oauth/token"
	if p.cfg.ClientAuth == ClientAuthBasic {
		r.basic = true
	} else {
		r.form.Set("client_id", p.cfg.ClientID)
		r.form.Set("client_secret", p.cfg.ClientSecret)
	}
	body, ae, err := p.call(ctx, r)
	if err != nil || ae != nil {
		return nil, ae, err
	}
	var ts tokenSet
	if json.Unmarshal(body, &ts) != nil || ts.AccessToken == "" {
		return nil, nil, p.upstream(r.op, http.StatusOK, fmt.Errorf("%w: no access_token", ErrMalformed))
	}
	return &ts, nil, nil
}
