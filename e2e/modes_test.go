package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
)

func inline(c *config.Config) { c.Clients[0].InlineDelimiter = "," }

// TestInlineCode: one Access-Request carries password and code.
func TestInlineCode(t *testing.T) {
	e := start(t, inline)
	e.radclient(t, pap("alice", "alice-password,"+totpCode(t))).must(t, "Access-Accept")
	if strings.Contains(e.logs.String(), totpCode(t)) {
		t.Fatal("the log holds the code")
	}
}

func TestInlineWrongCode(t *testing.T) {
	e := start(t, inline)
	e.radclient(t, pap("alice", "alice-password,000000")).must(t, "Access-Reject")
}

// TestInlinePushHeldWithRetransmissions: "password,push" holds the request
// until the push is approved, absorbing the NAS's retransmissions.
func TestInlinePushHeldWithRetransmissions(t *testing.T) {
	e := start(t, inline)
	e.radclient(t, pap("alice", "alice-password,push"), "-t", "1", "-r", "8").must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if e.srv.Count("retransmission:absorbed") < 1 {
		t.Error("no retransmission absorbed")
	}
}

// TestInlineSMSLink: "password,sms" sends the text and holds the request
// until its link is followed.
func TestInlineSMSLink(t *testing.T) {
	e := start(t, inline)
	go func() {
		for i := 0; i < 50 && !e.demo.Tenant.Approve("alice"); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	e.radclient(t, pap("alice", "alice-password,sms")).must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d texts sent, want 1", n)
	}
}

func TestInlineFactorNotEnrolled(t *testing.T) {
	e := start(t, inline)
	e.radclient(t, pap("bob", "bob-password,phone")).must(t, "Access-Reject")
}

// TestPasswordWithTheDelimiter: a password holding the delimiter works with
// and without a factor after it.
func TestPasswordWithTheDelimiter(t *testing.T) {
	dora := cyberarktest.User{Name: "dora", Password: "pa,ss,word", Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: "JBSWY3DPEHPK3PXP"}
	digits := cyberarktest.User{Name: "dave", Password: "secret,2024", Factors: []cyberarktest.Factor{cyberarktest.OATH}, OATHSecret: "JBSWY3DPEHPK3PXP"}
	e := start(t, inline, dora, digits)
	// The last field is no factor: all of it is the password.
	r := e.radclient(t, pap("dora", "pa,ss,word")).must(t, "Access-Challenge")
	e.radclient(t, answer("dora", totpCode(t), r.State)).must(t, "Access-Accept")
	// With a code after it.
	e.radclient(t, pap("dora", "pa,ss,word,"+totpCode(t))).must(t, "Access-Accept")
	// A password that ends in ",<digits>" looks like one with a code; the
	// split is refused by the tenant, and the whole field is tried.
	r = e.radclient(t, pap("dave", "secret,2024")).must(t, "Access-Challenge")
	e.radclient(t, answer("dave", totpCode(t), r.State)).must(t, "Access-Accept")
}

// TestPreferStartsPushWithoutMenu: prefer = ["push"] skips alice's menu.
func TestPreferStartsPushWithoutMenu(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].Prefer = []string{"push", "code"} })
	e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Accept")
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}

func TestPreferCodePromptsWithoutMenu(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Clients[0].Prefer = []string{"phone", "OATH"} })
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	if !strings.Contains(r.Message, "authenticator app") {
		t.Fatalf("prompt %q", r.Message)
	}
	e.radclient(t, answer("alice", totpCode(t), r.State)).must(t, "Access-Accept")
}

// TestNumberMatchingPromptsEvenInWaitMode: a held push cannot show the
// number, so the user gets a challenge with it.
func TestNumberMatchingPromptsEvenInWaitMode(t *testing.T) {
	erin := cyberarktest.User{Name: "erin", Password: "erin-password", Factors: []cyberarktest.Factor{cyberarktest.Push}, NumberMatching: true}
	e := start(t, nil, erin)
	r := e.radclient(t, pap("erin", "erin-password")).must(t, "Access-Challenge")
	number := e.demo.Tenant.LastNumber("erin")
	if number == "" || !strings.Contains(r.Message, "Pick "+number+" in the app.") {
		t.Fatalf("prompt %q, number %q", r.Message, number)
	}
	e.demo.Tenant.Approve("erin")
	e.radclient(t, answer("erin", "", r.State)).must(t, "Access-Accept")
}

func TestTextsAreConfigurable(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Texts.MenuHeader = "Wählen Sie die Anmeldemethode:"
		c.Texts.MenuFooter = "Nummer eingeben:"
		c.Texts.Failed = "Anmeldung fehlgeschlagen."
	})
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	if !strings.HasPrefix(r.Message, "Wählen Sie die Anmeldemethode:") || !strings.HasSuffix(r.Message, "Nummer eingeben: ") { // a colon at the end gets a space
		t.Fatalf("menu %q", r.Message)
	}
	r = e.radclient(t, pap("alice", "wrong")).must(t, "Access-Reject")
	if r.Message != "Anmeldung fehlgeschlagen." {
		t.Fatalf("reject %q", r.Message)
	}
}

// TestLongPromptIsSplit: a prompt over 253 bytes arrives as several
// Reply-Message attributes that radclient shows in order.
func TestLongPromptIsSplit(t *testing.T) {
	long := strings.Repeat("Please read carefully. ", 20)
	e := start(t, func(c *config.Config) { c.Texts.MenuHeader = long })
	r := e.radclient(t, pap("alice", "alice-password")).must(t, "Access-Challenge")
	if n := strings.Count(r.Raw, "Reply-Message = "); n < 2 {
		t.Fatalf("%d Reply-Message attributes", n)
	}
	if !strings.HasPrefix(r.Message, long) {
		t.Fatalf("joined message %q", r.Message)
	}
}

func TestPAMInlineCode(t *testing.T) {
	e := start(t, inline)
	svc := e.pamService(t)
	if out, ok := pamtester(t, svc, "alice", "alice-password,"+totpCode(t)); !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
}

func TestPAMPushPrompt(t *testing.T) {
	// frank's push is approved 300ms after it is sent; he presses Enter at
	// once ("Not approved yet"), then again after a second.
	frank := cyberarktest.User{Name: "frank", Password: "frank-password", Factors: []cyberarktest.Factor{cyberarktest.Push}, AutoApprove: 300 * time.Millisecond}
	e := start(t, func(c *config.Config) { c.Clients[0].Push = "prompt" }, frank)
	svc := e.pamService(t)
	out, ok := pamtesterSlow(t, svc, "frank", time.Second, "frank-password", "", "")
	if !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
	if !strings.Contains(out, "Not approved yet") || !strings.Contains(out, "then press Enter") {
		t.Errorf("the prompt was not shown:\n%s", out)
	}
}
