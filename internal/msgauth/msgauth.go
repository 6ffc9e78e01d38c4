// Package msgauth computes and checks the RADIUS Message-Authenticator
// (RFC 2869 §5.14, RFC 3579 §3.2), which layeh.com/radius does not.
package msgauth

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"hash"
	"sync"

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
	out := make([]byte, md5.Size)
	sum(out, pkt, off, secret)
	return out
}

// Verify checks, in constant time, the Message-Authenticator at off of a
// request.
func Verify(pkt []byte, off int, secret []byte) bool {
	m := macs.Get().(*mac)
	defer macs.Put(m)
	sum(m.sum[:], pkt, off, secret)
	return hmac.Equal(m.sum[:], pkt[off:off+16])
}

// mac is the scratch space of one HMAC-MD5: every packet in and out is
// authenticated, so the digests are reused rather than allocated (as
// crypto/hmac.New would) for each.
type mac struct {
	h   hash.Hash
	pad [md5.BlockSize]byte
	key [md5.Size]byte
	sum [md5.Size]byte
}

var macs = sync.Pool{New: func() any { return &mac{h: md5.New()} }}

var zero [16]byte

// sum writes HMAC-MD5 (RFC 2104) over pkt, with the 16 bytes at off taken
// as zero, to dst.
func sum(dst, pkt []byte, off int, secret []byte) {
	m := macs.Get().(*mac)
	defer macs.Put(m)
	key := secret
	if len(key) > md5.BlockSize {
		m.h.Reset()
		m.h.Write(key)
		key = m.h.Sum(m.key[:0])
	}
	for i := range m.pad {
		m.pad[i] = 0x36
	}
	for i, c := range key {
		m.pad[i] ^= c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(pkt[:off])
	m.h.Write(zero[:])
	m.h.Write(pkt[off+16:])
	inner := m.h.Sum(m.sum[:0])
	for i := range m.pad {
		m.pad[i] ^= 0x36 ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(inner)
	m.h.Sum(dst[:0])
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
	sum(raw[22:38], raw, 22, p.Secret)
	copy(attrs[0].Attribute, raw[22:38])
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
