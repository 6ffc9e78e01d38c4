package bridge

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
	"github.com/mfabridge/mfabridge/transport"
)

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
	secret := st.secret(client)
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
