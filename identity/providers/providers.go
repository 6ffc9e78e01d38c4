// Package providers is the registry of provider types: the one place that
// maps a [[provider]] block's type to the package that decodes, checks and
// opens it. Adding a provider is one package under identity/ and one line
// here.
package providers

import (
	"sort"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/auth0"
	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/identity/loadtest"
)

// Types maps each type to a function returning its empty settings, into
// which package config decodes the block.
var Types = map[string]func() identity.Settings{
	cyberark.TypeName: func() identity.Settings { return new(cyberark.Config) },
	auth0.TypeName:    func() identity.Settings { return new(auth0.Config) },
	loadtest.TypeName: func() identity.Settings { return new(loadtest.Config) },
}

// Default is the type of a [[provider]] that names none (the first
// provider mfabridge had).
const Default = cyberark.TypeName

// Names lists the types, sorted.
func Names() []string {
	out := make([]string, 0, len(Types))
	for t := range Types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
