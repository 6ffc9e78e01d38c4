// Package cyberark is the CyberArk Identity provider (also Centrify and
// Idaptive tenants): a client for /Security/StartAuthentication,
// /Security/OnDemandChallenge and /Security/AdvanceAuthentication that maps
// the tenant's challenges to the neutral conversation model of package
// identity.
package cyberark

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

// TypeName is the type of a [[provider]] block of the CyberArk Identity provider.
const TypeName = "cyberark"

// The ways a login starts.
const (
	// ModeLogin calls /Security/StartAuthentication as the user.
	ModeLogin = "login"
	// ModeOnDemand calls /Security/OnDemandChallenge with a service
	// account's token, naming the user and a challenge policy.
	ModeOnDemand = "ondemand"
)

// Config configures a CyberArk Identity provider.
type Config struct {
	// Name is the provider's name in the configuration and in logs.
	Name string `toml:"-"`
	// URL is the tenant URL, such as https://abc1234.id.cyberark.cloud.
	URL string `toml:"url"`
	// TenantID is sent as TenantId when set; optional for most tenants.
	TenantID string `toml:"tenant_id"`
	// Mode is ModeLogin (default) or ModeOnDemand.
	Mode string `toml:"mode"`
	// AllowHTTP permits a plain http:// URL (for tests and labs only).
	AllowHTTP bool `toml:"allow_http"`
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `toml:"ca_file,path"`
	// Timeout bounds each HTTP call. Default 10s.
	Timeout time.Duration `toml:"timeout"`
	// Retries is how often a safe call is retried after a transport fault,
	// 429 or 5xx. Default 2. Answers and StartOOB are never retried.
	Retries int `toml:"-"`
	// RetryBackoff is the first retry's delay; it doubles after. Default 200ms.
	RetryBackoff time.Duration `toml:"-"`
	// PollInterval is how often an out-of-band mechanism may be polled.
	// Default 1s, as the tenant's API documentation asks.
	PollInterval time.Duration `toml:"poll_interval"`
	// PasswordOptional accepts logins whose challenges have no password
	// mechanism, so that the RADIUS password is not checked by the tenant.
	// Default false: such logins are rejected.
	PasswordOptional bool `toml:"password_optional"`
	// AllowNoMFA accepts logins in which the tenant asked for the password
	// alone. Default false: mfabridge rejects a LoginSuccess that follows
	// no factor beyond the password, and when it is allowed, every such
	// login is logged as a warning.
	AllowNoMFA bool `toml:"allow_no_mfa"`
	// PodHosts are further host names a PodFqdn redirect may lead to
	// (exact names, or "*.example.com" for any name below example.com).
	// Without them a redirect is followed only to a host in the configured
	// URL's own domain: the same host, or a sibling below its parent
	// domain (abc1234.my.idaptive.app -> corp.my.idaptive.app).
	PodHosts []string `toml:"pod_hosts"`

	// AppID, ClientID, ClientSecret and Scope are the service account's
	// OAuth2 client-credentials settings (ModeOnDemand only).
	AppID        string `toml:"app_id"`
	ClientID     string `toml:"client_id"`
	ClientSecret string `toml:"client_secret,secret"`
	Scope        string `toml:"scope"`
	// PolicyModifier names the challenge policy (ModeOnDemand only).
	PolicyModifier string `toml:"policy_modifier"`

	// UserAgent is sent with every call. Default "mfabridge".
	UserAgent string `toml:"-"`
	// HTTPClient replaces the default client (its Transport is used as is).
	HTTPClient *http.Client `toml:"-"`
	// Logger receives debug and warning lines; never secrets.
	Logger logrus.FieldLogger `toml:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `toml:"-"`
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

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	if err := upstream.CheckURL(c.URL, c.AllowHTTP, "https://abc1234.id.cyberark.cloud"); err != nil {
		errs = append(errs, err)
	}
	switch c.Mode {
	case "", ModeLogin:
	case ModeOnDemand:
		for _, f := range []struct{ name, v string }{
			{"app_id", c.AppID}, {"client_id", c.ClientID}, {"client_secret", c.ClientSecret}, {"policy_modifier", c.PolicyModifier},
		} {
			if f.v == "" {
				errs = append(errs, fmt.Errorf("%s: required when mode = %q", f.name, ModeOnDemand))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("mode: %q is not a mode; use %q or %q", c.Mode, ModeLogin, ModeOnDemand))
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("ca_file: %v", err))
		}
	}
	for _, h := range c.PodHosts {
		if err := checkPodHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout < 0 || c.PollInterval < 0 || c.Retries < 0 {
		errs = append(errs, errors.New("timeout, poll_interval and retries must not be negative"))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, errors.New("max_connections: must not be negative (0: the default, 256)"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeLogin
	}
	if c.Name == "" {
		c.Name = "cyberark"
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
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.UserAgent == "" {
		c.UserAgent = "mfabridge"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		c.Logger = l
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// Open validates c and returns the provider.
func (c Config) Open() (identity.Provider, error) {
	return c.open()
}

// New opens the provider of a [[provider]] block (identity.Settings).
func (c *Config) New(env identity.Env) (identity.Provider, error) {
	o := *c
	o.Name, o.Logger, o.Observe, o.OnConnection = env.Name, env.Logger, env.Observe, env.OnConnection
	return o.open()
}

// RolesMissing says what roles need: the service account (docs/roles.md).
func (c *Config) RolesMissing(name string) string {
	if c.AppID == "" || c.ClientID == "" || c.ClientSecret == "" {
		return fmt.Sprintf("roles are looked up with the service account of provider %q: set its app_id, client_id and client_secret (see docs/roles.md)", name)
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
	p := &provider{
		cfg:  c,
		http: upstream.Direct(hc), // a tenant moves a login with PodFqdn, not a redirect
		base: strings.TrimRight(c.URL, "/"),
		log:  c.Logger.WithField("provider", c.Name),

		userAgent: []string{c.UserAgent},
	}
	p.tokens = &tokenSource{p: p}
	p.groups = newGroupCache()
	if strings.HasPrefix(c.URL, "http://") {
		p.log.Warn("the tenant URL is plain HTTP: passwords and codes cross the network unencrypted; use it for tests only")
	}
	return p, nil
}

// provider implements identity.Provider for CyberArk Identity.
type provider struct {
	cfg    Config
	http   http.RoundTripper
	base   string
	log    logrus.FieldLogger
	tokens *tokenSource
	// userAgent is cfg.UserAgent as a header value.
	userAgent []string

	// notBefore holds, per user, the time before which the tenant asked
	// not to try again (RetryWaitingTime).
	notBefore sync.Map

	groups *cache.Cache // roles by user id (see newGroupCache)
}

var _ identity.Provider = (*provider)(nil)

func (p *provider) Name() string { return p.cfg.Name }
