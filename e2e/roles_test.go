package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/radattr"
)

// TestUserNameIsMapped: "CORP\Alice" from the NAS reaches the tenant as
// "alice", through the whole conversation.
func TestUserNameIsMapped(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].StripDomain, c.Clients[0].Lowercase = true, true })
	r := e.radclient(t, pap(`CORP\Alice`, "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer(`CORP\Alice`, "1", r.State)).must(t, "Access-Challenge")
	e.radclient(t, answer(`CORP\Alice`, totpCode(t), r.State)).must(t, "Access-Accept")
	var users []string
	for _, c := range e.demo.Tenant.Calls() {
		if c.Path == "/security/startauthentication" {
			users = append(users, c.User)
		}
	}
	if strings.Join(users, ",") != "alice" {
		t.Fatalf("the tenant saw %v, want alice", users)
	}
	if !strings.Contains(e.logs.String(), `user=alice user_sent="CORP\\Alice"`) {
		t.Errorf("the log does not show both forms:\n%s", e.logs.String())
	}
}

func roleRules(c *config.Config) {
	cl := &c.Clients[0]
	cl.AllowedRoles = []string{"Network Admins"}
	for _, rule := range []string{"Class = vpn-users", "Filter-Id = standard"} {
		a, _ := radattr.Parse(rule)
		cl.ReplyAttrs = append(cl.ReplyAttrs, a)
	}
	cl.RoleReply = map[string][]string{"Network Admins": {"Fortinet-Group-Name = admins", "Cisco-AVPair = shell:priv-lvl=15"}}
	cl.RoleReplyAttrs = map[string][]radattr.Attr{}
	for _, rule := range cl.RoleReply["Network Admins"] {
		a, _ := radattr.Parse(rule)
		cl.RoleReplyAttrs["Network Admins"] = append(cl.RoleReplyAttrs["Network Admins"], a)
	}
}

// TestUserOutsideAllowedRolesIsRejectedAfterMFA: alice passes MFA but is
// not in "Network Admins".
func TestUserOutsideAllowedRolesIsRejectedAfterMFA(t *testing.T) {
	e := start(t, roleRules)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	if n := e.demo.Tenant.Count("/UserMgmt/GetUsersRolesAndAdministrativeRights", ""); n != 0 {
		t.Fatal("roles were looked up before MFA")
	}
	r = e.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Reject")
	if r.Message != "You are not allowed to use this service." {
		t.Errorf("Reply-Message %q", r.Message)
	}
	if !strings.Contains(e.logs.String(), "outcome=not_allowed") || !strings.Contains(e.logs.String(), "allowed_roles") {
		t.Errorf("no clear log line:\n%s", e.logs.String())
	}
}

// TestAcceptCarriesReplyAttributes: bob (Network Admins) gets Class,
// Filter-Id and two vendor-specific attributes; radclient decodes them by
// name, and their bytes are checked.
func TestAcceptCarriesReplyAttributes(t *testing.T) {
	e := start(t, roleRules)
	r := e.radclient(t, pap("bob", "bob-password")).must(t, "Access-Accept")
	for _, want := range []string{
		`Class = 0x76706e2d7573657273`, // "vpn-users"; Class is octets in FreeRADIUS's dictionary
		`Filter-Id = "standard"`,
		`Fortinet-Group-Name = "admins"`,
		`Cisco-AVPair = "shell:priv-lvl=15"`,
	} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("radclient did not decode %s:\n%s", want, r.Raw)
		}
	}

	// The same reply's bytes, through a Go client.
	req := radius.New(radius.CodeAccessRequest, []byte(demo.Secret))
	_ = rfc2865.UserName_SetString(req, "bob")
	_ = rfc2865.UserPassword_SetString(req, "bob-password")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := radius.Exchange(ctx, req, e.addr)
	if err != nil || resp.Code != radius.CodeAccessAccept {
		t.Fatalf("%v %v", err, resp)
	}
	var vsas [][]byte
	for _, a := range resp.Attributes {
		if a.Type == 26 {
			vsas = append(vsas, a.Attribute)
		}
	}
	want := [][]byte{
		append([]byte{0, 0, 0x30, 0x44, 1, 8}, "admins"...),       // Fortinet (12356), type 1
		append([]byte{0, 0, 0, 9, 1, 19}, "shell:priv-lvl=15"...), // Cisco (9), type 1
	}
	if len(vsas) != 2 || !bytes.Equal(vsas[0], want[0]) || !bytes.Equal(vsas[1], want[1]) {
		t.Fatalf("VSAs % x, want % x", vsas, want)
	}
	if string(resp.Get(25)) != "vpn-users" || string(resp.Get(11)) != "standard" {
		t.Fatalf("Class %q, Filter-Id %q", resp.Get(25), resp.Get(11))
	}
}
