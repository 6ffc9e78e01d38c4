// Package radattr parses reply attributes written as "Name = value"
// (Class, Filter-Id, VLAN assignment, and vendor-specific attributes such as
// Fortinet-Group-Name or Cisco-AVPair) and encodes them for a RADIUS reply.
//
// Vendor-Specific attributes are encoded here (RFC 2865 §5.26: type 26,
// vendor id, vendor type, vendor length, value), not with layeh.com/radius's
// generated vendor setters, which mis-handle attribute offsets.
package radattr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"layeh.com/radius"
)

// kind is an attribute's data type.
type kind int

const (
	kString kind = iota
	kInteger
	kIPAddr
	kTaggedInteger // RFC 2868: a tag octet, then 3 octets of value
)

// spec describes an attribute. Vendor 0 is a standard attribute.
type spec struct {
	name   string
	vendor uint32
	typ    byte
	kind   kind
	values map[string]uint32 // named integer values
}

// dictionary lists the attributes reply rules may name. The numbers are
// those of FreeRADIUS's dictionaries (rfc2865, rfc2868, rfc2869, cisco,
// fortinet, paloalto, aruba, mikrotik).
var dictionary = []spec{
	{name: "Service-Type", typ: 6, kind: kInteger, values: map[string]uint32{"Login-User": 1, "Framed-User": 2, "Administrative-User": 6, "NAS-Prompt-User": 7}},
	{name: "Framed-IP-Address", typ: 8, kind: kIPAddr},
	{name: "Framed-IP-Netmask", typ: 9, kind: kIPAddr},
	{name: "Filter-Id", typ: 11, kind: kString},
	{name: "Reply-Message", typ: 18, kind: kString},
	{name: "Framed-Route", typ: 22, kind: kString},
	{name: "Class", typ: 25, kind: kString},
	{name: "Session-Timeout", typ: 27, kind: kInteger},
	{name: "Idle-Timeout", typ: 28, kind: kInteger},
	{name: "Tunnel-Type", typ: 64, kind: kTaggedInteger, values: map[string]uint32{"PPTP": 1, "L2TP": 3, "GRE": 10, "VLAN": 13}},
	{name: "Tunnel-Medium-Type", typ: 65, kind: kTaggedInteger, values: map[string]uint32{"IPv4": 1, "IPv6": 2, "IEEE-802": 6}},
	{name: "Tunnel-Private-Group-Id", typ: 81, kind: kString},
	{name: "Framed-Pool", typ: 88, kind: kString},
	{name: "Cisco-AVPair", vendor: 9, typ: 1, kind: kString},
	{name: "Fortinet-Group-Name", vendor: 12356, typ: 1, kind: kString},
	{name: "PaloAlto-Admin-Role", vendor: 25461, typ: 1, kind: kString},
	{name: "PaloAlto-Panorama-Admin-Role", vendor: 25461, typ: 3, kind: kString},
	{name: "PaloAlto-User-Group", vendor: 25461, typ: 5, kind: kString},
	{name: "Aruba-User-Role", vendor: 14823, typ: 1, kind: kString},
	{name: "Aruba-Admin-Role", vendor: 14823, typ: 4, kind: kString},
	{name: "Mikrotik-Group", vendor: 14988, typ: 3, kind: kString},
}

// Names lists the attribute names Parse knows, sorted.
func Names() []string {
	out := make([]string, 0, len(dictionary))
	for _, s := range dictionary {
		out = append(out, s.name)
	}
	sort.Strings(out)
	return out
}

func lookup(name string) (spec, bool) {
	for _, s := range dictionary {
		if strings.EqualFold(s.name, name) {
			return s, true
		}
	}
	return spec{}, false
}

// Attr is a parsed reply attribute.
type Attr struct {
	// Text is the rule as written, for logs.
	Text string
	typ  radius.Type
	// value is the attribute's value: for a Vendor-Specific attribute, the
	// whole VSA (vendor id, vendor type, length, data).
	value radius.Attribute
}

// ErrSyntax is a rule that is not "Name = value".
var ErrSyntax = errors.New(`write it as "Name = value", such as "Filter-Id = vpn-users"`)

// Parse parses "Name = value". Names come from the built-in dictionary
// (see Names), or are written "Vendor-Specific:<vendor id>:<type>" for a
// vendor string attribute it does not know.
func Parse(rule string) (Attr, error) {
	name, value, ok := strings.Cut(rule, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return Attr{}, fmt.Errorf("%q: %w", rule, ErrSyntax)
	}
	value = strings.Trim(value, `"`)
	s, ok := lookup(name)
	if !ok {
		var err error
		if s, err = rawVendor(name); err != nil {
			return Attr{}, err
		}
	}
	data, err := encodeValue(s, value)
	if err != nil {
		return Attr{}, fmt.Errorf("%s: %w", s.name, err)
	}
	a := Attr{Text: s.name + " = " + value, typ: radius.Type(s.typ), value: data}
	if s.vendor != 0 {
		if len(data) > 247 {
			return Attr{}, fmt.Errorf("%s: the value is %d bytes; a vendor attribute holds at most 247", s.name, len(data))
		}
		vsa := make([]byte, 6, 6+len(data))
		binary.BigEndian.PutUint32(vsa, s.vendor)
		vsa[4], vsa[5] = s.typ, byte(2+len(data))
		a.typ, a.value = 26, append(vsa, data...)
	}
	return a, nil
}

func rawVendor(name string) (spec, error) {
	parts := strings.Split(name, ":")
	if len(parts) == 3 && strings.EqualFold(parts[0], "Vendor-Specific") {
		v, err1 := strconv.ParseUint(parts[1], 10, 32)
		t, err2 := strconv.ParseUint(parts[2], 10, 8)
		if err1 == nil && err2 == nil && v > 0 && t > 0 {
			return spec{name: name, vendor: uint32(v), typ: byte(t), kind: kString}, nil
		}
	}
	return spec{}, fmt.Errorf("%q is not an attribute mfabridge knows; use one of %s, or Vendor-Specific:<vendor id>:<type> for another vendor's string attribute", name, strings.Join(Names(), ", "))
}

func encodeValue(s spec, v string) ([]byte, error) {
	switch s.kind {
	case kString:
		if v == "" {
			return nil, errors.New("the value is empty")
		}
		if len(v) > 253 {
			return nil, fmt.Errorf("the value is %d bytes; an attribute holds at most 253", len(v))
		}
		return []byte(v), nil
	case kIPAddr:
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 address", v)
		}
		b := a.As4()
		return b[:], nil
	case kInteger, kTaggedInteger:
		n, ok := s.values[v]
		if !ok {
			for name, x := range s.values {
				if strings.EqualFold(name, v) {
					n, ok = x, true
				}
			}
		}
		if !ok {
			x, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				names := make([]string, 0, len(s.values))
				for name := range s.values {
					names = append(names, name)
				}
				sort.Strings(names)
				if len(names) > 0 {
					return nil, fmt.Errorf("%q is not a number or one of %s", v, strings.Join(names, ", "))
				}
				return nil, fmt.Errorf("%q is not a number", v)
			}
			n = uint32(x)
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, n)
		if s.kind == kTaggedInteger {
			if n > 0xffffff {
				return nil, fmt.Errorf("%d does not fit in 3 octets", n)
			}
			b[0] = 0 // no tag
		}
		return b, nil
	}
	return nil, errors.New("unsupported type")
}

// AddTo appends the attribute to p.
func (a Attr) AddTo(p *radius.Packet) {
	p.Attributes = append(p.Attributes, &radius.AVP{Type: a.typ, Attribute: a.value})
}
