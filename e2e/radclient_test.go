package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

// TestRadclientMenuCodeAccept is the demo flow: password, menu, choice,
// authenticator code, Access-Accept.
func TestRadclientMenuCodeAccept(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	for _, want := range []string{"1) OATH OTP Client", "2) SMS", "3) Mobile Authenticator", "Enter a number"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("menu %q lacks %q", r.Message, want)
		}
	}
	if len(stateText(t, r.State)) != 32 {
		t.Errorf("State %q is not 32 printable characters", stateText(t, r.State))
	}
	r = e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "authenticator app") {
		t.Errorf("code prompt %q", r.Message)
	}
	e.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
	if !strings.Contains(e.logs.String(), "authentication accepted") {
		t.Error("no outcome line in the log")
	}
	for _, secret := range []string{"alice-password", totpCode(t)} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

func TestRadclientChoiceByNameAndSMS(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "sms", r.State)).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "Sending a text") {
		t.Errorf("SMS prompt %q", r.Message)
	}
	code := e.demo.Tenant.LastCode("alice")
	if code == "" {
		t.Fatal("no SMS was sent")
	}
	e.radclient(t, answer("alice", code, r.State)).must(t, "Access-Accept")
}

func TestRadclientWrongCodeIsRejected(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	r = e.radclient(t, answer("alice", "000000", r.State)).must(t, "Access-Reject")
	if r.Message != "Authentication failed." {
		t.Errorf("Reply-Message %q", r.Message)
	}
}

func TestRadclientWrongPasswordIsRejected(t *testing.T) {
	e := start(t, nil)
	e.radclient(t, pap("alice", "guess")).must(t, "Access-Reject")
	e.radclient(t, pap("mallory", "guess")).must(t, "Access-Reject")
}

func TestRadclientBadChoiceAsksAgain(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	r2 := e.radclient(t, answer("alice", "9", r.State)).must(t, "Access-Challenge")
	if !strings.HasPrefix(r2.Message, "That is not one of the choices.") || r2.State == r.State {
		t.Fatalf("second menu %q with State %s", r2.Message, r2.State)
	}
}

func TestRadclientReplayedStateIsRejected(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Challenge")
	// The same State again, in a new request (new Authenticator).
	r2 := e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Reject")
	if !strings.Contains(r2.Message, "expired") {
		t.Errorf("Reply-Message %q", r2.Message)
	}
}

func TestRadclientStateOfAnotherUserIsRejected(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	e.radclient(t, answer("bob", "1", r.State)).must(t, "Access-Reject")
	// The State was used up by the attempt: alice cannot go on with it.
	e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Reject")
}

func TestRadclientUnknownStateIsRejected(t *testing.T) {
	e := start(t, nil)
	e.radclient(t, answer("alice", "1", "0x3030303030303030303030303030303030303030303030303030303030303030")).must(t, "Access-Reject")
}

func TestRadclientExpiredStateIsRejected(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Sessions.TTL.Duration = 500 * time.Millisecond })
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	time.Sleep(700 * time.Millisecond)
	r = e.radclient(t, answer("alice", "1", r.State)).must(t, "Access-Reject")
	if !strings.Contains(r.Message, "expired") {
		t.Errorf("Reply-Message %q", r.Message)
	}
}

// TestRadclientPushHeldWithRetransmissions: bob's push is approved after
// 3s while the NAS retransmits every second; the tenant sees one push.
func TestRadclientPushHeldWithRetransmissions(t *testing.T) {
	e := start(t, nil)
	began := time.Now()
	r := e.radclient(t, pap("bob", "bob-password"), "-t", "1", "-r", "8").must(t, "Access-Accept")
	if d := time.Since(began); d < 2*time.Second {
		t.Errorf("accepted after %v, before the push was approved", d)
	}
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes sent, want 1", n)
	}
	if n := e.srv.Count("retransmission:absorbed"); n < 1 {
		t.Errorf("no retransmission absorbed (radclient said:\n%s)", r.Raw)
	}
}

// TestRadclientTwentySecondPushIsSentOnce: a NAS that retransmits every 3
// seconds during a push approved after 20 seconds causes one push.
func TestRadclientTwentySecondPushIsSentOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 seconds")
	}
	slow := cyberarktest.User{Name: "carol", Password: "carol-password", Factors: []cyberarktest.Factor{cyberarktest.Push}}
	e := start(t, func(c *config.Config) {
		c.Clients[0].PushWait.Duration = 25 * time.Second
		c.Clients[0].NASWait.Duration = 30 * time.Second // radclient -t 3 -r 10
	}, slow)
	approve := time.AfterFunc(20*time.Second, func() { e.demo.Tenant.Approve("carol") })
	defer approve.Stop()
	r := e.radclient(t, pap("carol", "carol-password"), "-t", "3", "-r", "10").must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if n := e.srv.Count("retransmission:absorbed"); n < 5 {
		t.Errorf("%d retransmissions absorbed, want 6 (radclient said:\n%s)", n, r.Raw)
	}
	if n := e.demo.Tenant.Count("/Security/StartAuthentication", ""); n != 1 {
		t.Fatalf("%d logins started, want 1", n)
	}
}

