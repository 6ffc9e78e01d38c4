// Package msgauth computes and checks the RADIUS Message-Authenticator
// (RFC 2869 §5.14, RFC 3579 §3.2), which layeh.com/radius does not.
package msgauth

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"

	"layeh.com/radius"
)

// Type is the Message-Authenticator attribute type.
const Type radius.Type = 80

// ErrMalformed is an attribute list that does not add up, or a
// Message-Authenticator that is not 16 bytes.
var ErrMalformed = errors.New("msgauth: malformed attributes")

// Find returns the offset of the value of the first Message-Authenticator
// in pkt (a whole packet, header included), or -1 when there is none.
func Find(pkt []byte) (int, error) {
	for off := 20; off+2 <= len(pkt); {
		t, l := pkt[off], int(pkt[off+1])
		if l < 2 || off+l > len(pkt) {
			return -1, ErrMalformed
		}
		if radius.Type(t) == Type {
			if l != 18 {
				return -1, ErrMalformed
			}
			return off + 2, nil
		}
		off += l
	}
	return -1, nil
}

// Compute returns HMAC-MD5 over pkt with the 16 bytes at off taken as zero.
// For a response, pkt must hold the Request Authenticator in its header.
func Compute(pkt []byte, off int, secret []byte) []byte {
	mac := hmac.New(md5.New, secret)
	mac.Write(pkt[:off])
	var zero [16]byte
	mac.Write(zero[:])
	mac.Write(pkt[off+16:])
	return mac.Sum(nil)
}

// Verify checks, in constant time, the Message-Authenticator at off of a
// request.
func Verify(pkt []byte, off int, secret []byte) bool {
	return hmac.Equal(Compute(pkt, off, secret), pkt[off:off+16])
}

// Encode encodes p with a Message-Authenticator as its first attribute:
// computed over the packet with p.Authenticator in the header, then (for a
// response) the Response Authenticator is computed over the result.
func Encode(p *radius.Packet) ([]byte, error) {
	attrs := make(radius.Attributes, 0, len(p.Attributes)+1)
	attrs = append(attrs, &radius.AVP{Type: Type, Attribute: make(radius.Attribute, 16)})
	for _, a := range p.Attributes {
		if a.Type != Type {
			attrs = append(attrs, a)
		}
	}
	p.Attributes = attrs
	raw, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	copy(attrs[0].Attribute, Compute(raw, 22, p.Secret))
	copy(raw[22:38], attrs[0].Attribute)
	switch p.Code {
	case radius.CodeAccessRequest, radius.CodeStatusServer:
		// The Request Authenticator is sent as it is.
	case radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge:
		// Response Authenticator: MD5(Code+ID+Length+RequestAuth+Attributes+Secret),
		// computed on the same buffer instead of marshalling it again.
		h := md5.New()
		h.Write(raw)
		h.Write(p.Secret)
		h.Sum(raw[4:4:20])
	default:
		return p.Encode()
	}
	return raw, nil
}

// VerifyResponse checks a response's Response Authenticator and its
// Message-Authenticator (which must be present) against the request
// authenticator it answers.
func VerifyResponse(resp []byte, reqAuth [16]byte, secret []byte) bool {
	if len(resp) < 20 {
		return false
	}
	req := make([]byte, 20)
	copy(req[4:], reqAuth[:])
	if !radius.IsAuthenticResponse(resp, req, secret) {
		return false
	}
	off, err := Find(resp)
	if err != nil || off < 0 {
		return false
	}
	chk := append([]byte(nil), resp...)
	copy(chk[4:20], reqAuth[:])
	return hmac.Equal(Compute(chk, off, secret), resp[off:off+16])
}
