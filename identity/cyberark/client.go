package cyberark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

// maxBody bounds what is read of an upstream response.
const maxBody = 1 << 20

// Sentinel causes inside identity.UpstreamError.
var (
	// ErrHTML is an HTML page where JSON was expected: usually a wrong
	// tenant URL, a proxy's error page or a missing header.
	ErrHTML = errors.New("cyberark: the tenant answered with an HTML page, not JSON (check the tenant URL)")
	// ErrMalformed is a response body that is not the expected JSON.
	ErrMalformed = errors.New("cyberark: the tenant's response is not valid JSON")
	// ErrStatus is an HTTP status other than 200.
	ErrStatus = errors.New("cyberark: unexpected HTTP status")
)

// jar is the cookie jar of one login transaction. It is never shared between
// logins, and it is saved with the transaction between RADIUS packets.
type jar map[string]string

func (j jar) apply(req *http.Request) {
	for name, value := range j {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
}

func (j jar) update(resp *http.Response) {
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			delete(j, c.Name)
			continue
		}
		j[c.Name] = c.Value
	}
}

// call describes one POST to the tenant.
type call struct {
	op   string // the API name, for errors and logs
	base string // scheme://host of the tenant pod
	path string
	body any
	// form, when set, is sent as application/x-www-form-urlencoded
	// instead of body as JSON.
	form url.Values
	// basicUser and basicPass set HTTP basic authentication.
	basicUser, basicPass string
	bearer               string
	cookies              jar
	// safe calls may be retried: they have no effect a second call could
	// repeat for the user (no push, no SMS, no answer).
	safe bool
}

// do sends c and returns the HTTP status and body of a 200 response. Any
// other outcome is an *identity.UpstreamError.
func (p *provider) do(ctx context.Context, c call) ([]byte, error) {
	retries := 0
	if c.safe {
		retries = p.cfg.Retries
	}
	var (
		body   []byte
		status int
	)
	err := upstream.Retry(ctx, retries, p.cfg.RetryBackoff, func(attempt int) (bool, error) {
		if attempt > 0 {
			p.log.WithField("op", c.op).WithField("attempt", attempt+1).Debug("retrying upstream call")
		}
		var err error
		body, status, err = p.once(ctx, c)
		return err != nil && retryable(status, err) && ctx.Err() == nil, err
	})
	if err != nil {
		var in *upstream.Interrupted
		if errors.As(err, &in) {
			status = 0
		}
		return nil, p.upstream(c.op, status, err)
	}
	return body, nil
}

func (p *provider) upstream(op string, status int, err error) error {
	return &identity.UpstreamError{Provider: p.cfg.Name, Op: op, Status: status, Err: err}
}

func retryable(status int, err error) bool {
	switch {
	case status == 0:
		return true // no response: connection refused, reset, time-out
	case status == http.StatusTooManyRequests, status >= 500:
		return true
	}
	return false
}

func (p *provider) once(ctx context.Context, c call) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()

	var reader io.Reader
	switch {
	case c.form != nil:
		reader = strings.NewReader(c.form.Encode())
	case c.body == nil:
		reader = http.NoBody // calls the guide shows without a body
	default:
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, 0, fmt.Errorf("encoding request: %w", err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+c.path, reader)
	if err != nil {
		return nil, 0, fmt.Errorf("building request: %w", err)
	}
	// The header values that never change are shared, not built per call.
	req.Header = make(http.Header, 6)
	if c.form != nil {
		req.Header["Content-Type"] = headerForm
	} else {
		req.Header["Content-Type"] = headerJSON
	}
	req.Header["Accept"] = headerJSON
	req.Header["X-Idap-Native-Client"] = headerTrue
	req.Header["User-Agent"] = p.userAgent
	if c.basicUser != "" {
		req.SetBasicAuth(c.basicUser, c.basicPass)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookies != nil {
		c.cookies.apply(req)
	}

	start := time.Now()
	resp, err := p.http.RoundTrip(req)
	if p.cfg.Observe != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		defer func() { p.cfg.Observe(c.op, status, time.Since(start)) }()
	}
	if err != nil {
		// Strip the URL's query and any detail that might carry data: the
		// url.Error text holds only method, URL (no secrets in ours) and cause.
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading response: %w", err)
	}
	if c.cookies != nil {
		c.cookies.update(resp)
	}
	if resp.StatusCode != http.StatusOK {
		if isHTML(resp, body) {
			return body, resp.StatusCode, fmt.Errorf("%w: %w", ErrStatus, ErrHTML)
		}
		return body, resp.StatusCode, fmt.Errorf("%w %d", ErrStatus, resp.StatusCode)
	}
	if isHTML(resp, body) {
		return nil, resp.StatusCode, ErrHTML
	}
	return body, resp.StatusCode, nil
}

// Header values sent with every call.
var (
	headerJSON = []string{"application/json"}
	headerForm = []string{"application/x-www-form-urlencoded"}
	headerTrue = []string{"true"}
)

// readBody reads up to maxBody bytes of a response: in one read of the
// announced length when there is one, as for every tenant answer.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxBody {
		body := make([]byte, n)
		_, err := io.ReadFull(resp.Body, body)
		return body, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxBody))
}

// isHTML reports an HTML page: by its media type, or by its first
// character when the type says nothing useful.
func isHTML(resp *http.Response, body []byte) bool {
	ct := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if strings.EqualFold(strings.TrimSpace(ct), "text/html") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}

// envelopeOnly sends c and decodes the envelope, leaving its Result raw.
func (p *provider) envelopeOnly(ctx context.Context, c call) (*envelope, error) {
	body, err := p.do(ctx, c)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, p.upstream(c.op, http.StatusOK, ErrMalformed)
	}
	return &env, nil
}

// envelopeCall sends c and decodes the envelope and its Result as a login
// step, in one pass over the body when the Result is an object (or null),
// as it is in every login answer.
func (p *provider) envelopeCall(ctx context.Context, c call) (*envelope, *result, error) {
	body, err := p.do(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	var step struct {
		envelope
		Result *result `json:"Result"`
	}
	if err := decodeAnswer(body, &step); err == nil {
		if step.Result == nil {
			step.Result = &result{}
		}
		return &step.envelope, step.Result, nil
	}
	// Not the usual shape: decode in two steps to say which part is wrong.
	var env envelope
	if err := decodeAnswer(body, &env); err != nil {
		return nil, nil, p.upstream(c.op, http.StatusOK, ErrMalformed)
	}
	var res result
	if len(env.Result) > 0 && string(env.Result) != "null" {
		if err := decodeAnswer(env.Result, &res); err != nil {
			return nil, nil, p.upstream(c.op, http.StatusOK, fmt.Errorf("%w: Result", ErrMalformed))
		}
	}
	return &env, &res, nil
}

// message returns the tenant's failure message for logs.
func (e *envelope) message() string {
	var parts []string
	if e.Message != nil && *e.Message != "" {
		parts = append(parts, *e.Message)
	}
	if e.ErrorID != nil && *e.ErrorID != "" {
		parts = append(parts, "ErrorID "+*e.ErrorID)
	}
	if len(parts) == 0 {
		return "the tenant said success:false without a message"
	}
	return strings.Join(parts, "; ")
}
