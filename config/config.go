// Package config reads mfabridge's configuration file (radius.conf, TOML):
// strictly decoded, defaults filled in one place, and every problem reported
// at once with the file, the line and what to do.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radattr"
)

// Config is the whole configuration.
type Config struct {
	Server   Server     `toml:"server"`
	Log      Log        `toml:"log"`
	Sessions Sessions   `toml:"sessions"`
	Lockout  Lockout    `toml:"lockout"`
	Texts    Texts      `toml:"texts"`
	Redis    Redis      `toml:"redis"`
	Metrics  Metrics    `toml:"metrics"`
	RadSec   RadSec     `toml:"radsec"`
	Clients  []Client   `toml:"client"`
	Provider []Provider `toml:"provider"`

	// File is the path the configuration was read from.
	File string `toml:"-"`

	// fileWarnings are found while secrets are read (a secret file that
	// others may read); Warnings reports them.
	fileWarnings []string
}

// RadSec holds the settings of RADIUS over TLS (RFC 6614) and TCP
// (RFC 6613).
type RadSec struct {
	// Listen is the TCP addresses RADIUS over TLS is served on, such as
	// "0.0.0.0:2083". Default: none (off).
	Listen []string `toml:"listen"`
	// CertFile and KeyFile are mfabridge's certificate (chain) and key, in
	// PEM; ClientCAFile the CAs a NAS's certificate must chain to (mutual
	// TLS: a NAS without a trusted certificate is refused at the
	// handshake).
	CertFile     string `toml:"cert_file"`
	KeyFile      string `toml:"key_file"`
	ClientCAFile string `toml:"client_ca_file"`
	// Versions are the RADIUS versions offered over TLS and DTLS (by ALPN,
	// draft-ietf-radext-radiusv11): "1.0" (historic RADIUS over TLS) and
	// "1.1" (RADIUS/1.1, without MD5). Default both: a NAS that offers
	// RADIUS/1.1 gets it, any other historic RADIUS/TLS. ["1.1"] alone
	// refuses a NAS that does not negotiate RADIUS/1.1.
	Versions []string `toml:"versions"`
	// DTLSListen is the UDP addresses RADIUS over DTLS (RFC 7360) is
	// served on, such as "0.0.0.0:2083", with the certificates above.
	// Default: none (off).
	DTLSListen []string `toml:"dtls_listen"`
	// TCPListen is the addresses RADIUS over plain TCP is served on (RFC
	// 6613), for networks that protect the traffic otherwise. Default:
	// none (off).
	TCPListen []string `toml:"tcp_listen"`
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default 60s.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxConnections and MaxPerClient bound the connections open at once,
	// in all and from one NAS. Defaults 1024 and 16.
	MaxConnections int `toml:"max_connections"`
	MaxPerClient   int `toml:"max_per_client"`
}

// Server holds the RADIUS listener's settings.
type Server struct {
	// Listen is the UDP addresses to serve on. Default ["0.0.0.0:1812", "[::]:1812"].
	Listen []string `toml:"listen"`
	// MaxInFlight bounds the requests processed at once. Default 1024.
	// Requests held while a push is approved are not counted: see MaxHeld.
	MaxInFlight int `toml:"max_in_flight"`
	// MaxHeld bounds the requests held while a push or call is approved.
	// Past it, a new push is answered with "approve, then press Enter"
	// (or a reject for push = "wait"). Default 10000.
	MaxHeld int `toml:"max_held"`
	// ReplyCache is how long a reply is kept to answer retransmissions
	// (5s to 30s, RFC 5080). Default 10s.
	ReplyCache Duration `toml:"reply_cache"`
	// RequestTimeout bounds the work on one request. Default 30s.
	RequestTimeout Duration `toml:"request_timeout"`
	// RejectDelay delays every Access-Reject by this much plus up to half
	// of it again at random, to slow down guessing. Default 1s; "0s" turns
	// it off.
	RejectDelay *Duration `toml:"reject_delay"`
	// AccountingListen is the UDP addresses RADIUS accounting (RFC 2866) is
	// served on. Default: none, unless a client sets accounting = true;
	// then the hosts of Listen on port 1813.
	AccountingListen []string `toml:"accounting_listen"`
}

