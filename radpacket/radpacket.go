// Package radpacket holds the RADIUS packet helpers the bridge and the
// conversation share: replies that keep Proxy-State, Reply-Message text
// cut to attributes, the Prompt attribute, and what a request says about
// its user.
package radpacket

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Attribute types read directly.
const (
	TypeEAPMessage     radius.Type = 79
	TypeCHAPPassword   radius.Type = 3
	TypeProxyState     radius.Type = 33
	TypeVendorSpecific radius.Type = 26

	vendorMicrosoft = 311
)

// MaxAttrLen is the longest value one attribute can carry.
const MaxAttrLen = 253

// NewReply starts a reply to req with every Proxy-State of req copied, in
// order (RFC 2865 §5.33).
func NewReply(req *radius.Packet, code radius.Code) *radius.Packet {
	r := req.Response(code)
	for _, a := range req.Attributes {
		if a.Type == TypeProxyState {
			r.Attributes = append(r.Attributes, &radius.AVP{Type: TypeProxyState, Attribute: a.Attribute})
		}
	}
	return r
}

// ProxyStates returns the Proxy-State attributes among attrs, in order,
// with their values copied (nil when there is none): what NewReply needs
// of a request that is kept a while.
func ProxyStates(attrs radius.Attributes) radius.Attributes {
	var out radius.Attributes
	for _, a := range attrs {
		if a.Type == TypeProxyState {
			out = append(out, &radius.AVP{Type: TypeProxyState, Attribute: append(radius.Attribute(nil), a.Attribute...)})
		}
	}
	return out
}

// AddReplyMessage adds text as Reply-Message attributes of at most 253
// bytes; the NAS shows them in order (see SplitText).
func AddReplyMessage(p *radius.Packet, text string) {
	for _, part := range SplitText(text, MaxAttrLen) {
		p.Add(rfc2865.ReplyMessage_Type, radius.Attribute(part))
	}
}

// SplitText cuts text into parts of at most max bytes that add up to it:
// after the last line break that fits, else after the last space, else
// (one word longer than max) on a UTF-8 boundary. A NAS that joins the
// parts shows the text as written; one that shows them as lines, or only
// the first (pam_radius_auth 2.0), shows whole lines or words.
func SplitText(text string, max int) []string {
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

// SetPrompt adds the Prompt attribute (RFC 2869 §5.10).
func SetPrompt(p *radius.Packet, echo bool) {
	v := rfc2869.Prompt_Value_NoEcho
	if echo {
		v = rfc2869.Prompt_Value_Echo
	}
	_ = rfc2869.Prompt_Set(p, v)
}

// AuthMethod names the authentication method of an Access-Request that is
// not PAP, or "" for PAP.
func AuthMethod(p *radius.Packet) string {
	if _, ok := p.Lookup(TypeEAPMessage); ok {
		return "EAP"
	}
	if _, ok := p.Lookup(TypeCHAPPassword); ok {
		return "CHAP"
	}
	for _, a := range p.Attributes {
		if a.Type != TypeVendorSpecific || len(a.Attribute) < 6 {
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

// UserName returns the User-Name if it is printable UTF-8 text.
func UserName(p *radius.Packet) (string, bool) {
	v, ok := p.Lookup(rfc2865.UserName_Type)
	if !ok || len(v) == 0 || len(v) > MaxAttrLen || !utf8.Valid(v) {
		return "", false
	}
	s := string(v)
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

// Station is the Calling-Station-Id the NAS reports, when it is text.
func Station(p *radius.Packet) string {
	v, ok := p.Lookup(rfc2865.CallingStationID_Type)
	if !ok || len(v) == 0 || !utf8.Valid(v) {
		return ""
	}
	return string(v)
}

// ClientIP is the end user's address as the NAS reports it.
func ClientIP(p *radius.Packet) string {
	if ip, err := rfc2865.FramedIPAddress_Lookup(p); err == nil {
		return ip.String()
	}
	if v, ok := p.Lookup(rfc2865.CallingStationID_Type); ok && utf8.Valid(v) {
		return string(v)
	}
	return ""
}

// ReplyMessages are a reply's Reply-Message texts.
func ReplyMessages(r *radius.Packet) []string {
	var out []string
	for _, v := range r.Attributes {
		if v.Type == rfc2865.ReplyMessage_Type {
			out = append(out, string(v.Attribute))
		}
	}
	return out
}
