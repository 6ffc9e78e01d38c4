package identity

import (
	"time"

	"github.com/sirupsen/logrus"
)

// Settings are one provider type's own keys of a [[provider]] block of
// radius.conf, decoded by package config into the type its registration
// returns (see package identity/providers). Their fields carry toml tags;
// a tag's option "secret" (`toml:"client_secret,secret"`) lets the key be
// given as key_file or key_env too, and "path" makes a relative path
// relative to radius.conf. A time.Duration is written as "10s".
type Settings interface {
	// Validate reports every problem at once, joined (errors.Join); each
	// message starts with the key it is about ("url: ..."), so that the
	// configuration's report can name the line.
	Validate() error
	// New opens the provider.
	New(env Env) (Provider, error)
}

// Env is what mfabridge gives a provider it opens.
type Env struct {
	// Name is the provider's name in radius.conf and in logs.
	Name string
	// Logger receives the provider's lines; never secrets.
	Logger logrus.FieldLogger
	// Observe, when set, is told of every call to the tenant (metrics).
	Observe func(call string, status int, d time.Duration)
	// OnConnection, when set, is told of each connection to the tenant
	// opened (+1) and closed (-1).
	OnConnection func(delta int)
}

// RoleSettings are Settings that can say whether the roles or groups of a
// user can be had with them (for allowed_roles and role_reply).
type RoleSettings interface {
	// RolesMissing returns "" when roles can be looked up, or what must
	// be set for them in the provider called name.
	RolesMissing(name string) string
}
