// Package upstream holds what every client of an identity provider (and of
// Redis) needs alike: a CA bundle to trust, an HTTP client that trusts it,
// and a check of the tenant URL.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// RootCAs reads a PEM bundle of CAs to trust instead of the system's.
func RootCAs(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// IdlePerHost is how many idle connections to one tenant host a client
// keeps open. A login storm holds about as many calls in flight as logins
// per second times the tenant's answer time (1,000 logins/s at 100 ms is
// 100); connections above this bound are closed when they fall idle and
// dialled (with a TLS handshake) again at the next burst.
const IdlePerHost = 256

// ClientOptions are the settings of NewHTTPClient.
type ClientOptions struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string
	// MaxIdlePerHost is how many idle connections to a host are kept.
	MaxIdlePerHost int
	// MaxConnsPerHost bounds the connections open to a host at once,
	// counted from the dial to the close (0: no bound); calls beyond what
	// they carry wait for a stream or a connection. A tenant that speaks
	// HTTP/2 carries many calls on each.
	MaxConnsPerHost int
	// OnConnection, when set, is told of each connection opened (+1) and
	// closed (-1), for a gauge.
	OnConnection func(delta int)
}

// NewHTTPClient returns a client with its own connection pool that trusts
// o.CAFile (or the system's CAs when empty) and speaks TLS 1.2 or later.
// The providers send through its transport (Direct), so no redirect is
// followed (a tenant that moves a login says so in its answer). It keeps
// up to o.MaxIdlePerHost idle connections to each host, with no bound
// across hosts (net/http's default of 100 in all would close connections
// to a busy tenant below it), and has at most o.MaxConnsPerHost open to a
// host at once, over HTTP/1.1 and HTTP/2 alike.
func NewHTTPClient(o ClientOptions) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = o.MaxIdlePerHost
	tr.MaxConnsPerHost = o.MaxConnsPerHost
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pool, err := RootCAs(o.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if o.OnConnection == nil && o.MaxConnsPerHost <= 0 {
		return &http.Client{Transport: tr}, nil
	}
	b := &bounded{max: o.MaxConnsPerHost, told: o.OnConnection, open: map[string]int{}}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !b.take(addr) {
			return nil, errAtBound
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			b.give(addr)
			return nil, err
		}
		return &countedConn{Conn: c, closed: func() { b.give(addr) }}, nil
	}
	return &http.Client{Transport: &boundedTransport{Transport: tr}}, nil
}

// bounded counts the connections open to each host and holds them to
// max.
//
// net/http's MaxConnsPerHost alone is not a bound over HTTP/2: the
// transport stops counting a connection whose streams are all in use
// (it drops it from its pool of idle connections, though the connection
// stays open and carries its calls) and dials another in its place, so a
// tenant under a login storm saw several times the configured number.
// The dialer counts what is really open, from the dial to the close.
type bounded struct {
	max  int
	told func(delta int)

	mu   sync.Mutex
	open map[string]int
}

// errAtBound is the dialer's answer when max connections to the host are
// open: nothing was sent, and the call waits for a stream or a
// connection (boundedTransport).
var errAtBound = errors.New("upstream: every connection to the tenant that max_connections allows is open and busy")

func (b *bounded) take(addr string) bool {
	b.mu.Lock()
	if b.max > 0 && b.open[addr] >= b.max {
		b.mu.Unlock()
		return false
	}
	b.open[addr]++
	b.mu.Unlock()
	if b.told != nil {
		b.told(1)
	}
	return true
}

func (b *bounded) give(addr string) {
	b.mu.Lock()
	if b.open[addr]--; b.open[addr] <= 0 {
		delete(b.open, addr)
	}
	b.mu.Unlock()
	if b.told != nil {
		b.told(-1)
	}
}

// boundedTransport sends a call again, after a short wait, when it found
// every connection to the tenant open and busy: over HTTP/2 a stream
// frees within a call's time; over HTTP/1.1 net/http's own queue
// (MaxConnsPerHost) already waits for a connection, so this happens only
// in the moment a closing connection is counted.
type boundedTransport struct{ *http.Transport }

// atBoundWait is the longest wait between two tries of a call held back
// by the bound.
const atBoundWait = 20 * time.Millisecond

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	wait := time.Millisecond
	for {
		resp, err := t.Transport.RoundTrip(req)
		if !errors.Is(err, errAtBound) {
			return resp, err
		}
		// Nothing was sent; the body (closed by the transport) is read
		// again from the start.
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		tm := time.NewTimer(wait + rand.N(wait))
		select {
		case <-req.Context().Done():
			tm.Stop()
			return nil, fmt.Errorf("%w (%w)", req.Context().Err(), err)
		case <-tm.C:
		}
		wait = min(2*wait, atBoundWait)
	}
}

// countedConn tells of its close once.
type countedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.closed)
	return c.Conn.Close()
}

// Direct sends requests straight through c's transport: no redirect is
// followed (a tenant that moves a login says so in its answer), no cookie
// jar is used (a provider keeps each login's cookies itself), and no
// per-request header copy is made for redirects that never happen. Errors
// read as http.Client's do ("Post "<url>": ...").
func Direct(c *http.Client) http.RoundTripper {
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return direct{rt}
}

type direct struct{ rt http.RoundTripper }

func (d direct) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.rt.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: urlErrorOp(req.Method), URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// urlErrorOp is http.Client's Op for an error: "Post", "Get", ...
func urlErrorOp(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + strings.ToLower(method[1:])
}

// CheckURL reports what is wrong with a tenant URL, starting with the
// configuration key ("url: ..."); example shows the expected form.
func CheckURL(raw string, allowHTTP bool, example string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("url: the tenant URL is required, such as %s", example)
	case err != nil || u.Host == "":
		return fmt.Errorf("url: %q is not a URL; use https://<tenant host>", raw)
	case u.Scheme == "http" && !allowHTTP:
		return fmt.Errorf("url: %q is plain HTTP; use https://, or set allow_http = true for a lab tenant", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("url: scheme %q is not supported; use https://", u.Scheme)
	}
	return nil
}