// Lockout holds the settings that lock out a user after repeated failures.
type Lockout struct {
	// Attempts is how many failed logins of a user from one source (the
	// NAS and its Calling-Station-Id) within Window lock that source out
	// for that user; from as many failures overall, the user's new logins
	// from other sources are slowed. Default 5; 0 turns counting off.
	Attempts *int `toml:"attempts"`
	// SourceAttempts failures from one Calling-Station-Id, whatever the
	// users, lock that station out. Default 4 × attempts.
	SourceAttempts int `toml:"source_attempts"`
	// UserAttempts failures of a user from all sources make new logins
	// from sources that have not succeeded lately try again later.
	// Default 10 × attempts.
	UserAttempts int `toml:"user_attempts"`
	// MaxDelay bounds the delay of a slowed login. Default 3s.
	MaxDelay Duration `toml:"max_delay"`
	// Window is the time in which failures are counted. Default 15m.
	Window Duration `toml:"window"`
	// Duration is how long a lockout lasts. Default 5m.
	Duration Duration `toml:"duration"`
}

// Log holds logging settings.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `toml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `toml:"level"`
}

// Sessions holds the conversation store's settings.
type Sessions struct {
	// TTL is how long an Access-Challenge's State stays valid. Default 120s.
	TTL Duration `toml:"ttl"`
	// Max bounds the conversations waiting at a challenge. Default 100000.
	Max int `toml:"max"`
	// Store is "memory" (default: this process only) or "redis" (shared
	// by every instance on the same Redis; see [redis]).
	Store string `toml:"store"`
}

// Metrics holds the settings of the Prometheus endpoint.
type Metrics struct {
	// Enabled serves /metrics, /healthz and /readyz. Default false.
	Enabled bool `toml:"enabled"`
	// Listen is the HTTP address. Default "127.0.0.1:9812" (loopback).
	Listen string `toml:"listen"`
}

// Redis holds the settings of the shared session store.
type Redis struct {
	// Address lists host:port. One address: a single server (or a proxy);
	// several: a Redis Cluster; with MasterName: Sentinels.
	Address []string `toml:"address"`
	// MasterName is the Sentinel master's name.
	MasterName string `toml:"master_name"`
	// Username and Password authenticate (ACL); the password may come from
	// PasswordFile or PasswordEnv.
	Username     string `toml:"username"`
	Password     string `toml:"password"`
	PasswordFile string `toml:"password_file"`
	PasswordEnv  string `toml:"password_env"`
	// DB is the database number (not with Cluster). Default 0.
	DB int `toml:"db"`
	// TLS connects with TLS; CAFile trusts a private CA.
	TLS    bool   `toml:"tls"`
	CAFile string `toml:"ca_file"`
	// KeyPrefix starts every key mfabridge writes. Default "mfabridge:".
	KeyPrefix string `toml:"key_prefix"`
	// DialTimeout bounds connecting; Timeout bounds each command.
	// Defaults 2s and 1s.
	DialTimeout Duration `toml:"dial_timeout"`
	Timeout     Duration `toml:"timeout"`
	// PoolSize is how many connections to each Redis server carry the
	// commands of every request, pipelined (rounded up to a power of two,
	// at most 256). Default 0: one.
	PoolSize int `toml:"pool_size"`
	// Fallback is what happens to new logins while Redis cannot be
	// reached: "refuse" (default: the client's upstream_failure action)
	// or "memory" (kept in this instance until Redis is back).
	Fallback string `toml:"fallback"`
	// ShareReplies shares the retransmission reply cache too, so a
	// retransmission that reaches another instance is answered once.
	// Default true.
	ShareReplies *bool `toml:"share_replies"`
}

