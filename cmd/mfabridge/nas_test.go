package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/bridge/bridgetest"
	"github.com/mfabridge/mfabridge/demo"
	"github.com/mfabridge/mfabridge/internal/daemon"
	"github.com/mfabridge/mfabridge/internal/totp"
)

// demoBridge runs the demo on a free port with Message-Authenticator
// required, as a real NAS entry has it.
func demoBridge(t *testing.T) (*demo.Demo, *bridge.Server, string) {
	t.Helper()
	d, err := demo.Start(demo.Options{Listen: "127.0.0.1:0", Phone: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	require := true
	d.Config.Clients[0].RequireMessageAuthenticator = &require
	srv, err := daemon.NewServer(d.Config, daemon.NewLogger(d.Config, &bytes.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, srv, bridgetest.Serve(t, srv, nil).Addr.String()
}

func nasTest(addr, input string, args ...string) (int, string) {
	var out, errb bytes.Buffer
	all := append([]string{"mfabridge", "test", "--server", addr, "--secret", demo.Secret}, args...)
	code := run(context.Background(), all, strings.NewReader(input), &out, &errb)
	return code, out.String() + errb.String()
}

func code(t *testing.T) string {
	key, _ := totp.DecodeSecret(demo.OATHSecret)
	return totp.Code(key, time.Now())
}

func TestNASMenuAndCode(t *testing.T) {
	_, _, addr := demoBridge(t)
	rc, out := nasTest(addr, "alice-password\n1\n"+code(t)+"\n", "--user", "alice")
	if rc != testAccepted {
		t.Fatalf("exit %d:\n%s", rc, out)
	}
	for _, want := range []string{"Password: ", "Choose how to sign in:", "1) OATH OTP Client", "authenticator app", "Access-Accept"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestNASAsksForTheUser(t *testing.T) {
	_, _, addr := demoBridge(t)
	rc, out := nasTest(addr, "alice\nalice-password\nsms\n000000\n")
	if rc != testRejected || !strings.Contains(out, "User: ") || !strings.Contains(out, "Access-Reject") {
		t.Fatalf("exit %d:\n%s", rc, out)
	}
}

// TestNASHeldPushWithRetransmissions: the test command resends every 500ms
// while bob's push is held; the tenant sees one push.
func TestNASHeldPushWithRetransmissions(t *testing.T) {
	d, srv, addr := demoBridge(t)
	rc, out := nasTest(addr, "", "--user", "bob", "--password", "bob-password", "--retry", "500ms")
	if rc != testAccepted {
		t.Fatalf("exit %d:\n%s", rc, out)
	}
	if n := d.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	if srv.Count("retransmission:absorbed") < 3 {
		t.Errorf("counts %v", srv.Counts())
	}
}

func TestNASNoAnswer(t *testing.T) {
	_, srv, addr := demoBridge(t)
	var out, errb bytes.Buffer
	rc := run(context.Background(), []string{"mfabridge", "test", "--server", addr, "--secret", "wrong-secret", "--user", "bob", "--password", "x", "--timeout", "1s"}, strings.NewReader(""), &out, &errb)
	if rc != testNoAnswer || !strings.Contains(out.String(), "is the secret the same") {
		t.Fatalf("exit %d:\n%s%s", rc, out.String(), errb.String())
	}
	if srv.Count("drop:bad_message_authenticator") == 0 {
		t.Fatalf("counts %v", srv.Counts())
	}
	if rc, _ := nasTest(addr, "", "--user", "bob"); rc != testUsage {
		t.Fatalf("no password typed: exit %d", rc)
	}
}
