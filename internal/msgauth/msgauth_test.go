package msgauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// TestRequestRoundTrip: a request signed here verifies, and fails with a
// wrong secret or a changed byte. (Interoperability with FreeRADIUS's
// radclient in both directions is tested end to end in e2e.)
func TestRequestRoundTrip(t *testing.T) {
	secret := []byte("testing123")
	p := radius.New(radius.CodeAccessRequest, secret)
	_ = rfc2865.UserName_SetString(p, "bob")
	raw, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	off, err := Find(raw)
	if err != nil || off != 22 {
		t.Fatalf("Find = %d, %v; want 22 (first attribute)", off, err)
	}
	if !Verify(raw, off, secret) {
		t.Fatal("own Message-Authenticator does not verify")
	}
	if Verify(raw, off, []byte("other")) {
		t.Fatal("verified with a wrong secret")
	}
	raw[len(raw)-1] ^= 1
	if Verify(raw, off, secret) {
		t.Fatal("verified a changed packet")
	}
}

func TestResponse(t *testing.T) {
	secret := []byte("s3cret")
	req := radius.New(radius.CodeAccessRequest, secret)
	resp := req.Response(radius.CodeAccessAccept)
	_ = rfc2865.ReplyMessage_SetString(resp, "ok")
	raw, err := Encode(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyResponse(raw, req.Authenticator, secret) {
		t.Fatal("response does not verify")
	}
	var other [16]byte
	if VerifyResponse(raw, other, secret) {
		t.Fatal("verified against another request")
	}
	plain, _ := req.Response(radius.CodeAccessAccept).Encode()
	if VerifyResponse(plain, req.Authenticator, secret) {
		t.Fatal("a response without Message-Authenticator verified")
	}
}

func TestFindMalformed(t *testing.T) {
	pkt := make([]byte, 20)
	for _, attrs := range [][]byte{{80, 6, 1, 2, 3, 4}, {1, 1}, {1, 9, 0}} {
		if _, err := Find(append(pkt, attrs...)); err == nil {
			t.Errorf("Find(% x) did not fail", attrs)
		}
	}
	if off, err := Find(append(pkt, 1, 3, 'a')); err != nil || off != -1 {
		t.Errorf("no Message-Authenticator: %d %v", off, err)
	}
}

// The pooled HMAC-MD5 gives what crypto/hmac gives, for secrets shorter and
// longer than MD5's block (a longer one is hashed first) and packets of any
// length, also when the pool hands back a digest used with another secret.
func TestComputeMatchesCryptoHMAC(t *testing.T) {
	for _, secretLen := range []int{1, 10, 63, 64, 65, 200} {
		secret := bytes.Repeat([]byte{byte(secretLen)}, secretLen)
		for _, n := range []int{38, 100, 4096} {
			pkt := make([]byte, n)
			for i := range pkt {
				pkt[i] = byte(i * 7)
			}
			mac := hmac.New(md5.New, secret)
			mac.Write(pkt[:22])
			mac.Write(make([]byte, 16))
			mac.Write(pkt[38:])
			want := mac.Sum(nil)
			if got := Compute(pkt, 22, secret); !bytes.Equal(got, want) {
				t.Fatalf("secret %d bytes, packet %d: got %x, want %x", secretLen, n, got, want)
			}
			copy(pkt[22:38], want)
			if !Verify(pkt, 22, secret) {
				t.Fatalf("secret %d bytes, packet %d: own value does not verify", secretLen, n)
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := []byte("a-bench-shared-secret-0123456789")
	pkt := make([]byte, 120)
	copy(pkt[22:38], Compute(pkt, 22, secret))
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(pkt, 22, secret) {
			b.Fatal("does not verify")
		}
	}
}