// Client is a NAS allowed to send requests.
type Client struct {
	// Name identifies the NAS in logs.
	Name string `toml:"name"`
	// Address lists IP addresses or CIDR prefixes the NAS sends from.
	Address []string `toml:"address"`
	// Secret is the RADIUS shared secret; or read it from SecretFile or
	// the environment variable SecretEnv.
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	SecretEnv  string `toml:"secret_env"`
	// Provider names the [[provider]] that checks this NAS's users.
	// Default: the only provider, when there is one.
	Provider string `toml:"provider"`
	// RequireMessageAuthenticator drops Access-Requests without a
	// Message-Authenticator. Default true.
	RequireMessageAuthenticator *bool `toml:"require_message_authenticator"`
	// LimitProxyState drops Access-Requests that carry Proxy-State but no
	// Message-Authenticator (when Message-Authenticator is not required).
	// Default true.
	LimitProxyState *bool `toml:"limit_proxy_state"`
	// RateLimit is the most requests per second accepted from this NAS;
	// bursts of twice as many pass. Default 500; 0 turns it off.
	RateLimit *int `toml:"rate_limit"`
	// Push is what a request does while a push or call waits for the
	// user: "adaptive" (the default) holds it and, when the push is not
	// approved within the NAS's time (NASWait), switches once to an
	// Access-Challenge on the same push ("approve, then press Enter"), so
	// that the NAS is answered in time and no second push is sent;
	// "wait" holds it and, past the NAS's time, rejects it (for a NAS that
	// cannot show a challenge); "prompt" challenges at once.
	Push string `toml:"push"`
	// PushWait bounds how long a push or call is waited for once it was
	// sent. Default 25s.
	PushWait Duration `toml:"push_wait"`
	// Menu is how a menu of mechanisms is written: "lines" (a line each)
	// or "compact" (one line: "Choose how to sign in: 1) app 2) SMS
	// 3) push. Enter a number: ") for a NAS that shows one Reply-Message
	// only, such as pam_radius_auth 2.0. Default "lines"; "compact" for
	// nas_type = "pam_radius".
	Menu string `toml:"menu"`
	// TLSNames, for RADIUS over TLS, are the names the NAS's certificate
	// must carry (a DNS name or the subject's common name; "*" as in shell
	// patterns). Empty: any certificate radsec.client_ca_file trusts.
	TLSNames []string `toml:"tls_names"`
	// Accounting answers this NAS's Accounting-Requests (on
	// server.accounting_listen) and logs each Start, Stop and
	// Interim-Update. Default false: they are dropped.
	Accounting bool `toml:"accounting"`
	// NASType names the NAS or proxy in front of mfabridge, whose stock
	// timeout then gives NASWait (see NASTypes and docs/nas.md).
	NASType string `toml:"nas_type"`
	// NASWait is how long the NAS (or a proxy between it and mfabridge)
	// waits for the answer to one Access-Request, its retransmissions
	// included: its timeout × tries. mfabridge answers a held request
	// before it ends. Default: the NASType's, else 10s.
	NASWait Duration `toml:"nas_wait"`
	// Prefer lists mechanisms to start without a menu, in order of
	// preference: kinds ("push", "code", "oob_code", "phone", "question")
	// or the provider's names ("OATH", "SMS"). The first one the user has
	// is started; with none of them, or an empty list, the user gets a
	// menu. Default: empty.
	Prefer []string `toml:"prefer"`
	// InlineDelimiter, when set, lets the password field carry the second
	// factor after it: "password,123456" (a code) or "password,push",
	// "password,sms", "password,phone", "password,email" (start that
	// factor and hold the request until it is approved or its link is
	// followed). For devices that cannot show an Access-Challenge.
	// Default: empty (off).
	InlineDelimiter string `toml:"inline_delimiter"`
	// User-name rules, applied in this order before anything else:
	// StripDomain turns DOMAIN\user into user, StripRealm turns
	// user@realm into user, LoginSuffix is appended to a name without @,
	// Lowercase lower-cases the result.
	StripDomain bool   `toml:"strip_domain"`
	StripRealm  bool   `toml:"strip_realm"`
	LoginSuffix string `toml:"login_suffix"`
	Lowercase   bool   `toml:"lowercase"`
	// AllowedRoles, when set, lets only members of one of these roles or
	// groups in, checked after MFA.
	AllowedRoles []string `toml:"allowed_roles"`
	// Reply lists attributes every Access-Accept to this NAS carries, as
	// "Name = value"; RoleReply adds attributes per role or group.
	Reply     []string            `toml:"reply"`
	RoleReply map[string][]string `toml:"role_reply"`
	// UpstreamFailure is "reject" (default: Access-Reject with a message)
	// or "drop" (no answer, so the NAS fails over to another server).
	UpstreamFailure string `toml:"upstream_failure"`

	// Prefixes are the parsed Address entries.
	Prefixes []netip.Prefix `toml:"-"`
	// ReplyAttrs and RoleReplyAttrs are the parsed Reply and RoleReply.
	ReplyAttrs     []radattr.Attr            `toml:"-"`
	RoleReplyAttrs map[string][]radattr.Attr `toml:"-"`
}

