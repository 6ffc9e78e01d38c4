// Package auth0 is the Auth0 provider: the password (or password-realm)
// grant with the user's RADIUS password, and, when Auth0 answers
// mfa_required, the MFA API (/mfa/authenticators, /mfa/challenge and the
// mfa-otp, mfa-oob and mfa-recovery-code grants) mapped to the neutral
// conversation model of package identity.
package auth0

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

// TypeName is the type of a [[provider]] block of the Auth0 provider.
const TypeName = "auth0"

// MinPollInterval is the fastest Auth0 allows polling a push (its rate
// limit for the mfa-oob exchange is 12 a minute per session).
const MinPollInterval = 5 * time.Second

// The client authentication methods of an Auth0 application.
const (
	ClientAuthPost  = "client_secret_post"
	ClientAuthBasic = "client_secret_basic"
)

// Config configures an Auth0 provider.
type Config struct {
	// Name is the provider's name in the configuration and in logs.
	Name string `toml:"-"`
	// URL is the tenant's domain as a URL: https://example.eu.auth0.com
	// (or a custom domain).
	URL string `toml:"url"`
	// ClientID and ClientSecret are those of a confidential application
	// with the Password (or Password Realm) and MFA grant types enabled.
	ClientID     string `toml:"client_id"`
	ClientSecret string `toml:"client_secret,secret"`
	// ClientAuth is how the application authenticates at the token and
	// challenge endpoints, as its "Token Endpoint Authentication Method"
	// in Auth0 says: ClientAuthPost (default) sends client_secret in the
	// body, ClientAuthBasic in an Authorization: Basic header.
	ClientAuth string `toml:"client_auth"`
	// Realm, when set, uses the password-realm grant with this connection
	// (database) name; otherwise the password grant and the tenant's
	// default directory.
	Realm string `toml:"realm"`
	// Audience and Scope are sent with the password grant. Scope default
	// "openid".
	Audience string `toml:"audience"`
	Scope    string `toml:"scope"`
	// RolesClaim names the claim of the ID token (or access token) that
	// holds the user's roles or groups, such as
	// "https://example.com/roles".
	RolesClaim string `toml:"roles_claim"`
	// AllowNoMFA accepts users for whom Auth0 asks no MFA (the password
	// grant returns tokens at once). Default false: they are rejected.
	AllowNoMFA bool `toml:"allow_no_mfa"`
	// AllowHTTP permits a plain http:// URL (tests and labs).
	AllowHTTP bool `toml:"allow_http"`
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `toml:"ca_file,path"`
	// Timeout bounds each HTTP call. Default 10s.
	Timeout time.Duration `toml:"timeout"`
	// Retries is how often a safe call (the password grant, a poll, the
	// authenticator list) is retried after a transport fault or a 5xx.
	// Default 2. Challenges (which send a text or a push) and code
	// grants are never retried.
	Retries int `toml:"-"`
	// RetryBackoff is the first retry's delay. Default 200ms.
	RetryBackoff time.Duration `toml:"-"`
	// PollInterval is how often a push is polled; at least 5s.
	PollInterval time.Duration `toml:"poll_interval"`

	HTTPClient *http.Client       `toml:"-"`
	Logger     logrus.FieldLogger `toml:"-"`
	Now        func() time.Time   `toml:"-"`
	// Observe, when set, is told of every HTTP call (for metrics).
	Observe func(op string, status int, d time.Duration) `toml:"-"`
	// MaxConnections bounds the connections to the tenant at once; calls
	// beyond it wait for one. Default 256. A tenant that speaks HTTP/2
	// carries many calls on each.
	MaxConnections int `toml:"max_connections"`
	// OnConnection, when set, is told of each connection to the tenant
	// opened (+1) and closed (-1).
	OnConnection func(delta int) `toml:"-"`
}

// Validate reports every problem of c at once. Messages start with the
// configuration key they are about.
func (c *Config) Validate() error {
	var errs []error
	if err := upstream.CheckURL(c.URL, c.AllowHTTP, "https://example.eu.auth0.com"); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required: the Auth0 application's Client ID"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret: required: the Auth0 application's Client Secret (or client_secret_file)"))
	}
	switch c.ClientAuth {
	case "", ClientAuthPost, ClientAuthBasic:
	default:
		errs = append(errs, fmt.Errorf("client_auth: %q is not a method; use %q (Auth0's \"Post\") or %q (\"Basic\"), as the application's Token Endpoint Authentication Method says", c.ClientAuth, ClientAuthPost, ClientAuthBasic))
	}
	if c.PollInterval != 0 && c.PollInterval < MinPollInterval {
		errs = append(errs, fmt.Errorf("poll_interval: %v is faster than Auth0 allows; use at least 5s", c.PollInterval))
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("ca_file: %v", err))
		}
	}
	if c.MaxConnections < 0 {
		errs = append(errs, errors.New("max_connections: must not be negative (0: the default, 256)"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "auth0"
	}
	if c.Scope == "" {
		c.Scope = "openid"
	}
	if c.ClientAuth == "" {
		c.ClientAuth = ClientAuthPost
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 256
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 2
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.PollInterval < MinPollInterval {
		c.PollInterval = MinPollInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		c.Logger = l
	}
}

// Open validates c and returns the provider.
func (c Config) Open() (identity.Provider, error) { return c.open() }

// New opens the provider of a [[provider]] block (identity.Settings).
func (c *Config) New(env identity.Env) (identity.Provider, error) {
	o := *c
	o.Name, o.Logger, o.Observe, o.OnConnection = env.Name, env.Logger, env.Observe, env.OnConnection
	return o.open()
}

// RolesMissing says what roles need: the claim of the ID token that holds
// them.
func (c *Config) RolesMissing(name string) string {
	if c.RolesClaim == "" {
		return fmt.Sprintf("roles come from the token of provider %q: set its roles_claim", name)
	}
	return ""
}

var _ identity.RoleSettings = (*Config)(nil)

func (c Config) open() (*provider, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	hc := c.HTTPClient
	if hc == nil {
		var err error
		if hc, err = upstream.NewHTTPClient(upstream.ClientOptions{CAFile: c.CAFile, MaxIdlePerHost: upstream.IdlePerHost, MaxConnsPerHost: c.MaxConnections, OnConnection: c.OnConnection}); err != nil {
			return nil, err
		}
	}
	p := &provider{cfg: c, http: upstream.Direct(hc), base: strings.TrimRight(c.URL, "/"), log: c.Logger.WithField("provider", c.Name)}
	if strings.HasPrefix(c.URL, "http://") {
		p.log.Warn("the tenant URL is plain HTTP: passwords and codes cross the network unencrypted; use it for tests only")
	}
	return p, nil
}
