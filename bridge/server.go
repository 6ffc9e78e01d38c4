// Package bridge is the middle of mfabridge's three layers: package
// transport reads a packet off a socket or a stream; the bridge admits it
// and answers it; package conversation decides the answer. A packet goes
// through it once, top to bottom:
//
//   - admission.go (dispatch, in the read loop): the NAS client, length,
//     Message-Authenticator, the local reply cache, the rate limit and
//     shedding;
//   - work.go (work, on a worker): the shared reply cache, one push per
//     login across requests and instances (join.go), then
//     conversation.Engine.Respond, and what a Failure means for the NAS
//     (failure.go: reject or drop);
//   - send.go: encoding, the reject delay, the reply caches, the socket.
//
// server.go holds the server's life: its options, reloads, serving and
// draining.
package bridge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/transport"
)

// Options configures a Server.
type Options struct {
	Config *config.Config
	// Providers by name; every client's provider must be here.
	Providers map[string]identity.Provider
	// Store keeps conversations between packets. Default: a Memory store
	// bounded by Config.Sessions.Max.
	Store session.Store
	// Logger receives the server's logs. Default: logrus's standard logger.
	Logger *logrus.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnReply, when set, is told how long each answered request took from
	// the moment the kernel received its datagram (the wait in the socket's
	// queue included; the moment it was read, where the socket cannot say)
	// to the moment its reply was sent (for benchmarks and metrics). Keep it
	// cheap: it runs for every reply.
	OnReply func(code radius.Code, took time.Duration)
	// SharedReplies, when set, shares the reply cache with the other
	// instances on the same Redis, under keys starting with
	// SharedRepliesPrefix.
	SharedReplies       rueidis.Client
	SharedRepliesPrefix string
	// Throttle counts failed logins. Default: a throttle.Memory of
	// Config.Lockout's settings.
	Throttle throttle.Counter
	// Observer, when set, is told of what the server does (for metrics),
	// besides the server's own counts (Count).
	Observer Observer
}

// sessionSweep is how often the session store is swept.
const sessionSweep = 5 * time.Second

// maxTracked bounds the entries of the default in-memory throttle: past it
// the least recently touched are evicted (see throttle.Memory).
const maxTracked = 300000

// ThrottleSettings are cfg's [lockout] settings for package throttle.
func ThrottleSettings(cfg *config.Config) throttle.Settings {
	lc := cfg.Lockout
	return throttle.Settings{
		Attempts:       *lc.Attempts,
		SourceAttempts: lc.SourceAttempts,
		UserAttempts:   lc.UserAttempts,
		Window:         lc.Window.Duration,
		Duration:       lc.Duration.Duration,
		MaxDelay:       lc.MaxDelay.Duration,
	}.WithDefaults()
}

// Server is a RADIUS authentication server.
type Server struct {
	log   *logrus.Logger
	store session.Store
	now   func() time.Time

	state    atomic.Pointer[serverState]
	dedup    *replycache.Memory
	busy     atomic.Int64 // requests in flight, held ones not counted
	held     atomic.Int64 // requests held while a push is approved
	throttle throttle.Counter
	joins    *joins
	acct     accountingSockets
	// deps are what the conversation engines work with: the store, the
	// throttle, the observers, the live traces.
	deps *conversation.Deps
	// jobs hands requests to idle workers (see run); idle counts them,
	// workers counts all of them, busy or idle.
	pool *transport.Pool // the workers that read and answer

	shared  *replycache.Redis // nil: replies are cached in this process only
	onReply func(radius.Code, time.Duration)

	tally    tally     // the server's own counts, for Count
	obs      observers // tally and Options.Observer
	warns    *rateLimitedLog
	inFlight sync.WaitGroup

	// base is the context of request handlers: cancelled only when a
	// graceful stop runs out of time, so that stopping to read new requests
	// does not cut off the ones in flight.
	base  context.Context
	abort context.CancelFunc

	probe     [20]byte // "MFBP" + 16 random bytes: the watchdog's probe
	heartbeat sync.Map // local address -> *atomic.Int64 (unix nanoseconds of the last probe seen)

	serving atomic.Pointer[[]net.PacketConn]
}

// serverState is the configuration in force; it is swapped as a whole.
type serverState struct {
	cfg       *config.Config
	providers map[string]identity.Provider
	clients   *clientTable
	limiters  map[string]*rate.Limiter // by client name; absent: no limit
	engine    *conversation.Engine
	// secrets are the clients' shared secrets as bytes, by client name:
	// made once, not for every packet (a request keeps its secret for as
	// long as it is held).
	secrets map[string][]byte
}

