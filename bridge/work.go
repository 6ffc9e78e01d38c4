package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/redis/rueidis"
	"github.com/sirupsen/logrus"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// work answers one Access-Request in its own goroutine. A request held
// for a push is parked: work returns, its slot is free, and the rest of
// it (answering.answer) runs when the push is decided.
func (s *Server) work(ctx context.Context, conn net.PacketConn, addr net.Addr, key replycache.Key, client *config.Client, req *radius.Packet, st *serverState, log *logrus.Entry, received time.Time) {
	w := &answering{s: s, conn: conn, addr: addr, key: key, client: client, req: req, st: st, received: received}
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
			w.end()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Server.RequestTimeout.Duration)
	defer cancel()
	jk, joinable := joinKey(client, req)
	var claimed *rueidis.RedisResult // the login's claim across instances, when sent with Begin
	if s.shared != nil {
		var verdict replycache.Verdict
		var cached []byte
		var err error
		if joinable && s.joins.rdb != nil {
			// One round trip: the request's mark and the login's claim.
			verdict, cached, claimed, err = s.shared.BeginWith(ctx, key, req.Authenticator, s.joins.claimCommand(jk))
			if verdict != replycache.New && claimed != nil && claimed.Error() == nil {
				s.joins.unclaim(jk) // a retransmission: the login is not this request's
			}
		} else {
			verdict, cached, err = s.shared.Begin(ctx, key, req.Authenticator)
		}
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
		w.sharedHold = s.shared.Hold(key)
	}
	// A request that repeats a login under way (pam_radius_auth failing
	// over, a NAS renumbering) waits for that login's answer.
	if joinable {
		role, tmpl, shared, err := s.joins.begin(ctx, jk, key.Remote, claimed)
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
			w.leaseStop = s.joins.keeper.Keep(s.joins.prefix + jk)
		}
		w.join = jk
	}
	// A parked request is still in flight for Drain: it is answered (or
	// cut off) before the server stops.
	s.inFlight.Add(1)
	responding = true
	a, err := st.engine.Respond(ctx, conversation.Request{Packet: req, Client: client, Log: log, Received: received, Later: w.later, HoldContext: s.base})
	responding = false
	if errors.Is(err, conversation.ErrParked) {
		parked = true
		return
	}
	s.inFlight.Done()
	w.answer(a, err)
}

// answering is a request being answered: what its reply needs, now or
// when its push is decided. One record, so that a parked request costs
// little.
type answering struct {
	s        *Server
	conn     net.PacketConn
	addr     net.Addr
	key      replycache.Key
	client   *config.Client
	req      *radius.Packet
	st       *serverState
	received time.Time

	sharedHold func() // ends the shared reply cache's in-flight mark
	leaseStop  func() // ends the lease on the login across instances
	join       string // the login it leads ("": none, or ended)
}

// later takes the answer of a parked request.
func (w *answering) later(a conversation.Reply, err error) {
	defer w.s.inFlight.Done()
	defer w.end()
	w.answer(a, err)
}

// answer sends the reply (or none) for the answer Respond gave.
func (w *answering) answer(a conversation.Reply, err error) {
	log := a.Log() // the login's entry: this request's fields and the user
	if log == nil {
		log = w.s.log.WithFields(logrus.Fields{"src": w.addr.String(), "nas": w.client.Name})
	}
	reply := a.Packet
	var failure *conversation.Failure
	if errors.As(err, &failure) {
		reply = w.s.upstreamFailed(w.req, w.client, w.st.cfg, failure)
	}
	// Those waiting get the answer before the NAS does: a request that
	// arrives once the answer is out is a new login, never a join.
	reply, wire, recorded := w.endJoin(log, reply)
	a.Sent(reply)
	switch {
	case reply == nil:
		w.s.finish(w.key, w.req.Authenticator, nil, log)
	case recorded:
		_ = w.s.dedup.Finish(context.Background(), w.key, w.req.Authenticator, wire)
		w.s.deliver(w.conn, w.addr, reply, wire, log, w.received)
	default:
		w.s.reply(w.conn, w.addr, w.key, w.req, reply, log, w.received)
	}
}

// endJoin hands the login's answer, reply, to the requests that joined it,
// once, and returns the reply to send (nil when the NAS gave this request
// up). When the login is shared on Redis and the reply goes at once, the
// reply is encoded here and recorded in the shared reply cache in the same
// round trip: recorded is true, and wire is the reply encoded.
func (w *answering) endJoin(log logrus.FieldLogger, reply *radius.Packet) (_ *radius.Packet, wire []byte, recorded bool) {
	if w.join == "" {
		return reply, nil, false
	}
	jk := w.join
	w.join = ""
	s := w.s
	var also []rueidis.Completed
	if s.shared != nil && s.joins.rdb != nil && reply != nil && radius.Code(w.key.Code) == radius.CodeAccessRequest && !s.delays(reply) {
		if b, err := msgauth.Encode(reply); err == nil {
			wire, also = b, append(also, s.shared.FinishCommand(w.key, w.req.Authenticator, b))
		}
	}
	superseded, finished := s.joins.end(jk, w.key.Remote, reply, also...)
	if finished != nil {
		s.sharedFinished(s.shared.Finished(*finished), log)
		recorded = true
	}
	if superseded && reply != nil {
		// The NAS asked again from the same address under a new
		// Identifier: that request gets this answer; this one, which the
		// NAS gave up, gets none (a late answer to it ends pam_radius_auth
		// 2.0's login).
		log.Debug("the NAS repeated this login under a new Identifier: answered there, not here")
		reply = nil
	}
	return reply, wire, recorded
}

// end lets go of what the request held, however it ended (a panic's path
// included).
func (w *answering) end() {
	if _, _, recorded := w.endJoin(w.s.log, nil); recorded {
		// Not sent (a panic's path): the reply recorded is none.
		w.s.finish(w.key, w.req.Authenticator, nil, w.s.log)
	}
	if w.leaseStop != nil {
		w.leaseStop()
	}
	if w.sharedHold != nil {
		w.sharedHold()
	}
}
