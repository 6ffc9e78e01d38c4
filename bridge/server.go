// Package bridge is mfabridge's RADIUS side: a UDP authentication server
// that checks each packet (NAS client, length, Message-Authenticator),
// absorbs retransmissions, and drives an MFA conversation with an identity
// provider through Access-Challenge until it can answer Access-Accept or
// Access-Reject.
package bridge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/lease"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
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
	SharedReplies       redis.UniversalClient
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
	busy     atomic.Int64 // requests in flight
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
}

func newServerState(cfg *config.Config, providers map[string]identity.Provider, deps *conversation.Deps) (*serverState, error) {
	for _, c := range cfg.Clients {
		if providers[c.Provider] == nil {
			return nil, fmt.Errorf("bridge: client %q: provider %q is not open", c.Name, c.Provider)
		}
	}
	st := &serverState{cfg: cfg, providers: providers, clients: newClientTable(cfg.Clients), limiters: map[string]*rate.Limiter{},
		engine: &conversation.Engine{Deps: deps, Config: cfg, Providers: providers}}
	for _, c := range cfg.Clients {
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
		s.shared = replycache.NewRedis(o.SharedReplies, o.SharedRepliesPrefix, o.Config.Server.ReplyCache.Duration, joinLease, s.now)
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
	s.deps = &conversation.Deps{Store: s.store, Throttle: s.throttle, Observer: s.obs, Tracer: &conversation.Tracer{}, Now: s.now}
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

func (s *Server) drop(reason string, log logrus.FieldLogger, msg string) {
	s.obs.Dropped(reason)
	if msg != "" {
		s.warns.warn(log.WithField("reason", reason), reason, s.now(), msg)
	} else {
		log.WithField("reason", reason).Debug("packet dropped")
	}
}

// dispatch checks a datagram in the read loop (cheap checks only) and
// returns the work of answering it, or nil when it was dropped or answered
// at once.
func (s *Server) dispatch(ctx context.Context, conn net.PacketConn, local string, datagram []byte, addr net.Addr, received time.Time) (job func()) {
	if len(datagram) == len(s.probe) && subtle.ConstantTimeCompare(datagram, s.probe[:]) == 1 {
		s.beat(local)
		return nil
	}
	st := s.state.Load()
	ap, ok := transport.AddrPort(addr)
	if !ok {
		s.drop(dropMalformed, s.log.WithField("src", addr.String()), "")
		return nil
	}
	client := st.clients.lookup(ap.Addr())
	if client == nil {
		s.drop(dropUnknownClient, s.log.WithField("src", addr.String()), "packet from an address that is no [[client]]: dropped (add the NAS to radius.conf if it is yours)")
		return nil
	}
	log := s.log.WithFields(logrus.Fields{"src": addr.String(), "nas": client.Name})
	pkt, err := checkLength(datagram)
	if err != nil {
		s.drop(dropMalformed, log, "malformed packet (length): dropped")
		return nil
	}
	code := radius.Code(pkt[0])
	if s.acct.has(local) {
		if code != radius.CodeAccountingRequest {
			s.drop(dropUnsupported, log, fmt.Sprintf("%v on the accounting port, which takes Accounting-Request only: dropped", code))
			return nil
		}
		s.accounting(conn, addr, local, pkt, client, log)
		return nil
	}
	if code != radius.CodeAccessRequest && code != radius.CodeStatusServer {
		s.drop(dropUnsupported, log, fmt.Sprintf("%v is not served here (authentication only): dropped", code))
		return nil
	}
	maOff, err := msgauth.Find(pkt)
	if err != nil {
		s.drop(dropMalformed, log, "malformed attributes: dropped")
		return nil
	}
	secret := []byte(client.Secret)
	if sc, ok := conn.(*streamConn); ok {
		secret = []byte(sc.secretFor(client))
		log = log.WithField("transport", sc.kind)
	}
	if maOff < 0 {
		switch {
		case code == radius.CodeStatusServer:
			s.drop(dropNoMsgAuth, log, "Status-Server without Message-Authenticator (RFC 5997 requires it): dropped")
			return nil
		case client.MessageAuthenticatorRequired():
			s.drop(dropNoMsgAuth, log, "Access-Request without Message-Authenticator: dropped (require_message_authenticator is on for this client; turn it off only for a NAS that cannot send one)")
			return nil
		}
	} else if !msgauth.Verify(pkt, maOff, secret) {
		s.drop(dropBadMsgAuth, log, "bad Message-Authenticator: dropped; the NAS and radius.conf probably have different shared secrets")
		return nil
	}
	req, err := radius.Parse(pkt, secret)
	if err != nil {
		s.drop(dropMalformed, log, "malformed attributes: dropped")
		return nil
	}
	if t, ok := repeated(req); ok {
		s.drop(dropMalformed, log, fmt.Sprintf("malformed request: attribute %d appears more than once (RFC 2865 allows it once): dropped", t))
		return nil
	}
	if maOff < 0 {
		if _, eap := req.Lookup(radpacket.TypeEAPMessage); eap {
			s.drop(dropNoMsgAuth, log, "EAP-Message without Message-Authenticator: dropped")
			return nil
		}
		if _, ps := req.Lookup(typeProxyState); ps && client.ProxyStateLimited() {
			s.drop(dropProxyState, log, "Access-Request with Proxy-State but no Message-Authenticator: dropped (limit_proxy_state); a proxy in front of mfabridge must add Message-Authenticator")
			return nil
		}
	}

	key := replycache.Key{Local: local, Remote: ap.String(), NAS: client.Name, Src: ap, Code: byte(code), ID: req.Identifier}
	switch verdict, cached, _ := s.dedup.Begin(ctx, key, req.Authenticator); verdict {
	case replycache.InFlight:
		s.obs.Retransmission("absorbed")
		s.drop(dropInFlight, log, "")
		return nil
	case replycache.Replay:
		s.obs.Retransmission("absorbed")
		s.obs.Retransmission("replayed")
		log.Debug("retransmission answered from the reply cache")
		if _, err := conn.WriteTo(cached, addr); err != nil {
			log.WithError(err).Warn("cannot send a reply")
		}
		return nil
	}

	if code == radius.CodeStatusServer {
		s.reply(conn, addr, key, req, radpacket.NewReply(req, radius.CodeAccessAccept), log, received)
		s.obs.StatusServer()
		return nil
	}

	// The NAS's rate limit counts only packets that passed the checks above
	// (a forged source address with junk uses up nobody's budget), not
	// retransmissions, and never a request that continues a conversation:
	// those are what the reserve below keeps room for.
	_, cont := req.Lookup(rfc2865.State_Type)
	if lim := st.limiters[client.Name]; lim != nil && !cont && !lim.Allow() {
		_ = s.dedup.Forget(ctx, key, req.Authenticator)
		s.drop(dropRateLimited, log, "more requests than rate_limit allows from this NAS: dropped")
		return nil
	}

	// Under load, requests that continue a conversation (with a State) are
	// preferred over new ones (RFC 5080 §2.2.3): new ones may fill the
	// slots only up to a reserve.
	limit := int64(st.cfg.Server.MaxInFlight)
	if !cont {
		limit -= reserveFor(limit)
	}
	if s.busy.Add(1) > limit {
		s.busy.Add(-1)
		_ = s.dedup.Forget(ctx, key, req.Authenticator) // let the NAS's retransmission try again
		s.drop(dropOverload, log, "too many requests in flight (server.max_in_flight): dropped; the NAS will retransmit")
		return nil
	}
	s.inFlight.Add(1)
	return func() {
		defer s.inFlight.Done()
		defer s.busy.Add(-1)
		s.work(s.base, conn, addr, key, client, req, st, log, received)
	}
}

// reserveFor is how many of limit slots are kept for requests that carry
// a State.
func reserveFor(limit int64) int64 {
	if limit < 2 {
		return 0
	}
	return max(1, limit/10)
}

// work answers one Access-Request in its own goroutine.
func (s *Server) work(ctx context.Context, conn net.PacketConn, addr net.Addr, key replycache.Key, client *config.Client, req *radius.Packet, st *serverState, log *logrus.Entry, received time.Time) {
	var reply *radius.Packet
	defer func() {
		if r := recover(); r != nil {
			s.obs.Panicked()
			log.WithField("panic", fmt.Sprint(r)).WithField("stack", string(debug.Stack())).Error("request handler panicked; the request gets no answer")
			_ = s.dedup.Finish(ctx, key, req.Authenticator, nil)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Server.RequestTimeout.Duration)
	defer cancel()
	if s.shared != nil {
		verdict, cached, err := s.shared.Begin(ctx, key, req.Authenticator)
		if err != nil && !errors.Is(err, replycache.ErrResting) {
			s.obs.SharedReplyFailed()
			s.warns.warn(log.WithError(err), "shared_replies", s.now(), "shared reply cache (Redis) not reachable: retransmissions to other instances may be processed again")
		}
		switch verdict {
		case replycache.InFlight:
			// Another instance is answering it (or chose not to).
			_ = s.dedup.Forget(ctx, key, req.Authenticator)
			s.obs.Retransmission("absorbed")
			s.drop(dropInFlight, log, "")
			return
		case replycache.Replay:
			s.obs.Retransmission("absorbed")
			s.obs.Retransmission("replayed")
			_ = s.dedup.Finish(ctx, key, req.Authenticator, cached)
			if _, err := conn.WriteTo(cached, addr); err != nil {
				log.WithError(err).Warn("cannot send a reply")
			}
			return
		}
	}
	if s.shared != nil {
		defer s.shared.Hold(key)()
	}
	// A request that repeats a login under way (pam_radius_auth failing
	// over, a NAS renumbering) waits for that login's answer.
	endJoin := func() {}
	if jk, ok := joinKey(client, req); ok {
		role, tmpl, shared, err := s.joins.begin(ctx, jk, key.Remote)
		if err != nil && ctx.Err() == nil {
			s.warns.warn(log.WithError(err), "joins", s.now(), "shared state (Redis) not reachable: a login repeated at another instance may be answered twice")
		}
		if role == joinFollow {
			s.obs.Retransmission("joined")
			log.WithField("shared", shared).Debug("request repeats a login under way: answered with that login's answer")
			if r := fromTemplate(req, tmpl); r != nil {
				s.reply(conn, addr, key, req, r, log, received)
			} else {
				s.finish(key, req.Authenticator, nil, log)
			}
			return
		}
		if s.joins.rdb != nil {
			defer lease.Keep(s.joins.rdb, joinLease, s.joins.prefix+jk)()
		}
		ended := false
		endJoin = func() {
			if !ended {
				ended = true
				if s.joins.end(jk, key.Remote, reply) && reply != nil {
					// The NAS asked again from the same address under a new
					// Identifier: that request gets this answer; this one,
					// which the NAS gave up, gets none (a late answer to
					// it ends pam_radius_auth 2.0's login).
					log.Debug("the NAS repeated this login under a new Identifier: answered there, not here")
					reply = nil
				}
			}
		}
		defer endJoin() // a panic's path
	}
	answer, err := st.engine.Respond(ctx, conversation.Request{Packet: req, Client: client, Log: log, Received: received})
	reply = answer.Packet
	var failure *conversation.Failure
	if errors.As(err, &failure) {
		reply = s.upstreamFailed(req, client, st.cfg, failure)
	}
	// Those waiting get the answer before the NAS does: a request that
	// arrives once the answer is out is a new login, never a join.
	endJoin()
	answer.Sent(reply)
	if reply == nil {
		s.finish(key, req.Authenticator, nil, log)
		return
	}
	s.reply(conn, addr, key, req, reply, log, received)
}

// reply encodes, caches and sends a reply. An Access-Reject is held back by
// the configured reject delay first, without holding a worker.
func (s *Server) reply(conn net.PacketConn, addr net.Addr, key replycache.Key, req, reply *radius.Packet, log logrus.FieldLogger, received time.Time) {
	if d := s.state.Load().cfg.Server.RejectDelay.Duration; reply.Code == radius.CodeAccessReject && d > 0 {
		d += time.Duration(mrand.Int64N(int64(d)/2 + 1))
		s.inFlight.Add(1)
		time.AfterFunc(d, func() {
			defer s.inFlight.Done()
			s.send(conn, addr, key, req, reply, log, received)
		})
		return
	}
	s.send(conn, addr, key, req, reply, log, received)
}

func (s *Server) send(conn net.PacketConn, addr net.Addr, key replycache.Key, req, reply *radius.Packet, log logrus.FieldLogger, received time.Time) {
	encode := msgauth.Encode
	if reply.Code == radius.CodeAccountingResponse {
		// RFC 2866 asks only the Response Authenticator of it, and
		// FreeRADIUS sends no Message-Authenticator in one: its radclient
		// (3.2) refused the one computed as for an Access reply.
		encode = (*radius.Packet).Encode
	}
	wire, err := encode(reply)
	if err != nil {
		log.WithError(err).Error("cannot encode the reply; the request gets no answer")
		s.finish(key, req.Authenticator, nil, log)
		return
	}
	s.finish(key, req.Authenticator, wire, log)
	s.obs.Replied(reply.Code.String())
	if _, err := conn.WriteTo(wire, addr); err != nil {
		log.WithError(err).Warn("cannot send a reply")
	}
	if s.onReply != nil {
		s.onReply(reply.Code, time.Since(received))
	}
}

// finish records a reply (nil: none) in the reply caches.
func (s *Server) finish(key replycache.Key, auth [16]byte, wire []byte, log logrus.FieldLogger) {
	_ = s.dedup.Finish(context.Background(), key, auth, wire)
	if s.shared == nil || radius.Code(key.Code) != radius.CodeAccessRequest {
		return
	}
	if err := s.shared.Finish(context.Background(), key, auth, wire); err != nil && !errors.Is(err, replycache.ErrResting) {
		s.obs.SharedReplyFailed()
		s.warns.warn(log.WithError(err), "shared_replies", s.now(), "shared reply cache (Redis) not reachable: retransmissions to other instances may be processed again")
	}
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
	left := int(s.busy.Load())
	s.log.WithField("requests", left).Warn("stop: requests still in flight after the grace period are cut off")
	s.abort()
	<-done
	return left
}

// InFlight is the number of requests being processed.
func (s *Server) InFlight() int { return int(s.busy.Load()) }

// Sessions is the number of conversations waiting at a challenge.
func (s *Server) Sessions() int { return s.store.Len() }

// onceOnly are the attributes RFC 2865 §5.44 allows at most once in an
// Access-Request: two User-Names (or passwords, or States) make it
// ambiguous which one was checked.
var onceOnly = [...]radius.Type{rfc2865.UserName_Type, rfc2865.UserPassword_Type, rfc2865.CHAPPassword_Type, rfc2865.State_Type, typeMessageAuthenticator}

// repeated returns an attribute of onceOnly that req carries twice.
func repeated(req *radius.Packet) (radius.Type, bool) {
	var seen [len(onceOnly)]bool
	for _, a := range req.Attributes {
		for i, t := range onceOnly {
			if a.Type == t {
				if seen[i] {
					return t, true
				}
				seen[i] = true
			}
		}
	}
	return 0, false
}
