package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mfabridge/mfabridge/radattr"
)

// Placeholder marks the values of the packaged radius.conf that an admin
// must set; a file that still holds it is refused.
const Placeholder = "CHANGE-ME"

// MinSecretLength is the shared-secret length below which mfabridge warns.
const MinSecretLength = 16

// Warnings lists what is allowed but unwise in c, such as short secrets.
func (c *Config) Warnings() []string {
	out := append([]string(nil), c.fileWarnings...)
	for _, cl := range c.Clients {
		if len(cl.Secret) < MinSecretLength {
			out = append(out, fmt.Sprintf("client %q: the shared secret is %d bytes; use at least %d random bytes (a secret of 8 or fewer is considered broken)", cl.Name, len(cl.Secret), MinSecretLength))
		}
		if !cl.MessageAuthenticatorRequired() && !cl.ProxyStateLimited() {
			out = append(out, fmt.Sprintf("client %q: neither require_message_authenticator nor limit_proxy_state is on: nothing protects this NAS from BlastRADIUS", cl.Name))
		} else if !cl.MessageAuthenticatorRequired() {
			out = append(out, fmt.Sprintf("client %q: require_message_authenticator = false leaves this NAS open to BlastRADIUS (CVE-2024-3596); turn it on once the NAS sends Message-Authenticator", cl.Name))
		}
	}
	if ap, err := netip.ParseAddrPort(c.Metrics.Listen); c.Metrics.Enabled && err == nil && !ap.Addr().IsLoopback() {
		out = append(out, fmt.Sprintf("metrics.listen %s is not a loopback address: anyone who reaches it sees user and NAS names in the metrics; put it behind a firewall or a proxy with authentication", c.Metrics.Listen))
	}
	for _, p := range c.Provider {
		if strings.HasPrefix(p.url, "http://") {
			out = append(out, fmt.Sprintf("provider %q: plain HTTP tenant URL; passwords and codes cross the network unencrypted", p.Name))
		}
	}
	return out
}

