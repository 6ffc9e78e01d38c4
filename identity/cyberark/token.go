package cyberark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ErrToken is a token endpoint that refused the service account.
var ErrToken = errors.New("cyberark: the token endpoint refused the service account")

// tokenSource holds the service account's OAuth2 client-credentials token,
// renews it before it expires, and lets one renewal run at a time.
//
// It is one value renewed ahead of its expiry by the provider's clock, with
// callers during a renewal waiting for it: a mutex and two fields, where an
// expiring map (go-cache) would add a janitor goroutine and its own clock
// for nothing.
type tokenSource struct {
	p *provider

	mu      sync.Mutex
	token   string
	expires time.Time
}

// renewMargin is how long before expiry a token is renewed.
func renewMargin(lifetime time.Duration) time.Duration {
	m := lifetime / 5
	if m > 5*time.Minute {
		m = 5 * time.Minute
	}
	return m
}

// get returns a valid token, fetching a new one if needed. Callers that
// arrive while a renewal runs wait for it and share its result.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := ts.p.cfg.Now()
	if ts.token != "" && now.Before(ts.expires) {
		return ts.token, nil
	}
	token, lifetime, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.token = token
	ts.expires = now.Add(lifetime - renewMargin(lifetime))
	return ts.token, nil
}

// invalidate drops token if it is still the cached one (the tenant said it
// is no longer valid).
func (ts *tokenSource) invalidate(token string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == token {
		ts.token = ""
	}
}

func (ts *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	p := ts.p
	form := url.Values{"grant_type": {"client_credentials"}}
	if p.cfg.Scope != "" {
		form.Set("scope", p.cfg.Scope)
	}
	c := call{
		op:        "token",
		base:      p.base,
		path:      "/oauth2/token/" + url.PathEscape(p.cfg.AppID),
		form:      form,
		basicUser: p.cfg.ClientID,
		basicPass: p.cfg.ClientSecret,
		safe:      true,
	}
	body, status, err := p.once(ctx, c)
	if err != nil && status >= 400 && status < 500 {
		// The tenant refused the credentials: report its OAuth error code,
		// never the credentials or the response body as a whole.
		var oe oauthError
		_ = json.Unmarshal(body, &oe)
		code := oe.Error
		if code == "" {
			code = "no error code"
		}
		return "", 0, p.upstream(c.op, status, fmt.Errorf("%w (%s): check client_id, client_secret, app_id and scope", ErrToken, code))
	}
	if err != nil {
		body, err = p.do(ctx, c) // transport fault or 5xx: retry with backoff
		if err != nil {
			return "", 0, err
		}
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", 0, p.upstream(c.op, http.StatusOK, fmt.Errorf("%w: no access_token", ErrMalformed))
	}
	lifetime := time.Duration(tr.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	return tr.AccessToken, lifetime, nil
}
