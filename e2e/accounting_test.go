package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/demo"
)

// TestRadclientAccounting: radclient's Accounting-Requests (Start, then
// Stop with the session's time and octets) to the accounting port are
// answered with Accounting-Response and logged one line each.
func TestRadclientAccounting(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].Accounting = true })
	acct, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ServeAccounting([]net.PacketConn{acct})
	bridgetest.Serve(t, e.srv, acct)
	bin := need(t, "radclient", "freeradius-utils")
	for _, attrs := range []string{
		`User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "vpn-7", Framed-IP-Address = 10.8.0.6`,
		`User-Name = "alice", Acct-Status-Type = Stop, Acct-Session-Id = "vpn-7", Framed-IP-Address = 10.8.0.6, Acct-Session-Time = 120, Acct-Input-Octets = 5000, Acct-Output-Octets = 7000`,
	} {
		cmd := exec.Command(bin, "-x", "-t", "2", "-r", "1", acct.LocalAddr().String(), "acct", demo.Secret)
		cmd.Stdin = strings.NewReader(attrs + "\n")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "Received Accounting-Response") {
			t.Fatalf("radclient:\n%s", out)
		}
	}
	logs := e.logs.String()
	for _, want := range []string{`msg="accounting Start"`, `msg="accounting Stop"`, "session_id=vpn-7", "session_time=120", "input_octets=5000", "output_octets=7000", "framed_ip=10.8.0.6"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
}