// MapUser applies the client's user-name rules to what the NAS sent.
func (c *Client) MapUser(name string) string {
	if c.StripDomain {
		if i := strings.LastIndexByte(name, '\\'); i >= 0 {
			name = name[i+1:]
		}
	}
	if c.StripRealm {
		if i := strings.LastIndexByte(name, '@'); i > 0 {
			name = name[:i]
		}
	}
	if c.LoginSuffix != "" && !strings.Contains(name, "@") {
		name += c.LoginSuffix
	}
	if c.Lowercase {
		name = strings.ToLower(name)
	}
	return name
}

// NeedsGroups reports whether the client's rules depend on the user's roles.
func (c *Client) NeedsGroups() bool {
	return len(c.AllowedRoles) > 0 || len(c.RoleReply) > 0
}

// Provider is an identity provider: a [[provider]] block. Its name and
// type are mfabridge's; every other key of the block belongs to the type,
// whose package decodes, defaults and checks it (see package
// identity/providers).
type Provider struct {
	// Name is how clients refer to the provider.
	Name string `toml:"name"`
	// Type names the provider's type in the registry; default
	// providers.Default.
	Type string `toml:"type"`
	// PollRate bounds the polls of held pushes sent to this provider's
	// tenant, all held pushes together, per second (poll_rate). Default
	// DefaultPollRate.
	PollRate int `toml:"poll_rate"`
	// Settings are the type's own keys, decoded into its settings.
	Settings identity.Settings `toml:"-"`

	// url is the block's url key, if any, for the warning about plain
	// HTTP.
	url string
}

// accountingAddrs are the hosts of listen on port 1813.
func accountingAddrs(listen []string) []string {
	var out []string
	for _, l := range listen {
		if host, _, err := net.SplitHostPort(l); err == nil {
			out = append(out, net.JoinHostPort(host, "1813"))
		}
	}
	return out
}

// The menu forms of a client.
const (
	MenuLines   = "lines"
	MenuCompact = "compact"
)

// The push modes of a client.
const (
	PushAdaptive = "adaptive"
	PushWait     = "wait"
	PushPrompt   = "prompt"
)

// DefaultPollRate is a provider's poll_rate when radius.conf sets none:
// the polls a second that all of its held pushes may send to the tenant
// together. With n pushes held at once, each is polled about every
// n/poll_rate seconds (and never more often than the tenant's interval).
const DefaultPollRate = 500

// DefaultNASWait is the NAS's time for one request when radius.conf names
// neither nas_wait nor nas_type: within what radsecproxy, radtest and
// squid's basic_radius_auth wait (10-15 s) and a FreeRADIUS proxy's
// response_window (20 s).
const DefaultNASWait = 10 * time.Second

// NASTypes are the stock times (timeout × tries) of the NAS and proxies
// docs/nas.md describes, for nas_type.
var NASTypes = map[string]time.Duration{
	"freeradius-proxy": 20 * time.Second, // home_server response_window = 20
	"radsecproxy":      10 * time.Second, // gives up after 10-15 s
	"pam_radius":       3 * time.Second,  // pam_radius_auth waits at least 3 s a server, retries 0
	"ocserv":           30 * time.Second, // radcli: radius_timeout 10, radius_retries 3
	"openvpn":          30 * time.Second, // radiusplugin: wait=30 (docs/nas.md), cannot show challenges
	"fortigate":        5 * time.Second,  // set timeout 5 (FortiOS default)
	"globalprotect":    30 * time.Second, // PAN-OS web server timeout 30 s
	"asa":              12 * time.Second, // AnyConnect before 4.8 waits 12 s (30 s after)
	"radclient":        15 * time.Second, // radclient -t 5 -r 3 (radtest)
}

// Duration is a time.Duration written as "10s", "2m".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration such as "10s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like \"10s\" or \"2m\"", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MessageAuthenticatorRequired reports the effective require_message_authenticator.
func (c *Client) MessageAuthenticatorRequired() bool {
	return c.RequireMessageAuthenticator == nil || *c.RequireMessageAuthenticator
}

