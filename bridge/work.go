package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/internal/lease"
)

// work answers one Access-Request in its own goroutine. A request held
// for a push is parked: work returns, its slot is free, and the rest of
// it (answer) runs when the push is decided.
func (s *Server) work(ctx context.Context, conn net.PacketConn, addr net.Addr, key replycache.Key, client *config.Client, req *radius.Packet, st *serverState, log *logrus.Entry, received time.Time) {
	// done runs the steps that end a request, however it ends: they pile
	// up as work goes (last in, first run, as defers would).
	var done []func()
	finish := func() {
		for i := len(done) - 1; i >= 0; i-- {
			done[i]()
		}
	}
	parked := false
	responding := false // Respond runs, counted in s.inFlight for Later
	defer func() {
		if responding {
			s.inFlight.Done() // Respond panicked
		}
		if r := recover(); r != nil {
			s.obs.Panicked()
			log.WithField("panic", fmt.Sprint(r)).WithField("stack", string(debug.Stack())).Error("request handler panicked; the request gets no answer")
			_ = s.dedup.Finish(ctx, key, req.Authenticator, nil)
		}
		if !parked {
			finish()
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
		done = append(done, s.shared.Hold(key))
	}
	// A request that repeats a login under way (pam_radius_auth failing
	// over, a NAS renumbering) waits for that login's answer.
	var reply *radius.Packet
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
			done = append(done, lease.Keep(s.joins.rdb, joinLease, s.joins.prefix+jk))
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
		done = append(done, func() { endJoin() }) // a panic's path
	}
	answer := func(a conversation.Reply, err error) {
		reply = a.Packet
		var failure *conversation.Failure
		if errors.As(err, &failure) {
			reply = s.upstreamFailed(req, client, st.cfg, failure)
		}
		// Those waiting get the answer before the NAS does: a request that
		// arrives once the answer is out is a new login, never a join.
		endJoin()
		a.Sent(reply)
		if reply == nil {
			s.finish(key, req.Authenticator, nil, log)
			return
		}
		s.reply(conn, addr, key, req, reply, log, received)
	}
	// A parked request is still in flight for Drain: it is answered (or
	// cut off) before the server stops.
	s.inFlight.Add(1)
	responding = true
	later := func(a conversation.Reply, err error) {
		defer s.inFlight.Done()
		defer finish()
		answer(a, err)
	}
	a, err := st.engine.Respond(ctx, conversation.Request{Packet: req, Client: client, Log: log, Received: received, Later: later, HoldContext: s.base})
	responding = false
	if errors.Is(err, conversation.ErrParked) {
		parked = true
		return
	}
	s.inFlight.Done()
	answer(a, err)
}