func TestRadclientPushPromptMode(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].Push = "prompt" })
	r := e.radclient(t, pap("bob", "bob-password")).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "then press Enter") {
		t.Fatalf("prompt %q", r.Message)
	}
	r = e.radclient(t, answer("bob", "", r.State)).must(t, "Access-Challenge")
	if !strings.HasPrefix(r.Message, "Not approved yet.") {
		t.Fatalf("early Enter: %q", r.Message)
	}
	if !e.demo.Tenant.Approve("bob") {
		t.Fatal("no push pending")
	}
	e.radclient(t, answer("bob", "", r.State)).must(t, "Access-Accept")
}

func TestRadclientPushTimeout(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].PushWait.Duration = 1500 * time.Millisecond })
	r := e.radclient(t, pap("bob", "bob-password")).must(t, "Access-Reject")
	if !strings.Contains(r.Message, "not approved in time") {
		t.Errorf("Reply-Message %q", r.Message)
	}
}

func TestRadclientCHAPIsRejectedWithReason(t *testing.T) {
	e := start(t, nil)
	r := e.radclient(t, `User-Name = "alice", CHAP-Password = "alice-password"`).must(t, "Access-Reject")
	if !strings.Contains(r.Message, "PAP") {
		t.Errorf("Reply-Message %q", r.Message)
	}
	if !strings.Contains(e.logs.String(), "method=CHAP") {
		t.Error("the log does not say CHAP was refused")
	}
	if !strings.Contains(e.logs.String(), "user=alice") {
		t.Error("the reject line does not say whose login it was")
	}
}

func TestRadclientMessageAuthenticator(t *testing.T) {
	e := start(t, func(c *config.Config) { tr := true; c.Clients[0].RequireMessageAuthenticator = &tr })
	// Without Message-Authenticator: dropped (radclient gets no answer).
	r := e.radclient(t, pap("bob", "bob-password"), "-t", "1", "-r", "1")
	if r.Code != "" {
		t.Fatalf("answered %s without Message-Authenticator", r.Code)
	}
	if e.srv.Count("drop:missing_message_authenticator") == 0 {
		t.Fatal("the drop was not counted")
	}
	// With it: served, and radclient checks the reply's Message-Authenticator.
	r = e.radclient(t, pap("alice", "alice-password")+", Message-Authenticator = 0x00").must(t, "Access-Challenge")
	if !strings.Contains(r.Raw, "Message-Authenticator = 0x") {
		t.Fatal("no Message-Authenticator in the reply")
	}
}

func TestRadclientWrongSecretIsDetected(t *testing.T) {
	e := start(t, nil)
	bin := need(t, "radclient", "freeradius-utils")
	_ = bin
	e2 := *e
	r := e2.radclientSecret(t, pap("alice", "alice-password")+", Message-Authenticator = 0x00", "not-the-secret")
	if r.Code != "" {
		t.Fatalf("answered %s with a wrong secret", r.Code)
	}
	if e.srv.Count("drop:bad_message_authenticator") == 0 {
		t.Fatal("the bad Message-Authenticator was not counted")
	}
	if !strings.Contains(e.logs.String(), "different shared secrets") {
		t.Error("the log does not point at the shared secret")
	}
}

func TestRadclientStatusServer(t *testing.T) {
	e := start(t, nil)
	bin := need(t, "radclient", "freeradius-utils")
	_ = bin
	r := e.radclientCmd(t, "Message-Authenticator = 0x00", "status", demo_secret)
	r.must(t, "Access-Accept")
}

// TestRadclientDemoInlineFactor: the demo takes the factor after the
// password, as the README shows: "bob-password,push" holds the request for
// the push; "alice-password,<code>" answers with a code; a wrong code after
// a right password is a Reject.
func TestRadclientDemoInlineFactor(t *testing.T) {
	e := start(t, nil)
	e.radclient(t, pap("bob", "bob-password,push")).must(t, "Access-Accept")
	e.radclient(t, pap("alice", "alice-password,"+totpCode(t))).must(t, "Access-Accept")
	e.radclient(t, pap("alice", "alice-password,000000")).must(t, "Access-Reject")
}

// TestRadclientSlowPushSwitchesToAChallengeInTime: radclient as radtest
// runs it (-t 5 -r 3: 15 s in all) and a push not approved by then. The
// demo's client (nas_type = "radclient", push = "adaptive") answers within
// radclient's time with an Access-Challenge on the same push; the user
// approves, presses Enter, and gets in. One push in all.
func TestRadclientSlowPushSwitchesToAChallengeInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 14 seconds")
	}
	slow := cyberarktest.User{Name: "dana", Password: "dana-password", Factors: []cyberarktest.Factor{cyberarktest.Push}}
	e := start(t, nil, slow)
	began := time.Now()
	r := e.radclient(t, pap("dana", "dana-password"), "-t", "5", "-r", "3").must(t, "Access-Challenge")
	if d := time.Since(began); d >= 15*time.Second {
		t.Fatalf("answered after %v, when radclient had given up", d)
	}
	if !strings.Contains(r.Message, "press Enter") {
		t.Errorf("Reply-Message %q", r.Message)
	}
	e.demo.Tenant.Approve("dana")
	e.radclient(t, answer("dana", "", r.State)).must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}
