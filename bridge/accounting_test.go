package bridge

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/identity"
)

// TestAccounting: on the accounting port, an Accounting-Request of a NAS
// with accounting = true is answered with an authentic Accounting-Response
// and logged as one line; a retransmission is answered from the cache; a
// wrong Request Authenticator, a NAS without accounting and an
// Access-Request there are dropped and counted.
func TestAccounting(t *testing.T) {
	cfg := testConfig()
	cfg.Clients[0].Accounting = true
	logs := &bridgetest.Buffer{}
	log := logrus.New()
	log.SetOutput(logs)
	srv, err := New(Options{Config: cfg, Providers: map[string]identity.Provider{"scripted": accepting()}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ServeAccounting([]net.PacketConn{acct})
	bridgetest.Serve(t, srv, acct)
	n := newNAS(t, &testServer{addr: acct.LocalAddr().(*net.UDPAddr)})

	p := radius.New(radius.CodeAccountingRequest, []byte(testSecret))
	_ = rfc2865.UserName_SetString(p, "alice")
	_ = rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Stop)
	_ = rfc2866.AcctSessionID_SetString(p, "sess-42")
	_ = rfc2866.AcctSessionTime_Set(p, 3600)
	_ = rfc2866.AcctInputOctets_Set(p, 1000)
	_ = rfc2866.AcctOutputOctets_Set(p, 2000)
	_ = rfc2865.FramedIPAddress_Set(p, net.IPv4(10, 8, 0, 6))
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	n.send(raw)
	reply := n.recv(time.Second)
	if reply == nil || radius.Code(reply[0]) != radius.CodeAccountingResponse || !radius.IsAuthenticResponse(reply, raw, []byte(testSecret)) {
		t.Fatalf("reply %x", reply)
	}
	n.send(raw) // a retransmission
	if again := n.recv(time.Second); !bytes.Equal(again, reply) {
		t.Fatal("the retransmission was not answered with the same reply")
	}
	line := logs.String()
	for _, want := range []string{`msg="accounting Stop"`, "user=alice", "session_id=sess-42", "session_time=3600", "framed_ip=10.8.0.6", "input_octets=1000", "output_octets=2000"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log lacks %s:\n%s", want, line)
		}
	}

	// A wrong shared secret (Request Authenticator), an Access-Request.
	bad := radius.New(radius.CodeAccountingRequest, []byte("not-the-secret"))
	_ = rfc2866.AcctStatusType_Set(bad, rfc2866.AcctStatusType_Value_Start)
	braw, _ := bad.Encode()
	n.send(braw)
	_, araw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(araw)
	if n.recv(300*time.Millisecond) != nil {
		t.Fatal("answered a bad accounting request or an Access-Request on the accounting port")
	}
	if srv.Count("drop:"+dropBadMsgAuth) != 1 || srv.Count("drop:"+dropUnsupported) != 1 || srv.Count("accounting:stop") != 1 {
		t.Fatalf("counts %v", srv.Counts())
	}
}