// ProxyStateLimited reports the effective limit_proxy_state.
func (c *Client) ProxyStateLimited() bool {
	return c.LimitProxyState == nil || *c.LimitProxyState
}

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, readError{fmt.Errorf("%s: cannot read the configuration: %w", path, err)}
	}
	return Parse(path, string(src))
}

// Parse decodes src (read from file) strictly, fills in defaults, reads
// secrets and validates. The error, if any, is Problems.
func Parse(file, src string) (*Config, error) {
	col := &collector{file: file, index: indexLines(src)}
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		p := Problem{File: file, Msg: "not valid TOML: " + err.Error() + "; see radius.conf.example for the format"}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Msg = pe.Position.Line, "not valid TOML: "+pe.Message+"; see radius.conf.example for the format"
		}
		return nil, Problems{p}
	}
	// The [[provider]] blocks are decoded apart, each by its type.
	blocks, _ := raw["provider"].([]map[string]any)
	if blocks != nil {
		delete(raw, "provider")
	}
	// Every value of the wrong type and every unknown key, in file order;
	// then what is left is decoded and checked as well, so that one run
	// lists every problem.
	checkTypes(col, raw, reflect.TypeOf(Config{}))
	decodeSrc := src
	if len(col.list) > 0 || blocks != nil {
		bad := make([]string, len(col.list))
		for i, p := range col.list {
			bad[i] = p.Key
		}
		var b strings.Builder
		if err := toml.NewEncoder(&b).Encode(without(raw, bad)); err != nil {
			return nil, col.err()
		}
		decodeSrc = b.String()
	}
	var cfg Config
	if _, err := toml.Decode(decodeSrc, &cfg); err != nil {
		// checkTypes let something through the decoder refuses: say it.
		p := Problem{File: file, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) && decodeSrc == src {
			p.Line, p.Key, p.Msg = pe.Position.Line, pe.LastKey, pe.Message
		}
		col.list = append(col.list, p)
		return nil, col.err()
	}
	cfg.File = file
	cfg.Provider = cfg.decodeProviders(col, blocks, filepath.Dir(file))
	cfg.SetDefaults()
	cfg.resolvePaths(filepath.Dir(file))
	cfg.readSecrets(col, filepath.Dir(file))
	cfg.validate(col)
	if err := col.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// SetDefaults fills in every default; it is the one place defaults live.