// secret returns the shared secret of client, one of st's clients, as
// bytes; the caller does not change it.
func (st *serverState) secret(client *config.Client) []byte {
	if b, ok := st.secrets[client.Name]; ok {
		return b
	}
	return []byte(client.Secret)
}

func newServerState(cfg *config.Config, providers map[string]identity.Provider, deps *conversation.Deps) (*serverState, error) {
	for _, c := range cfg.Clients {
		if providers[c.Provider] == nil {
			return nil, fmt.Errorf("bridge: client %q: provider %q is not open", c.Name, c.Provider)
		}
	}
	st := &serverState{cfg: cfg, providers: providers, clients: newClientTable(cfg.Clients), limiters: map[string]*rate.Limiter{},
		engine: &conversation.Engine{Deps: deps, Config: cfg, Providers: providers}}
	st.secrets = make(map[string][]byte, len(cfg.Clients))
	for _, c := range cfg.Clients {
		st.secrets[c.Name] = []byte(c.Secret)
		if n := *c.RateLimit; n > 0 {
			st.limiters[c.Name] = rate.NewLimiter(rate.Limit(n), 2*n)
		}
	}
	return st, nil
}

// New returns a server for o.
func New(o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("bridge: no configuration")
	}
	s := &Server{
		log:     o.Logger,
		store:   o.Store,
		now:     o.Now,
		onReply: o.OnReply,
		warns:   newRateLimitedLog(10 * time.Second),
		pool:    transport.NewPool(),
	}
	s.obs = observers{&s.tally}
	if o.Observer != nil {
		s.obs = append(s.obs, o.Observer)
	}
	if s.log == nil {
		s.log = logrus.StandardLogger()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.store == nil {
		s.store = session.NewMemory(o.Config.Sessions.Max, 10*time.Second)
	}
	s.dedup = replycache.NewMemory(o.Config.Server.ReplyCache.Duration, s.now)
	if o.SharedReplies != nil {
		s.shared = replycache.NewRedis(o.SharedReplies, o.SharedRepliesPrefix, o.Config.Server.ReplyCache.Duration, joinLease)
	}
	if e, ok := s.store.(expiring); ok {
		e.OnExpire(func(c session.Session) {
			fields := logrus.Fields{"event": "authentication", "outcome": "abandoned", "nas": c.NAS, "user": c.User, "phase": c.Phase, "rounds": c.Rounds}
			if c.Current != nil {
				fields["mechanism"] = c.Current.Word()
			}
			if !c.Started.IsZero() {
				fields["duration"] = s.now().Sub(c.Started).Round(time.Second)
			}
			s.obs.Abandoned(c.NAS)
			s.log.WithFields(fields).Info("conversation expired unanswered at a challenge")
		})
	}
	s.joins = newJoins(o.SharedReplies, o.SharedRepliesPrefix)
	s.throttle = o.Throttle
	if s.throttle == nil {
		s.throttle = throttle.NewMemory(ThrottleSettings(o.Config), maxTracked, s.now)
	}
	s.deps = &conversation.Deps{Store: s.store, Throttle: s.throttle, Observer: s.obs, Tracer: &conversation.Tracer{}, Holds: holds{s}, Now: s.now}
	st, err := newServerState(o.Config, o.Providers, s.deps)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	s.base, s.abort = context.WithCancel(context.Background())
	if _, err := rand.Read(s.probe[4:]); err != nil {
		return nil, err
	}
	copy(s.probe[:4], "MFBP")
	return s, nil
}

