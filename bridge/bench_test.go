package bridge

import (
	"context"
	"net"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
)

// BenchmarkDecodeAndVerify is the read loop's work on an Access-Request:
// length check, Message-Authenticator check, parse.
func BenchmarkDecodeAndVerify(b *testing.B) {
	_, raw := request(&testing.T{}, testSecret, true, papBuild("alice", "alice-password"))
	secret := []byte(testSecret)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pkt, err := checkLength(raw)
		if err != nil {
			b.Fatal(err)
		}
		off, err := msgauth.Find(pkt)
		if err != nil || !msgauth.Verify(pkt, off, secret) {
			b.Fatal("verify")
		}
		if _, err := radius.Parse(pkt, secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeReply encodes an Access-Challenge with
// Message-Authenticator first.
func BenchmarkEncodeReply(b *testing.B) {
	req, _ := request(&testing.T{}, testSecret, true, papBuild("alice", "alice-password"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := radpacket.NewReply(req, radius.CodeAccessChallenge)
		_ = rfc2865.State_SetString(r, "0123456789abcdef0123456789abcdef")
		radpacket.AddReplyMessage(r, "Choose how to sign in:\n1) OATH OTP Client\n2) SMS... XXX-1234\n3) Mobile Authenticator\nEnter a number:")
		if _, err := msgauth.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionCreateTake stores and consumes a conversation in the
// in-memory store, with a transaction the size of a CyberArk one.
func BenchmarkSessionCreateTake(b *testing.B) {
	st := session.NewMemory(1<<30, time.Minute)
	conv := session.Session{NAS: "vpn", User: "alice", Phase: session.PhaseMenu,
		Txn:     identity.Txn{Provider: "corp", Data: make([]byte, 900)},
		Choices: []identity.Mechanism{{ID: "m1", Kind: identity.KindCode, Name: "OATH", Label: "OATH OTP Client"}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k, _ := newState()
			if err := st.Create(ctx, k, conv, time.Minute); err != nil {
				b.Fatal(err)
			}
			if _, err := st.Take(ctx, k); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAccessRequestUDP is a whole PAP exchange through the UDP
// server with a provider that accepts at once: the bridge's own cost per
// request, client included.
func BenchmarkAccessRequestUDP(b *testing.B) {
	cfg := testConfig()
	n := 0
	cfg.Clients[0].RateLimit = &n
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": accepting()}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.ServeConns(ctx, []net.PacketConn{conn}) }()
	defer cancel()
	c, _ := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	defer c.Close()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, raw := request(&testing.T{}, testSecret, true, papBuild("alice", "pw"))
		_, _ = c.Write(raw)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
