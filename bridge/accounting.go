package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"net"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/mfabridge/mfabridge/bridge/replycache"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
	"github.com/mfabridge/mfabridge/transport"
)

// RADIUS accounting (RFC 2866) on a port of its own: each Accounting-Request
// of a NAS whose [[client]] has accounting = true is checked (its Request
// Authenticator, and its Message-Authenticator as for an Access-Request),
// logged as one structured line (who was on the network, from where, for
// how long, with how many octets) and answered with an Accounting-Response;
// a retransmission is answered from the reply cache. A NAS such as
// OpenVPN's radiusplugin fails a connection whose accounting goes
// unanswered.

// accountingSockets are the local addresses that serve accounting.
type accountingSockets struct{ m sync.Map }

func (a *accountingSockets) has(local string) bool {
	_, ok := a.m.Load(local)
	return ok
}

// ServeAccounting marks conns, to be served by ServeConns with the others,
// as accounting sockets: they take Accounting-Requests only.
func (s *Server) ServeAccounting(conns []net.PacketConn) {
	for _, c := range conns {
		s.acct.m.Store(c.LocalAddr().String(), true)
	}
}

// accountingAuthentic checks an Accounting-Request's Request Authenticator:
// MD5 of the packet with that field zeroed, then the shared secret
// (RFC 2866 §3).
func accountingAuthentic(pkt, secret []byte) bool {
	h := md5.New()
	h.Write(pkt[:4])
	h.Write(make([]byte, 16))
	h.Write(pkt[20:])
	h.Write(secret)
	return subtle.ConstantTimeCompare(h.Sum(nil), pkt[4:20]) == 1
}

// accountingMessageAuthenticator checks the Message-Authenticator at off of
// an Accounting-Request, computed (as for every request but Access-Request)
// with the Request Authenticator field zeroed.
func accountingMessageAuthenticator(pkt []byte, off int, secret []byte) bool {
	c := append([]byte(nil), pkt...)
	copy(c[4:20], make([]byte, 16))
	copy(c[off:off+16], make([]byte, 16))
	m := hmac.New(md5.New, secret)
	m.Write(c)
	return hmac.Equal(m.Sum(nil), pkt[off:off+16])
}

// accounting checks, logs and answers an Accounting-Request in the read
// loop (nothing in it waits).
func (s *Server) accounting(conn net.PacketConn, addr net.Addr, local string, pkt []byte, client *config.Client, log *logrus.Entry) {
	if !client.Accounting {
		s.drop(dropUnsupported, log, "Accounting-Request from a NAS whose [[client]] does not set accounting = true: dropped")
		return
	}
	secret := []byte(client.Secret)
	maOff, err := msgauth.Find(pkt)
	if err != nil {
		s.drop(dropMalformed, log, "malformed attributes: dropped")
		return
	}
	if !accountingAuthentic(pkt, secret) {
		s.drop(dropBadMsgAuth, log, "Accounting-Request with a wrong Request Authenticator: dropped; the NAS and radius.conf probably have different shared secrets")
		return
	}
	if maOff < 0 && client.MessageAuthenticatorRequired() {
		s.drop(dropNoMsgAuth, log, "Accounting-Request without Message-Authenticator: dropped (require_message_authenticator is on for this client)")
		return
	}
	if maOff >= 0 && !accountingMessageAuthenticator(pkt, maOff, secret) {
		s.drop(dropBadMsgAuth, log, "Accounting-Request with a bad Message-Authenticator: dropped")
		return
	}
	req, err := radius.Parse(pkt, secret)
	if err != nil {
		s.drop(dropMalformed, log, "malformed attributes: dropped")
		return
	}
	ap, _ := transport.AddrPort(addr)
	key := replycache.Key{Local: local, Remote: ap.String(), NAS: client.Name, Src: ap, Code: byte(req.Code), ID: req.Identifier}
	switch verdict, cached, _ := s.dedup.Begin(context.Background(), key, req.Authenticator); verdict {
	case replycache.InFlight:
		s.drop(dropInFlight, log, "")
		return
	case replycache.Replay:
		s.obs.Retransmission("replayed")
		if _, err := conn.WriteTo(cached, addr); err != nil {
			log.WithError(err).Warn("cannot send a reply")
		}
		return
	}
	status := rfc2866.AcctStatusType_Get(req)
	s.obs.Accounting(strings.ToLower(status.String()))
	fields := logrus.Fields{"event": "accounting", "status": status.String()}
	for name, v := range map[string]string{
		"user":            text(req, rfc2865.UserName_Type),
		"session_id":      text(req, rfc2866.AcctSessionID_Type),
		"calling_station": text(req, rfc2865.CallingStationID_Type),
		"nas_identifier":  text(req, rfc2865.NASIdentifier_Type),
	} {
		if v != "" {
			fields[name] = v
		}
	}
	if ip, err := rfc2865.FramedIPAddress_Lookup(req); err == nil {
		fields["framed_ip"] = ip.String()
	}
	if t, err := rfc2866.AcctSessionTime_Lookup(req); err == nil {
		fields["session_time"] = uint32(t)
	}
	if status == rfc2866.AcctStatusType_Value_Stop || status == rfc2866.AcctStatusType_Value_InterimUpdate {
		fields["input_octets"] = octets(req, rfc2866.AcctInputOctets_Type, rfc2869.AcctInputGigawords_Type)
		fields["output_octets"] = octets(req, rfc2866.AcctOutputOctets_Type, rfc2869.AcctOutputGigawords_Type)
	}
	if c, err := rfc2866.AcctTerminateCause_Lookup(req); err == nil {
		fields["terminate_cause"] = c.String()
	}
	log.WithFields(fields).Info("accounting " + status.String())
	s.reply(conn, addr, key, req, radpacket.NewReply(req, radius.CodeAccountingResponse), log, s.now())
}

// text is an attribute's value when it is printable UTF-8, else "".
func text(p *radius.Packet, t radius.Type) string {
	v, ok := p.Lookup(t)
	if !ok || !utf8.Valid(v) {
		return ""
	}
	return string(v)
}

// octets is a 32-bit counter with its gigawords (RFC 2869 §5.1).
func octets(p *radius.Packet, low, high radius.Type) uint64 {
	var n uint64
	if v, ok := p.Lookup(low); ok && len(v) == 4 {
		n = uint64(v[0])<<24 | uint64(v[1])<<16 | uint64(v[2])<<8 | uint64(v[3])
	}
	if v, ok := p.Lookup(high); ok && len(v) == 4 {
		n |= (uint64(v[0])<<24 | uint64(v[1])<<16 | uint64(v[2])<<8 | uint64(v[3])) << 32
	}
	return n
}
