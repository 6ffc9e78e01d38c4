package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/identity"
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
}

// call sends r. It returns the 200 body, or the Auth0 error (whatever its
// status), or an *identity.UpstreamError when the tenant or the network
// failed.
func (p *provider) call(ctx context.Context, r request) ([]byte, *apiError, error) {
	attempts := 1
	if r.safe {
		attempts += p.cfg.Retries
	}
	var lastErr error
	status := 0
	for i := 0; i < attempts; i++ {
		if i > 0 {
			backoff := p.cfg.RetryBackoff << (i - 1)
			backoff += time.Duration(rand.Int64N(int64(backoff)/2 + 1))
			select {
			case <-ctx.Done():
				return nil, nil, p.upstream(r.op, status, ctx.Err())
			case <-time.After(backoff):
			}
		}
		var body []byte
		body, status, lastErr = p.once(ctx, r)
		if lastErr != nil {
			if status != 0 && status < 500 && status != http.StatusTooManyRequests {
				break
			}
			continue
		}
		// An error body decides, whatever the status: the documentation
		// shows 200 for a pending or rejected push, the live service 400.
		var ae apiError
		if json.Unmarshal(body, &ae) == nil {
			ae.normalize()
			if ae.Code != "" {
				ae.status = status
				return nil, &ae, nil
			}
		}
		if status == http.StatusOK {
			return body, nil, nil
		}
		lastErr = fmt.Errorf("%w %d", ErrStatus, status)
		if status < 500 {
			break
		}
	}
	return nil, nil, p.upstream(r.op, status, lastErr)
}

func (p *provider) upstream(op string, status int, err error) error {
	return &identity.UpstreamError{Provider: p.cfg.Name, Op: op, Status: status, Err: err}
}

func (p *provider) once(ctx context.Context, r request) ([]byte, int, error) {
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
			return nil, 0, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, p.base+r.path, body)
	if err != nil {
		return nil, 0, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mfabridge")
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
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
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, status, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" || bytes.HasPrefix(bytes.TrimSpace(b), []byte("<")) {
		return nil, status, ErrHTML
	}
	return b, status, nil
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
	form.Set("client_id", p.cfg.ClientID)
	form.Set("client_secret", p.cfg.ClientSecret)
	body, ae, err := p.call(ctx, request{op: op, method: http.MethodPost, path: "/oauth/token", form: form, clientIP: clientIP, safe: safe})
	if err != nil || ae != nil {
		return nil, ae, err
	}
	var ts tokenSet
	if json.Unmarshal(body, &ts) != nil || ts.AccessToken == "" {
		return nil, nil, p.upstream(op, http.StatusOK, fmt.Errorf("%w: no access_token", ErrMalformed))
	}
	return &ts, nil, nil
}
