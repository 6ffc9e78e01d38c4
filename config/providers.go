package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/providers"
)

// decodeProviders decodes each [[provider]] block: its name and type
// here, the rest into the settings its type registered, with the same
// checks (types, unknown keys, secrets, paths, placeholders) and the same
// file:line problems as the rest of the file.
func (c *Config) decodeProviders(col *collector, blocks []map[string]any, dir string) []Provider {
	out := make([]Provider, 0, len(blocks))
	for i, b := range blocks {
		key := fmt.Sprintf("provider[%d]", i)
		p := Provider{Type: providers.Default}
		for _, f := range []struct {
			name string
			v    *string
		}{{"name", &p.Name}, {"type", &p.Type}, {"url", &p.url}} {
			v, ok := b[f.name]
			if !ok {
				continue
			}
			s, ok := v.(string)
			if !ok {
				col.add(key+"."+f.name, "%s where text in quotes is expected", tomlType(v))
				continue
			}
			*f.v = s
		}
		p.PollRate = DefaultPollRate
		if v, ok := b["poll_rate"]; ok {
			switch n, isInt := v.(int64); {
			case !isInt:
				col.add(key+".poll_rate", "%s where a whole number of polls a second is expected (default %d)", tomlType(v), DefaultPollRate)
			case n < 1 || n > 1_000_000:
				col.add(key+".poll_rate", "%d is outside 1 to 1000000; set the polls a second your tenant allows for all held pushes (default %d)", n, DefaultPollRate)
			default:
				p.PollRate = int(n)
			}
		}
		newSettings, ok := providers.Types[p.Type]
		if !ok {
			col.add(key+".type", "%q is not a provider type; use one of %s", p.Type, quoted(providers.Names()))
			out = append(out, p)
			continue
		}
		settings := newSettings()
		rest := make(map[string]any, len(b))
		for k, v := range b {
			if k != "name" && k != "type" && k != "poll_rate" {
				rest[k] = v
			}
		}
		fields := tomlFields(reflect.TypeOf(settings).Elem())
		for _, k := range sortedKeys(rest) {
			if _, ok := fields[k]; ok {
				continue
			}
			if other := typeWithKey(k); other != "" {
				col.add(key+"."+k, "is a key of type = %q providers; this one is type = %q: remove it, or set the type it was meant for", other, p.Type)
				delete(rest, k)
			}
		}
		before := len(col.list)
		checkTable(col, key, rest, reflect.TypeOf(settings).Elem())
		for _, bad := range col.list[before:] {
			deletePath(rest, strings.TrimPrefix(bad.Key, key+"."))
		}
		for _, k := range sortedKeys(rest) {
			if s, ok := rest[k].(string); ok && strings.Contains(s, Placeholder) {
				col.add(key+"."+k, "is the shipped placeholder; set it (see radius.conf.example)")
			}
		}
		c.resolveSettings(col, key, rest, reflect.TypeOf(settings).Elem(), dir)
		var text strings.Builder
		if err := toml.NewEncoder(&text).Encode(rest); err != nil {
			col.add(key, "cannot be decoded: %v", err)
			out = append(out, p)
			continue
		}
		if _, err := toml.Decode(text.String(), settings); err != nil {
			col.add(key, "cannot be decoded: %v", err)
			out = append(out, p)
			continue
		}
		if err := settings.Validate(); err != nil {
			// Each message starts with the key it is about.
			for _, e := range flatten(err) {
				msg := e.Error()
				k, rest, ok := strings.Cut(msg, ": ")
				if !ok || strings.ContainsAny(k, " ,") {
					col.add(key, "%s", msg)
					continue
				}
				col.add(key+"."+k, "%s", rest)
			}
		}
		p.Settings = settings
		out = append(out, p)
	}
	return out
}

// resolveSettings reads the secrets of a block (key, key_file or key_env
// for a field tagged ",secret") and makes its paths (",path") absolute
// from the configuration file's directory, in place in raw.
func (c *Config) resolveSettings(col *collector, key string, raw map[string]any, t reflect.Type, dir string) {
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		switch opts {
		case "secret":
			value, _ := raw[name].(string)
			file, _ := raw[name+"_file"].(string)
			env, _ := raw[name+"_env"].(string)
			c.noteFile(readSecret(col, key+"."+name, &value, file, env, dir))
			delete(raw, name+"_file")
			delete(raw, name+"_env")
			if value != "" {
				raw[name] = value
			}
		case "path":
			if p, ok := raw[name].(string); ok && p != "" {
				p = os.ExpandEnv(p)
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				raw[name] = p
			}
		}
	}
}

// typeWithKey returns another provider type that takes key, if any.
func typeWithKey(key string) string {
	for _, typ := range providers.Names() {
		if _, ok := tomlFields(reflect.TypeOf(providers.Types[typ]()).Elem())[key]; ok {
			return typ
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quoted(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// RolesMissing returns what p's settings lack for roles to be looked up,
// or "" (also for a type that cannot say).
func (p *Provider) RolesMissing() string {
	if r, ok := p.Settings.(identity.RoleSettings); ok {
		return r.RolesMissing(p.Name)
	}
	return ""
}

// URL is the block's url key, "" when it has none: to show the operator
// where a provider is.
func (p *Provider) URL() string { return p.url }
