package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
	"github.com/mfabridge/mfabridge/radpacket"
)

// TestBadRequestsAreRejected: requests that pass the packet checks but
// cannot start or continue a login get an Access-Reject with a reason, and
// never reach the identity provider.
func TestBadRequestsAreRejected(t *testing.T) {
	tests := []struct {
		name    string
		build   func(*radius.Packet)
		message string
		outcome string
	}{
		{"no User-Name", func(p *radius.Packet) { _ = rfc2865.UserPassword_SetString(p, "pw") }, "Authentication failed.", "bad_user_name"},
		{"binary junk in User-Name", papBuild("", "pw", func(p *radius.Packet) {
			p.Set(rfc2865.UserName_Type, radius.Attribute{0xff, 0xfe, 0x00, 0x01})
		}), "Authentication failed.", "bad_user_name"},
		{"control character in User-Name", papBuild("ali\nce", "pw"), "Authentication failed.", "bad_user_name"},
		{"no User-Password and no State", func(p *radius.Packet) { _ = rfc2865.UserName_SetString(p, "alice") }, "PAP only", "not_pap"},
		{"MS-CHAPv2", func(p *radius.Packet) {
			_ = rfc2865.UserName_SetString(p, "alice")
			vsa := append([]byte{0, 0, 1, 55, 25, 52}, make([]byte, 50)...)
			p.Add(radpacket.TypeVendorSpecific, vsa)
		}, "PAP only", "not_pap"},
		{"EAP with Message-Authenticator", func(p *radius.Packet) {
			_ = rfc2865.UserName_SetString(p, "alice")
			p.Add(radpacket.TypeEAPMessage, radius.Attribute{2, 0, 0, 5, 1})
		}, "PAP only", "not_pap"},
		{"unknown State", papBuild("alice", "1", func(p *radius.Packet) { _ = rfc2865.State_SetString(p, "not-a-state-we-issued") }), "expired", "bad_state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := accepting()
			ts := startServer(t, p, nil)
			n := newNAS(t, ts)
			req, raw := request(t, testSecret, true, tc.build)
			n.send(raw)
			r := checkReply(t, req, raw, n.recv(time.Second))
			if r.Code != radius.CodeAccessReject || !strings.Contains(rfc2865.ReplyMessage_GetString(r), tc.message) {
				t.Fatalf("%v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
			}
			if ts.srv.Count("outcome:"+tc.outcome) != 1 {
				t.Fatalf("counts %v", ts.srv.Counts())
			}
			if p.Calls.Load() != 0 {
				t.Fatal("the provider was called")
			}
		})
	}
}

func TestOversizedDatagramIsDropped(t *testing.T) {
	ts := startServer(t, accepting(), nil)
	n := newNAS(t, ts)
	_, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	big := append(raw, make([]byte, 5000)...)
	big[2], big[3] = 0x13, 0x88 // Length 5000: over the 4096 RADIUS allows
	n.send(big)
	if n.recv(300*time.Millisecond) != nil || ts.srv.Count("drop:"+dropMalformed) != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
}

func TestStateOfAnotherNASIsRejected(t *testing.T) {
	p := menuProvider()
	ts := startServer(t, p, nil)
	state, _ := newState()
	conv := session.Session{NAS: "other-nas", User: "alice", Phase: session.PhaseMenu, Txn: identity.Txn{Provider: "scripted", Data: []byte(`{}`)},
		Choices: []identity.Mechanism{{ID: "a", Kind: identity.KindCode, Name: "OATH"}}}
	if err := ts.srv.store.Create(context.Background(), state, conv, time.Minute); err != nil {
		t.Fatal(err)
	}
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "1", func(p *radius.Packet) { _ = rfc2865.State_SetString(p, state) }))
	n.send(raw)
	if r := checkReply(t, req, raw, n.recv(time.Second)); r.Code != radius.CodeAccessReject {
		t.Fatalf("code %v", r.Code)
	}
	if ts.srv.Count("outcome:foreign_state") != 1 || p.Calls.Load() != 0 {
		t.Fatalf("counts %v, provider calls %d", ts.srv.Counts(), p.Calls.Load())
	}
}

func TestTooManyRoundsEndTheConversation(t *testing.T) {
	ts := startServer(t, menuProvider(), nil)
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(time.Second))
	for i := 0; i < conversation.MaxRounds+1 && r.Code == radius.CodeAccessChallenge; i++ {
		st := rfc2865.State_Get(r)
		req, raw = request(t, testSecret, true, papBuild("alice", "no such choice", func(p *radius.Packet) { _ = rfc2865.State_Set(p, st) }))
		n.send(raw)
		r = checkReply(t, req, raw, n.recv(time.Second))
	}
	if r.Code != radius.CodeAccessReject || rfc2865.ReplyMessage_GetString(r) != config.DefaultTexts.TooManyRounds {
		t.Fatalf("%v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
}

// TestWrongSecretWithoutMessageAuthenticator: without Message-Authenticator
// a wrong secret cannot be told from a wrong password: the password decodes
// to junk and the login fails like one.
func TestWrongSecretWithoutMessageAuthenticator(t *testing.T) {
	passwords := make(chan string, 1)
	p := &identitytest.Scripted{OnStart: func(_ context.Context, req identity.Request) (identity.Step, error) {
		passwords <- req.Password
		return identity.Step{Status: identity.Rejected, Reason: "Authentication failed."}, nil
	}}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	_, raw := request(t, "not-the-secret", false, papBuild("alice", "pw"))
	n.send(raw)
	r := n.recv(time.Second)
	if r == nil || radius.Code(r[0]) != radius.CodeAccessReject {
		t.Fatal("no reject")
	}
	if got := <-passwords; got == "pw" {
		t.Fatal("the password decoded with the wrong secret")
	}
}
