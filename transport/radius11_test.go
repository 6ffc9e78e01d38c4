package transport

import (
	"bytes"
	"encoding/binary"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// TestV11Translation: a RADIUS/1.1 request becomes a historic one under the
// secret (User-Password hidden, Message-Authenticator first and right); the
// same Token again is the same historic request (a DTLS retransmission);
// the reply goes back with the Token, without Message-Authenticator, also
// when it is replayed after its Identifier was given again.
func TestV11Translation(t *testing.T) {
	const secret = "radius/dtls"
	v := NewV11(secret)
	in := func(token uint32, password string) []byte {
		p := radius.New(radius.CodeAccessRequest, nil)
		p.Add(rfc2865.UserName_Type, radius.Attribute("alice"))
		p.Add(rfc2865.UserPassword_Type, radius.Attribute(password))
		raw, _ := p.MarshalBinary()
		raw[1] = 0
		binary.BigEndian.PutUint32(raw[4:8], token)
		clear(raw[8:20])
		h, err := v.In(raw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := in(7, "s3cret")
	off, err := msgauth.Find(first)
	if err != nil || off != 22 || !msgauth.Verify(first, off, []byte(secret)) {
		t.Fatalf("Message-Authenticator at %d, %v", off, err)
	}
	p, err := radius.Parse(first, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := rfc2865.UserPassword_LookupString(p); err != nil || pw != "s3cret" {
		t.Fatalf("User-Password %q %v", pw, err)
	}
	if again := in(7, "s3cret"); !bytes.Equal(again[:20], first[:20]) {
		t.Fatal("the same Token made another historic request")
	}
	reply := p.Response(radius.CodeAccessAccept)
	wire, err := msgauth.Encode(reply)
	if err != nil {
		t.Fatal(err)
	}
	// 256 more requests give every Identifier again.
	for tok := uint32(100); tok < 356; tok++ {
		h := in(tok, "x")
		r, _ := radius.Parse(h, []byte(secret))
		w, _ := msgauth.Encode(r.Response(radius.CodeAccessReject))
		if _, err := v.Out(w); err != nil {
			t.Fatal(err)
		}
	}
	out, err := v.Out(wire)
	if err != nil {
		t.Fatalf("the replayed reply: %v", err)
	}
	if binary.BigEndian.Uint32(out[4:8]) != 7 || out[1] != 0 || int(binary.BigEndian.Uint16(out[2:4])) != len(out) {
		t.Fatalf("header % x", out[:20])
	}
	if off, _ := msgauth.Find(out); off >= 0 {
		t.Fatal("Message-Authenticator left in a RADIUS/1.1 reply")
	}
	if _, err := v.Out([]byte{2, 99, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}); err == nil {
		t.Fatal("a reply to no request was sent")
	}
}
