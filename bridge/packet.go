package bridge

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Attribute types mfabridge looks at directly.
const (
	typeMessageAuthenticator radius.Type = 80
	typeEAPMessage           radius.Type = 79
	typeCHAPPassword         radius.Type = 3
	typeProxyState           radius.Type = 33
	typeVendorSpecific       radius.Type = 26
	typePrompt               radius.Type = 76

	vendorMicrosoft = 311
)

// maxAttrLen is the longest value one attribute can carry.
const maxAttrLen = 253

var errMalformed = errors.New("malformed packet")

// checkLength validates the header length of a datagram and returns the
// packet within it (bytes past Length are padding and ignored, RFC 2865 §3).
func checkLength(b []byte) ([]byte, error) {
	if len(b) < 20 {
		return nil, errMalformed
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > radius.MaxPacketLength || n > len(b) {
		return nil, errMalformed
	}
	return b[:n], nil
}

// findMessageAuthenticator returns the offset of the value of the first
// Message-Authenticator in a well-formed packet, or -1. It reports an error
// for a Message-Authenticator of the wrong length.
func findMessageAuthenticator(pkt []byte) (int, error) {
	for off := 20; off+2 <= len(pkt); {
		t, l := pkt[off], int(pkt[off+1])
		if l < 2 || off+l > len(pkt) {
			return -1, errMalformed
		}
		if radius.Type(t) == typeMessageAuthenticator {
			if l != 18 {
				return -1, errMalformed
			}
			return off + 2, nil
		}
		off += l
	}
	return -1, nil
}

// messageAuthenticator computes HMAC-MD5 over pkt with the 16 bytes of the
// Message-Authenticator at off taken as zero (RFC 3579 §3.2).
func messageAuthenticator(pkt []byte, off int, secret []byte) []byte {
	mac := hmac.New(md5.New, secret)
	mac.Write(pkt[:off])
	var zero [16]byte
	mac.Write(zero[:])
	mac.Write(pkt[off+16:])
	return mac.Sum(nil)
}

// verifyMessageAuthenticator checks, in constant time, the
// Message-Authenticator at off of a request.
func verifyMessageAuthenticator(pkt []byte, off int, secret []byte) bool {
	return hmac.Equal(messageAuthenticator(pkt, off, secret), pkt[off:off+16])
}

// encodeReply encodes a reply with Message-Authenticator as its first
// attribute: computed over the packet with the Request Authenticator, then
// the Response Authenticator is computed over the result (RFC 3579 §3.2,
// draft-ietf-radext-deprecating-radius).
func encodeReply(p *radius.Packet) ([]byte, error) {
	attrs := make(radius.Attributes, 0, len(p.Attributes)+1)
	attrs = append(attrs, &radius.AVP{Type: typeMessageAuthenticator, Attribute: make(radius.Attribute, 16)})
	for _, a := range p.Attributes {
		if a.Type != typeMessageAuthenticator {
			attrs = append(attrs, a)
		}
	}
	p.Attributes = attrs
	raw, err := p.MarshalBinary() // Authenticator is still the request's
	if err != nil {
		return nil, err
	}
	copy(attrs[0].Attribute, messageAuthenticator(raw, 22, p.Secret))
	return p.Encode()
}

// newReply starts a reply to req with every Proxy-State of req copied, in
// order (RFC 2865 §5.33).
func newReply(req *radius.Packet, code radius.Code) *radius.Packet {
	r := req.Response(code)
	for _, a := range req.Attributes {
		if a.Type == typeProxyState {
			r.Attributes = append(r.Attributes, &radius.AVP{Type: typeProxyState, Attribute: a.Attribute})
		}
	}
	return r
}

// addReplyMessage adds text as Reply-Message attributes, split at 253 bytes
// on UTF-8 boundaries; the NAS shows them in order.
func addReplyMessage(p *radius.Packet, text string) {
	for _, part := range splitText(text, maxAttrLen) {
		p.Add(rfc2865.ReplyMessage_Type, radius.Attribute(part))
	}
}

func splitText(text string, max int) []string {
	var parts []string
	for len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		parts = append(parts, text)
	}
	return parts
}

// setPrompt adds the Prompt attribute (RFC 2869 §5.10).
func setPrompt(p *radius.Packet, echo bool) {
	v := rfc2869.Prompt_Value_NoEcho
	if echo {
		v = rfc2869.Prompt_Value_Echo
	}
	_ = rfc2869.Prompt_Set(p, v)
}

// authMethod names the authentication method of an Access-Request that is
// not PAP, or "" for PAP.
func authMethod(p *radius.Packet) string {
	if _, ok := p.Lookup(typeEAPMessage); ok {
		return "EAP"
	}
	if _, ok := p.Lookup(typeCHAPPassword); ok {
		return "CHAP"
	}
	for _, a := range p.Attributes {
		if a.Type != typeVendorSpecific || len(a.Attribute) < 6 {
			continue
		}
		vendor := binary.BigEndian.Uint32(a.Attribute[:4])
		if vendor == vendorMicrosoft {
			switch a.Attribute[4] {
			case 1, 11: // MS-CHAP-Response, MS-CHAP-Challenge
				return "MS-CHAP"
			case 25: // MS-CHAP2-Response
				return "MS-CHAPv2"
			}
		}
	}
	return ""
}