func (c *Config) SetDefaults() {
	if len(c.Server.Listen) == 0 {
		c.Server.Listen = []string{"0.0.0.0:1812", "[::]:1812"}
	}
	if c.Server.MaxInFlight == 0 {
		c.Server.MaxInFlight = 1024
	}
	if c.Server.MaxHeld == 0 {
		c.Server.MaxHeld = 10000
	}
	if c.Server.ReplyCache.Duration == 0 {
		c.Server.ReplyCache.Duration = 10 * time.Second
	}
	if c.Server.RequestTimeout.Duration == 0 {
		c.Server.RequestTimeout.Duration = 30 * time.Second
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Server.RejectDelay == nil {
		c.Server.RejectDelay = &Duration{time.Second}
	}
	c.Texts.fill()
	if c.Lockout.Attempts == nil {
		n := 5
		c.Lockout.Attempts = &n
	}
	if c.Lockout.Window.Duration == 0 {
		c.Lockout.Window.Duration = 15 * time.Minute
	}
	if c.Lockout.Duration.Duration == 0 {
		c.Lockout.Duration.Duration = 5 * time.Minute
	}
	if c.Sessions.TTL.Duration == 0 {
		c.Sessions.TTL.Duration = 120 * time.Second
	}
	if c.Sessions.Max == 0 {
		c.Sessions.Max = 100000
	}
	if c.Sessions.Store == "" {
		c.Sessions.Store = "memory"
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = "127.0.0.1:9812"
	}
	if len(c.RadSec.Versions) == 0 {
		c.RadSec.Versions = []string{"1.0", "1.1"}
	}
	if c.Redis.KeyPrefix == "" {
		c.Redis.KeyPrefix = "mfabridge:"
	}
	if c.Redis.DialTimeout.Duration == 0 {
		c.Redis.DialTimeout.Duration = 2 * time.Second
	}
	if c.Redis.Timeout.Duration == 0 {
		c.Redis.Timeout.Duration = time.Second
	}
	if c.Redis.Fallback == "" {
		c.Redis.Fallback = "refuse"
	}
	if c.Redis.ShareReplies == nil {
		t := true
		c.Redis.ShareReplies = &t
	}
	if len(c.Server.AccountingListen) == 0 {
		for _, cl := range c.Clients {
			if cl.Accounting {
				c.Server.AccountingListen = accountingAddrs(c.Server.Listen)
				break
			}
		}
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if cl.Provider == "" && len(c.Provider) == 1 {
			cl.Provider = c.Provider[0].Name
		}
		if cl.Push == "" {
			cl.Push = PushAdaptive
		}
		if cl.Menu == "" {
			cl.Menu = MenuLines
			if cl.NASType == "pam_radius" {
				cl.Menu = MenuCompact
			}
		}
		if cl.NASWait.Duration == 0 {
			cl.NASWait.Duration = DefaultNASWait
			if w, ok := NASTypes[cl.NASType]; ok {
				cl.NASWait.Duration = w
			}
		}
		if cl.PushWait.Duration == 0 {
			cl.PushWait.Duration = 25 * time.Second
		}
		if cl.UpstreamFailure == "" {
			cl.UpstreamFailure = "reject"
		}
		if cl.RateLimit == nil {
			n := 500
			cl.RateLimit = &n
		}
	}

}

// resolvePaths makes every path of the file absolute as the secret files
// are: $VARIABLES expanded ($CREDENTIALS_DIRECTORY), and a relative path
// taken from the configuration file's directory, not from wherever
// mfabridge was started.
func (c *Config) resolvePaths(dir string) {
	resolve := func(p *string) {
		if *p == "" {
			return
		}
		*p = os.ExpandEnv(*p)
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&c.Redis.CAFile)
	resolve(&c.RadSec.CertFile)
	resolve(&c.RadSec.KeyFile)
	resolve(&c.RadSec.ClientCAFile)
}

// readSecret fills *value from exactly one of value, file or env. A file
// or variable that holds nothing is an error: an empty secret would start
// a server that can decode no password, or a Redis client that sends none.
// It returns a warning for a secret file that users other than its owner
// and group may read.
func readSecret(col *collector, key string, value *string, file, env, dir string) (warning string) {
	set := 0
	for _, s := range []string{*value, file, env} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		name := key[strings.LastIndexByte(key, '.')+1:]
		col.add(key, "set only one of %s, %s_file and %s_env", name, name, name)
		return
	}
	switch {
	case file != "":
		path := os.ExpandEnv(file) // allows $CREDENTIALS_DIRECTORY/radius-secret
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			col.add(key+"_file", "cannot read %s: %v", path, errors.Unwrap(err))
			return ""
		}
		*value = strings.TrimRight(string(b), "\r\n")
		if *value == "" {
			col.add(key+"_file", "%s is empty; write the secret into it (one line)", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
			return fmt.Sprintf("%s_file: %s can be read by every user of this host; chmod 0640 (owner root, group mfabridge) or 0600", key, path)
		}
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			col.add(key+"_env", "the environment variable %s is not set", env)
			return ""
		}
		if v == "" {
			col.add(key+"_env", "the environment variable %s is empty; set it to the secret", env)
		}
		*value = v
	}
	return ""
}

func (c *Config) readSecrets(col *collector, dir string) {
	for i := range c.Clients {
		cl := &c.Clients[i]
		c.noteFile(readSecret(col, fmt.Sprintf("client[%d].secret", i), &cl.Secret, cl.SecretFile, cl.SecretEnv, dir))
	}
	c.noteFile(readSecret(col, "redis.password", &c.Redis.Password, c.Redis.PasswordFile, c.Redis.PasswordEnv, dir))
}

func (c *Config) noteFile(warning string) {
	if warning != "" {
		c.fileWarnings = append(c.fileWarnings, warning)
	}
}

// ALPN returns the ALPN names of r.Versions, RADIUS/1.1 first, and whether
// RADIUS/1.1 is required.
func (r *RadSec) ALPN() (names []string, requireV11 bool) {
	has := map[string]bool{}
	for _, v := range r.Versions {
		has[v] = true
	}
	if has["1.1"] {
		names = append(names, "radius/1.1")
	}
	if has["1.0"] {
		names = append(names, "radius/1.0")
	}
	return names, has["1.1"] && !has["1.0"]
}