func (c *Config) validate(col *collector) {
	for i, l := range c.Server.Listen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			col.add(fmt.Sprintf("server.listen[%d]", i), "%q is not an address with a port; write \"0.0.0.0:1812\" or \"[::]:1812\"", l)
		}
	}
	// The values the packaged file ships with must be set before mfabridge
	// runs: a fresh install does not listen on the network as shipped.
	for i, cl := range c.Clients {
		if cl.Secret == Placeholder {
			col.add(fmt.Sprintf("client[%d].secret", i), "is the shipped placeholder; set the NAS's shared secret (at least 16 random bytes: openssl rand -base64 24)")
		}
	}
	for i, l := range c.Server.AccountingListen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			col.add(fmt.Sprintf("server.accounting_listen[%d]", i), "%q is not an address with a port; write \"0.0.0.0:1813\" or \"[::]:1813\"", l)
		}
		for _, a := range c.Server.Listen {
			if a == l {
				col.add(fmt.Sprintf("server.accounting_listen[%d]", i), "%s is also in server.listen; accounting needs a port of its own (1813)", l)
			}
		}
	}
	for i, l := range append(append(append([]string(nil), c.RadSec.Listen...), c.RadSec.TCPListen...), c.RadSec.DTLSListen...) {
		if _, err := netip.ParseAddrPort(l); err != nil {
			col.add("radsec", "listen address %d %q is not an address with a port; write \"0.0.0.0:2083\"", i, l)
		}
	}
	if len(c.RadSec.Listen) > 0 || len(c.RadSec.DTLSListen) > 0 {
		for _, f := range []struct{ key, path string }{{"radsec.cert_file", c.RadSec.CertFile}, {"radsec.key_file", c.RadSec.KeyFile}, {"radsec.client_ca_file", c.RadSec.ClientCAFile}} {
			if f.path == "" {
				col.add(f.key, "required for radsec.listen and radsec.dtls_listen (see docs/radsec.md)")
			} else if _, err := os.Stat(f.path); err != nil {
				col.add(f.key, "%v", err)
			}
		}
	}
	for i, v := range c.RadSec.Versions {
		if v != "1.0" && v != "1.1" {
			col.add(fmt.Sprintf("radsec.versions[%d]", i), "%q is not a RADIUS version; use \"1.0\" (historic RADIUS over TLS) and/or \"1.1\" (RADIUS/1.1)", v)
		}
	}
	if c.RadSec.MaxConnections < 0 || c.RadSec.MaxPerClient < 0 || c.RadSec.IdleTimeout.Duration < 0 {
		col.add("radsec", "max_connections, max_per_client and idle_timeout must not be negative")
	}
	if c.Server.MaxInFlight < 1 {
		col.add("server.max_in_flight", "must be at least 1")
	}
	if c.Server.MaxHeld < 0 {
		col.add("server.max_held", "must not be negative")
	}
	if d := c.Server.ReplyCache.Duration; d < 5*time.Second || d > 30*time.Second {
		col.add("server.reply_cache", "%v is outside 5s to 30s (RFC 5080); 10s suits most NAS devices", d)
	}
	if c.Server.RequestTimeout.Duration < time.Second {
		col.add("server.request_timeout", "must be at least 1s")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		col.add("log.format", "%q is not a format; use \"text\" or \"json\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		col.add("log.level", "%q is not a level; use debug, info, warn or error", c.Log.Level)
	}
	if d := c.Sessions.TTL.Duration; d < 10*time.Second || d > time.Hour {
		col.add("sessions.ttl", "%v is outside 10s to 1h; the user must answer a challenge within it (120s is usual)", d)
	}
	if d := c.Server.RejectDelay.Duration; d < 0 || d > 10*time.Second {
		col.add("server.reject_delay", "%v is outside 0s to 10s; 1s slows guessing without bothering users", d)
	}
	if *c.Lockout.Attempts < 0 {
		col.add("lockout.attempts", "must not be negative (0 turns lockout off)")
	}
	if c.Lockout.Window.Duration < time.Second || c.Lockout.Duration.Duration < time.Second {
		col.add("lockout", "window and duration must be at least 1s")
	}
	if c.Lockout.SourceAttempts < 0 || c.Lockout.UserAttempts < 0 {
		col.add("lockout", "source_attempts and user_attempts must not be negative (0 takes the default)")
	}
	if d := c.Lockout.MaxDelay.Duration; d < 0 || d > 10*time.Second {
		col.add("lockout.max_delay", "%v is outside 0s to 10s; a longer delay outlasts the NAS's timeout (3s is the default)", d)
	}
	if strings.Count(c.Texts.Number, "%s") != 1 || strings.Count(c.Texts.Number, "%") != 1 {
		col.add("texts.number", "%q must hold %%s once (where the number goes) and no other %%", c.Texts.Number)
	}
	if c.Metrics.Enabled {
		if _, err := netip.ParseAddrPort(c.Metrics.Listen); err != nil {
			col.add("metrics.listen", "%q is not an address with a port; write \"127.0.0.1:9812\"", c.Metrics.Listen)
		}
	}
	switch c.Sessions.Store {
	case "memory":
	case "redis":
		if len(c.Redis.Address) == 0 {
			col.add("redis.address", "required with sessions.store = \"redis\": the Redis server's host:port, such as [\"127.0.0.1:6379\"]")
		}
		for i, a := range c.Redis.Address {
			if _, _, err := net.SplitHostPort(a); err != nil {
				col.add(fmt.Sprintf("redis.address[%d]", i), "%q is not host:port; write it like \"10.0.0.5:6379\"", a)
			}
		}
		if c.Redis.Fallback != "refuse" && c.Redis.Fallback != "memory" {
			col.add("redis.fallback", "%q is not a fallback; use \"refuse\" or \"memory\"", c.Redis.Fallback)
		}
		if t := c.Redis.Timeout.Duration; t < 10*time.Millisecond || 3*t > c.Server.RequestTimeout.Duration {
			// A Redis that hangs is given up on after about three timeouts
			// (a look, an unanswered PING, one retry): that must fit in a
			// request's time.
			col.add("redis.timeout", "%v is outside 10ms to a third of server.request_timeout (%v): a Redis that stops answering is given up on after about three times this", t, c.Server.RequestTimeout.Duration)
		}
		if c.Redis.PoolSize < 0 || c.Redis.PoolSize > 256 {
			col.add("redis.pool_size", "%d is outside 0 (one connection to each server) to 256; one connection carries every request's commands, pipelined", c.Redis.PoolSize)
		}
		if c.Redis.CAFile != "" {
			if _, err := os.Stat(c.Redis.CAFile); err != nil {
				col.add("redis.ca_file", "%v", err)
			}
		}
	default:
		col.add("sessions.store", "%q is not a store; use \"memory\" (one instance) or \"redis\" (shared by several)", c.Sessions.Store)
	}
	if c.Sessions.Max < 1 {
		col.add("sessions.max", "must be at least 1")
	}

	providers := map[string]bool{}
	for i := range c.Provider {
		c.validateProvider(col, i, providers)
	}
	if len(c.Clients) == 0 {
		col.add("client", "no [[client]] is configured, so every packet would be dropped; add one per NAS (see radius.conf.example)")
	}
	names := map[string]bool{}
	owner := map[netip.Prefix]string{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := fmt.Sprintf("client[%d]", i)
		switch {
		case cl.Name == "":
			col.add(key+".name", "every client needs a name, used in logs")
		case names[cl.Name]:
			col.add(key+".name", "%q is the name of another client; names must be unique", cl.Name)
		}
		names[cl.Name] = true
		if len(cl.Address) == 0 {
			col.add(key+".address", "required: the NAS's IP addresses or CIDR prefixes, such as [\"192.0.2.10\", \"10.1.0.0/24\"]")
		}
		cl.Prefixes = cl.Prefixes[:0]
		for _, a := range cl.Address {
			pfx, err := parsePrefix(a)
			if err != nil {
				col.add(key+".address", "%q is not an IP address or CIDR prefix; write it like 192.0.2.10 or 10.1.0.0/24", a)
				continue
			}
			if other, ok := owner[pfx]; ok {
				col.add(key+".address", "%s is also the address of client %q; a NAS address must belong to one client", pfx, other)
			}
			owner[pfx] = cl.Name
			cl.Prefixes = append(cl.Prefixes, pfx)
		}
		if cl.Secret == "" && cl.SecretFile == "" && cl.SecretEnv == "" {
			col.add(key+".secret", "required: the shared secret the NAS uses (or secret_file, or secret_env)")
		}
		if len(cl.Secret) > 128 {
			col.add(key+".secret", "longer than 128 bytes, which RADIUS devices do not accept")
		}
		switch {
		case cl.Provider == "" && len(c.Provider) == 0:
			col.add(key+".provider", "no [[provider]] is configured; add one (see radius.conf.example)")
		case cl.Provider == "":
			col.add(key+".provider", "required when there are several providers; name one of them")
		case !providers[cl.Provider]:
			col.add(key+".provider", "%q is not the name of a [[provider]]", cl.Provider)
		}
		switch cl.Push {
		case PushAdaptive, PushWait, PushPrompt:
		default:
			col.add(key+".push", "%q is not a push mode; use \"adaptive\" (hold the request, then ask to press Enter within the NAS's time), \"wait\" (hold it; for a NAS that cannot show a challenge) or \"prompt\" (approve, then press Enter)", cl.Push)
		}
		if cl.Menu != MenuLines && cl.Menu != MenuCompact {
			col.add(key+".menu", "%q is not a menu form; use \"lines\" or \"compact\" (one line, for a NAS that shows only the first Reply-Message)", cl.Menu)
		}
		if _, ok := NASTypes[cl.NASType]; cl.NASType != "" && !ok {
			types := make([]string, 0, len(NASTypes))
			for t := range NASTypes {
				types = append(types, t)
			}
			sort.Strings(types)
			col.add(key+".nas_type", "%q is not a NAS type mfabridge knows; use one of %s, or set nas_wait to the NAS's timeout × tries", cl.NASType, strings.Join(types, ", "))
		}
		if d := cl.NASWait.Duration; d < 2*time.Second || d > 5*time.Minute {
			col.add(key+".nas_wait", "%v is outside 2s to 5m; set the NAS's RADIUS timeout × tries (see docs/nas.md)", d)
		}
		if cl.PushWait.Duration < time.Second || cl.PushWait.Duration > 5*time.Minute {
			col.add(key+".push_wait", "%v is outside 1s to 5m; set it a few seconds below the NAS's RADIUS timeout", cl.PushWait.Duration)
		}
		for _, p := range cl.Prefer {
			if strings.TrimSpace(p) == "" {
				col.add(key+".prefer", "an empty entry; list kinds such as \"push\", \"code\", \"oob_code\", \"phone\" or mechanism names")
			}
		}
		if len(cl.InlineDelimiter) > 1 || strings.TrimSpace(cl.InlineDelimiter) != cl.InlineDelimiter {
			col.add(key+".inline_delimiter", "%q must be one character that is not a space, such as \",\"", cl.InlineDelimiter)
		}
		cl.ReplyAttrs = nil
		for j, rule := range cl.Reply {
			a, err := radattr.Parse(rule)
			if err != nil {
				col.add(fmt.Sprintf("%s.reply[%d]", key, j), "%v", err)
				continue
			}
			cl.ReplyAttrs = append(cl.ReplyAttrs, a)
		}
		cl.RoleReplyAttrs = map[string][]radattr.Attr{}
		roles := make([]string, 0, len(cl.RoleReply))
		for role := range cl.RoleReply {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			for _, rule := range cl.RoleReply[role] {
				a, err := radattr.Parse(rule)
				if err != nil {
					col.add(fmt.Sprintf("%s.role_reply.%s", key, role), "%v", err)
					continue
				}
				cl.RoleReplyAttrs[role] = append(cl.RoleReplyAttrs[role], a)
			}
		}
		if strings.ContainsAny(cl.LoginSuffix, " \\") {
			col.add(key+".login_suffix", "%q holds a space or backslash; write it like \"@example.com\"", cl.LoginSuffix)
		}
		if cl.NeedsGroups() {
			for _, p := range c.Provider {
				if p.Name != cl.Provider {
					continue
				}
				if missing := p.RolesMissing(); missing != "" {
					col.add(key+".allowed_roles", "%s", missing)
				}
			}
		}
		if *cl.RateLimit < 0 {
			col.add(key+".rate_limit", "must not be negative (0 turns the limit off)")
		}
		if cl.NASWait.Duration > c.Server.RequestTimeout.Duration {
			col.add(key+".nas_wait", "%v is above server.request_timeout (%v); raise request_timeout to at least the NAS's time", cl.NASWait.Duration, c.Server.RequestTimeout.Duration)
		}
		if cl.PushWait.Duration >= c.Server.RequestTimeout.Duration {
			col.add(key+".push_wait", "%v is not below server.request_timeout (%v); a held request would be cut off", cl.PushWait.Duration, c.Server.RequestTimeout.Duration)
		}
		if cl.UpstreamFailure != "reject" && cl.UpstreamFailure != "drop" {
			col.add(key+".upstream_failure", "%q is not an action; use \"reject\" (answer with Access-Reject) or \"drop\" (no answer, the NAS fails over)", cl.UpstreamFailure)
		}
	}
}

func (c *Config) validateProvider(col *collector, i int, seen map[string]bool) {
	p := &c.Provider[i]
	key := fmt.Sprintf("provider[%d]", i)
	switch {
	case p.Name == "":
		col.add(key+".name", "every provider needs a name, used by clients")
	case seen[p.Name]:
		col.add(key+".name", "%q is the name of another provider; names must be unique", p.Name)
	}
	seen[p.Name] = true
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
