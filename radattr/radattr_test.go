package radattr

import (
	"bytes"
	"strings"
	"testing"

	"layeh.com/radius"
)

func TestEncoding(t *testing.T) {
	for _, tc := range []struct {
		rule string
		typ  radius.Type
		want []byte
	}{
		{"Class = vpn-users", 25, []byte("vpn-users")},
		{`Filter-Id = "standard"`, 11, []byte("standard")},
		{"Session-Timeout = 3600", 27, []byte{0, 0, 0x0e, 0x10}},
		{"Service-Type = Administrative-User", 6, []byte{0, 0, 0, 6}},
		{"Framed-IP-Address = 192.0.2.44", 8, []byte{192, 0, 2, 44}},
		{"Tunnel-Type = VLAN", 64, []byte{0, 0, 0, 13}},
		{"Tunnel-Medium-Type = IEEE-802", 65, []byte{0, 0, 0, 6}},
		{"Tunnel-Private-Group-Id = 100", 81, []byte("100")},
		// Vendor-Specific: vendor id, vendor type, vendor length, value.
		{"Fortinet-Group-Name = admins", 26, []byte{0, 0, 0x30, 0x44, 1, 8, 'a', 'd', 'm', 'i', 'n', 's'}},
		{"Cisco-AVPair = shell:priv-lvl=15", 26, append([]byte{0, 0, 0, 9, 1, 19}, "shell:priv-lvl=15"...)},
		{"PaloAlto-User-Group = gp-admins", 26, append([]byte{0, 0, 0x63, 0x75, 5, 11}, "gp-admins"...)},
		{"Aruba-User-Role = employee", 26, append([]byte{0, 0, 0x39, 0xe7, 1, 10}, "employee"...)},
		{"Mikrotik-Group = full", 26, append([]byte{0, 0, 0x3a, 0x8c, 3, 6}, "full"...)},
		{"Vendor-Specific:311:16 = x", 26, []byte{0, 0, 1, 55, 16, 3, 'x'}},
	} {
		a, err := Parse(tc.rule)
		if err != nil {
			t.Errorf("%s: %v", tc.rule, err)
			continue
		}
		if a.typ != tc.typ || !bytes.Equal(a.value, tc.want) {
			t.Errorf("%s: type %d value % x, want %d % x", tc.rule, a.typ, a.value, tc.typ, tc.want)
		}
		// It survives the packet codec.
		p := radius.New(radius.CodeAccessAccept, []byte("s"))
		a.AddTo(p)
		raw, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		q, err := radius.Parse(raw, []byte("s"))
		if err != nil || !bytes.Equal(q.Get(tc.typ), tc.want) {
			t.Errorf("%s: round trip % x", tc.rule, q.Get(tc.typ))
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"Class", "Name = value"},
		{"Fortigate-Group = x", "not an attribute mfabridge knows"},
		{"Session-Timeout = soon", `"soon" is not a number`},
		{"Tunnel-Type = Carrier-Pigeon", "VLAN"},
		{"Framed-IP-Address = 2001:db8::1", "not an IPv4 address"},
		{"Filter-Id = ", "empty"},
		{"Cisco-AVPair = " + strings.Repeat("x", 250), "at most 247"},
	} {
		_, err := Parse(tc.rule)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.rule, err, tc.want)
		}
	}
}
