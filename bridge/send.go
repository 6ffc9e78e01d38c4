package bridge

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/internal/msgauth"
)

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
	s.deliver(conn, addr, reply, wire, log, received)
}

// deliver sends a reply recorded in the reply caches.
func (s *Server) deliver(conn net.PacketConn, addr net.Addr, reply *radius.Packet, wire []byte, log logrus.FieldLogger, received time.Time) {
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
	s.sharedFinished(s.shared.Finish(context.Background(), key, auth, wire), log)
}

// sharedFinished reports a failure to record a reply in the shared reply
// cache.
func (s *Server) sharedFinished(err error, log logrus.FieldLogger) {
	if err != nil && !errors.Is(err, replycache.ErrResting) {
		s.obs.SharedReplyFailed()
		s.warns.warn(log.WithError(err), "shared_replies", s.now(), "shared reply cache (Redis) not reachable: retransmissions to other instances may be processed again")
	}
}

// delays says whether reply waits before it is sent (server.reject_delay).
func (s *Server) delays(reply *radius.Packet) bool {
	return reply.Code == radius.CodeAccessReject && s.state.Load().cfg.Server.RejectDelay.Duration > 0
}
