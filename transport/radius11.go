package transport

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// RADIUS/1.1 (draft-ietf-radext-radiusv11): negotiated by ALPN on a TLS or
// DTLS connection, it drops MD5 from RADIUS. The Identifier and the
// Authenticators give way to a 4-octet Token, User-Password travels in the
// clear inside the tunnel, and Message-Authenticator is neither sent nor
// checked. mfabridge keeps one packet path: a RADIUS/1.1 connection is
// translated at its edge (V11) into historic packets under the
// connection's secret, and the replies back, so that everything behind it
// (checks, reply cache, conversation) is the same for every transport.

// The ALPN names of the RADIUS versions.
const (
	ALPN10 = "radius/1.0"
	ALPN11 = "radius/1.1"
)

// ErrTooManyOutstanding is a RADIUS/1.1 request that finds all 256
// Identifiers of its connection taken by requests not yet answered.
var ErrTooManyOutstanding = errors.New("transport: 256 RADIUS/1.1 requests outstanding on one connection")

// v11Keep is how long a Token is remembered after its request, so that a
// DTLS retransmission (the same Token) is a retransmission behind the
// edge too (RFC 5080's reply cache lifetime at the most).
const v11Keep = 30 * time.Second

// V11 translates the packets of one RADIUS/1.1 connection.
type V11 struct {
	secret []byte

	mu      sync.Mutex
	next    byte
	byID    map[byte]v11Request    // the last request given each Identifier
	byToken map[[4]byte]v11Request // recent, by Token
}

type v11Request struct {
	token    [4]byte
	id       byte
	auth     [16]byte
	at       time.Time
	answered bool // its Identifier may be given again
}

// NewV11 returns the translator of a connection whose historic packets are
// protected with secret (the transport's fixed one).
func NewV11(secret string) *V11 {
	return &V11{secret: []byte(secret), byID: map[byte]v11Request{}, byToken: map[[4]byte]v11Request{}}
}

// In turns a RADIUS/1.1 request into its historic form: an Identifier and
// Request Authenticator of its own (the same again for the same Token),
// User-Password hidden under the secret, and a Message-Authenticator.
func (v *V11) In(pkt []byte) ([]byte, error) {
	if len(pkt) < 20 {
		return nil, errors.New("transport: RADIUS/1.1 packet shorter than its header")
	}
	var token [4]byte
	copy(token[:], pkt[4:8])
	r, err := v.request(token)
	if err != nil {
		return nil, err
	}
	// Parse as a historic packet of no secret: attributes are taken as
	// they come (User-Password is clear text in RADIUS/1.1).
	p, err := radius.Parse(pkt, nil)
	if err != nil {
		return nil, err
	}
	p.Identifier, p.Authenticator, p.Secret = r.id, r.auth, v.secret
	var attrs radius.Attributes
	for _, a := range p.Attributes {
		switch a.Type {
		case msgauth.Type: // not used in RADIUS/1.1: ignored
		case rfc2865.UserPassword_Type:
			hidden, err := radius.NewUserPassword(a.Attribute, v.secret, r.auth[:])
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, &radius.AVP{Type: a.Type, Attribute: hidden})
		default:
			attrs = append(attrs, a)
		}
	}
	p.Attributes = append(radius.Attributes{{Type: msgauth.Type, Attribute: make([]byte, 16)}}, attrs...)
	raw, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	copy(raw[22:38], msgauth.Compute(raw, 22, v.secret))
	return raw, nil
}

// request returns the translation of token, a new one for a new token.
func (v *V11) request(token [4]byte) (v11Request, error) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.byToken[token]; ok && now.Sub(r.at) < v11Keep {
		return r, nil
	}
	if len(v.byToken) > 4096 {
		for t, r := range v.byToken {
			if now.Sub(r.at) >= v11Keep {
				delete(v.byToken, t)
			}
		}
	}
	for range 256 {
		id := v.next
		v.next++
		if r, taken := v.byID[id]; taken && !r.answered {
			continue
		}
		r := v11Request{token: token, id: id, at: now}
		if _, err := rand.Read(r.auth[:]); err != nil {
			return v11Request{}, err
		}
		v.byID[id], v.byToken[token] = r, r
		return r, nil
	}
	return v11Request{}, ErrTooManyOutstanding
}

// Out turns a historic reply into RADIUS/1.1: the request's Token, the
// reserved fields zero, without Message-Authenticator. The request is the
// one whose Authenticator the reply answers (a reply cached for a DTLS
// retransmission may come after its Identifier was given again). A reply
// to no request of this connection is an error.
func (v *V11) Out(wire []byte) ([]byte, error) {
	if len(wire) < 20 {
		return nil, errors.New("transport: reply shorter than its header")
	}
	v.mu.Lock()
	r, ok := v.byID[wire[1]]
	if ok && msgauth.VerifyResponse(wire, r.auth, v.secret) {
		r.answered = true
		v.byID[wire[1]] = r
	} else {
		ok = false
		for _, c := range v.byToken {
			if c.id == wire[1] && msgauth.VerifyResponse(wire, c.auth, v.secret) {
				r, ok = c, true
				break
			}
		}
	}
	v.mu.Unlock()
	if !ok {
		return nil, errors.New("transport: a reply to no RADIUS/1.1 request of this connection")
	}
	out := make([]byte, 20, len(wire))
	out[0] = wire[0]
	copy(out[4:8], r.token[:])
	for rest := wire[20:]; len(rest) >= 2; {
		n := int(rest[1])
		if n < 2 || n > len(rest) {
			return nil, errors.New("transport: reply with a broken attribute")
		}
		if rest[0] != byte(msgauth.Type) {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
	return out, nil
}