// Reload puts cfg and its providers in force for every request that
// arrives from now on; requests in flight finish with the configuration
// they started with, and conversations waiting at a challenge go on (their
// provider is found by name). Settings that need a restart (server.listen,
// server.max_in_flight, sessions.store, [redis]) keep their old values; the
// returned list names those that changed.
func (s *Server) Reload(cfg *config.Config, providers map[string]identity.Provider) (restart []string, err error) {
	old := s.state.Load().cfg
	st, err := newServerState(cfg, providers, s.deps)
	if err != nil {
		return nil, err
	}
	// Settings that need a restart keep their running values in the
	// configuration put in force, so that the next reload compares with
	// what runs (a value changed and changed back needs no restart).
	if !slices.Equal(old.Server.Listen, cfg.Server.Listen) {
		restart = append(restart, "server.listen")
		cfg.Server.Listen = old.Server.Listen
	}
	if !slices.Equal(old.Server.AccountingListen, cfg.Server.AccountingListen) {
		restart = append(restart, "server.accounting_listen")
		cfg.Server.AccountingListen = old.Server.AccountingListen
	}
	if old.Server.MaxInFlight != cfg.Server.MaxInFlight {
		restart = append(restart, "server.max_in_flight")
		cfg.Server.MaxInFlight = old.Server.MaxInFlight
	}
	if old.Sessions.Store != cfg.Sessions.Store || !reflect.DeepEqual(old.Redis, cfg.Redis) || old.Sessions.Max != cfg.Sessions.Max {
		restart = append(restart, "sessions and [redis]")
		cfg.Sessions.Store, cfg.Sessions.Max, cfg.Redis = old.Sessions.Store, old.Sessions.Max, old.Redis
	}
	if old.Server.ReplyCache != cfg.Server.ReplyCache {
		restart = append(restart, "server.reply_cache")
		cfg.Server.ReplyCache = old.Server.ReplyCache
	}
	if !reflect.DeepEqual(old.Lockout, cfg.Lockout) {
		restart = append(restart, "[lockout]")
		cfg.Lockout = old.Lockout
	}
	s.state.Store(st)
	return restart, nil
}

// Providers returns the identity providers in force.
func (s *Server) Providers() map[string]identity.Provider { return s.state.Load().providers }

// Config returns the configuration in force.
func (s *Server) Config() *config.Config { return s.state.Load().cfg }

// Serve reads requests from conn until ctx is cancelled or conn fails. It
// does not wait for requests in flight: see Drain.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	return transport.ServeUDP(ctx, conn, s.pool, s.dispatch, transport.UDPOptions{Timestamps: s.onReply != nil, OnNudge: s.obs.ReadNudged})
}

// ServeConns serves every conn until ctx is cancelled, then stops reading,
// lets the requests in flight finish (Drain, bounded by
// server.request_timeout) and closes the conns.
func (s *Server) ServeConns(ctx context.Context, conns []net.PacketConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.serving.Store(&conns)
	go s.sweepReplies(ctx)
	errs := make(chan error, len(conns))
	for _, c := range conns {
		go func(c net.PacketConn) { errs <- s.Serve(ctx, c) }(c)
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	s.serving.Store(nil)
	s.Drain(s.state.Load().cfg.Server.RequestTimeout.Duration)
	for _, c := range conns {
		c.Close()
	}
	return first
}

// expiring is a session store that tells of conversations that expired
// untaken, and sweeps when asked (the in-memory store; Redis expires its
// keys itself).
type expiring interface {
	OnExpire(func(session.Session))
	Sweep()
}

// sweepReplies drops expired replies from the reply cache every second, so
// that the memory of a burst is given back when the requests stop (each
// request also sweeps what has expired), and sweeps the session store every
// sessionSweep, so that abandoned conversations are logged and leave the
// sessions gauge while no new one starts.
func (s *Server) sweepReplies(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	if e, ok := s.store.(expiring); ok {
		st := time.NewTicker(sessionSweep)
		defer st.Stop()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-st.C:
					e.Sweep()
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.dedup.Sweep()
		}
	}
}

// Drain waits up to grace for the requests in flight (held pushes
// included) to be answered, then cancels the rest. It reports how many were
// cut off.
func (s *Server) Drain(grace time.Duration) int {
	done := make(chan struct{})
	go func() { s.inFlight.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return 0
	case <-t.C:
	}
	left := int(s.busy.Load() + s.held.Load())
	s.log.WithField("requests", left).Warn("stop: requests still in flight after the grace period are cut off")
	s.abort()
	<-done
	return left
}

// InFlight is the number of requests being worked on (held ones not
// counted: see Held).
func (s *Server) InFlight() int { return int(s.busy.Load()) }

// Held is the number of requests held while a push or call is approved.
func (s *Server) Held() int { return int(s.held.Load()) }

// holds counts the requests held while a push is approved against
// server.max_held. A held request is parked (a record and a timer, see
// conversation/park.go): its worker has gone back to the pool and its
// slot of server.max_in_flight is free, so that a morning's pushes do not
// take the slots other users' logins need.
type holds struct{ s *Server }

func (h holds) Hold() bool {
	if h.s.held.Add(1) > int64(h.s.state.Load().cfg.Server.MaxHeld) {
		h.s.held.Add(-1)
		return false
	}
	return true
}

func (h holds) Release() { h.s.held.Add(-1) }

// Sessions is the number of conversations waiting at a challenge.
func (s *Server) Sessions() int { return s.store.Len() }
