package bridge

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// Attribute types mfabridge looks at directly.
const (
	typeMessageAuthenticator             = msgauth.Type
	typeEAPMessage           radius.Type = 79
	typeCHAPPassword         radius.Type = 3
	typeProxyState           radius.Type = 33
	typeVendorSpecific       radius.Type = 26

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

// addReplyMessage adds text as Reply-Message attributes of at most 253
// bytes; the NAS shows them in order (see splitText).
func addReplyMessage(p *radius.Packet, text string) {
	for _, part := range splitText(text, maxAttrLen) {
		p.Add(rfc2865.ReplyMessage_Type, radius.Attribute(part))
	}
}

// splitText cuts text into parts of at most max bytes that add up to it:
// after the last line break that fits, else after the last space, else
// (one word longer than max) on a UTF-8 boundary. A NAS that joins the
// parts shows the text as written; one that shows them as lines, or only
// the first (pam_radius_auth 2.0), shows whole lines or words.
func splitText(text string, max int) []string {
	var parts []string
	for len(text) > max {
		cut := strings.LastIndexByte(text[:max], '\n') + 1
		if cut <= 0 {
			cut = strings.LastIndexByte(text[:max], ' ') + 1
		}
		if cut <= 0 {
			cut = max
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
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
