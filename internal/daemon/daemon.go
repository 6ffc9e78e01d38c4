// Package daemon wires mfabridge together from a configuration: the logger,
// the identity providers and the RADIUS server. Only the command and the
// end-to-end tests use it.
package daemon

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/redisclient"
	"github.com/mfabridge/mfabridge/metrics"
)

// NewLogger returns a logger writing to w as the configuration's [log]
// says. Under systemd (standard error connected to the journal) logs go to
// the journal instead, in either format: each line at the priority of its
// level, with its fields as journal fields and, in the message that
// journalctl and systemctl status show, the fields that say what happened
// (user, NAS, outcome...), or the whole JSON object in JSON format.
func NewLogger(cfg *config.Config, w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	SetLogFormat(l, cfg)
	if w == os.Stderr && journalStream() {
		l.SetOutput(io.Discard)
		l.AddHook(&journalHook{l: l})
	}
	return l
}

// SetLogFormat applies [log] format and level to l (also on reload).
func SetLogFormat(l *logrus.Logger, cfg *config.Config) {
	if cfg.Log.Format == "json" {
		l.SetFormatter(secondsFormatter{&logrus.JSONFormatter{}})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	}
	if lvl, err := logrus.ParseLevel(cfg.Log.Level); err == nil {
		l.SetLevel(lvl)
	}
}

// secondsFormatter writes durations as seconds (a JSON number with
// millisecond precision, "duration": 1.234) instead of the nanoseconds
// logrus's JSON would write.
type secondsFormatter struct{ logrus.Formatter }

func (f secondsFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var data logrus.Fields
	for k, v := range e.Data {
		d, ok := v.(time.Duration)
		if !ok {
			continue
		}
		if data == nil {
			data = make(logrus.Fields, len(e.Data))
			for k2, v2 := range e.Data {
				data[k2] = v2
			}
		}
		data[k] = math.Round(d.Seconds()*1000) / 1000
	}
	if data != nil {
		c := *e
		c.Data = data
		e = &c
	}
	return f.Formatter.Format(e)
}

func journalStream() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok
}

// Observer is told of the identity providers' traffic (for metrics); a
// nil field, or a nil *Observer, is told nothing.
type Observer struct {
	// Call is told of every call to an identity provider.
	Call func(provider, call string, status int, d time.Duration)
	// Connections is told of each connection to a provider's tenant
	// opened (+1) and closed (-1).
	Connections func(provider string, delta int)
}

// OpenProviders opens every [[provider]] of cfg.
func OpenProviders(cfg *config.Config, log *logrus.Logger, observe *Observer) (map[string]identity.Provider, error) {
	out := map[string]identity.Provider{}
	for i := range cfg.Provider {
		p := &cfg.Provider[i]
		env := identity.Env{Name: p.Name, Logger: log}
		name := p.Name
		if observe != nil && observe.Call != nil {
			env.Observe = func(op string, status int, d time.Duration) { observe.Call(name, op, status, d) }
		}
		if observe != nil && observe.Connections != nil {
			env.OnConnection = func(delta int) { observe.Connections(name, delta) }
		}
		prov, err := p.Settings.New(env)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", p.Name, err)
		}
		out[p.Name] = prov
	}
	return out, nil
}

var _ bridge.Observer = (*metrics.Metrics)(nil)

// NewServer opens the providers and the session store of cfg and returns
// the RADIUS server. It logs the configuration's warnings.
func NewServer(cfg *config.Config, log *logrus.Logger, observe *Observer) (*bridge.Server, error) {
	return NewObservedServer(cfg, log, observe, nil)
}

// NewObservedServer is NewServer with obs told of what the server does
// (for metrics).
func NewObservedServer(cfg *config.Config, log *logrus.Logger, observe *Observer, obs bridge.Observer) (*bridge.Server, error) {
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	providers, err := OpenProviders(cfg, log, observe)
	if err != nil {
		return nil, err
	}
	o := bridge.Options{Config: cfg, Providers: providers, Logger: log, Observer: obs}
	if cfg.Sessions.Store == "redis" {
		if err := UseRedis(cfg, log, &o); err != nil {
			return nil, err
		}
	}
	return bridge.New(o)
}

// UseRedis sets o to keep conversations, failed-login counts and (with
// redis.share_replies) replies on the [redis] of cfg, as sessions.store =
// "redis" asks.
func UseRedis(cfg *config.Config, log *logrus.Logger, o *bridge.Options) error {
	rdb, err := redisclient.New(&cfg.Redis)
	if err != nil {
		return err
	}
	shared := session.NewRedis(rdb, cfg.Redis.KeyPrefix, cfg.Sessions.Max)
	o.Store = shared
	if cfg.Redis.Fallback == "memory" {
		o.Store = &session.Fallback{
			Shared: shared,
			Local:  session.NewMemory(cfg.Sessions.Max, 10*time.Second),
			OnFallback: func(err error) {
				log.WithError(err).Warn("Redis not reachable: conversation kept in this instance's memory (redis.fallback = \"memory\")")
			},
		}
	}
	// Failed logins are counted on Redis too, so that guesses spread
	// over instances count together; in memory while it is down.
	var warned atomic.Int64
	o.Throttle = &throttle.Fallback{
		Shared: throttle.NewRedis(rdb, cfg.Redis.KeyPrefix, bridge.ThrottleSettings(cfg), nil),
		Local:  throttle.NewMemory(bridge.ThrottleSettings(cfg), 300000, nil),
		OnError: func(err error) {
			// At most one line in 10 s while Redis is down.
			if now, last := time.Now().UnixNano(), warned.Load(); now-last > int64(10*time.Second) && warned.CompareAndSwap(last, now) {
				log.WithError(err).Warn("Redis not reachable: failed logins counted in this instance only")
			}
		},
	}
	if *cfg.Redis.ShareReplies {
		o.SharedReplies, o.SharedRepliesPrefix = rdb, cfg.Redis.KeyPrefix
	}
	log.WithField("address", cfg.Redis.Address).Info("sessions are shared on Redis")
	return nil
}
