// Package app wires mfabridge together from a configuration: the logger,
// the identity providers and the RADIUS server. Only the command and the
// end-to-end tests use it.
package app

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
)

// NewLogger returns a logger writing to w as the configuration's [log]
// says.
func NewLogger(cfg *config.Config, w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	if cfg.Log.Format == "json" {
		l.SetFormatter(&logrus.JSONFormatter{})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	}
	if lvl, err := logrus.ParseLevel(cfg.Log.Level); err == nil {
		l.SetLevel(lvl)
	}
	return l
}

// OpenProviders opens every [[provider]] of cfg.
func OpenProviders(cfg *config.Config, log *logrus.Logger) (map[string]identity.Provider, error) {
	out := map[string]identity.Provider{}
	for i := range cfg.Provider {
		p := &cfg.Provider[i]
		switch p.Type {
		case "cyberark":
			cc := p.CyberArk()
			cc.Logger = log
			prov, err := cc.Open()
			if err != nil {
				return nil, fmt.Errorf("provider %q: %w", p.Name, err)
			}
			out[p.Name] = prov
		default:
			return nil, fmt.Errorf("provider %q: unknown type %q", p.Name, p.Type)
		}
	}
	return out, nil
}

// NewServer opens the providers of cfg and returns the RADIUS server. It
// logs the configuration's warnings.
func NewServer(cfg *config.Config, log *logrus.Logger) (*bridge.Server, error) {
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	providers, err := OpenProviders(cfg, log)
	if err != nil {
		return nil, err
	}
	return bridge.New(bridge.Options{Config: cfg, Providers: providers, Logger: log})
}
