package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/config"
)

// pamService installs a PAM service that authenticates with pam_radius_auth
// against e, and returns its name. PAM reads services from /etc/pam.d only,
// so this needs root.
func (e *bridgeEnv) pamService(t *testing.T) string {
	t.Helper()
	return pamServiceFor(t, fmt.Sprintf("%s %s 10\n", e.addr, demo_secret))
}

// pamServiceFor installs a PAM service whose pam_radius_auth.conf holds
// servers (lines of "server[:port] secret timeout").
func pamServiceFor(t *testing.T, servers string) string {
	t.Helper()
	need(t, "pamtester", "pamtester")
	module := ""
	for _, dir := range []string{"/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security", "/lib/aarch64-linux-gnu/security", "/usr/lib/aarch64-linux-gnu/security", "/lib/security", "/usr/lib/security"} {
		if _, err := os.Stat(filepath.Join(dir, "pam_radius_auth.so")); err == nil {
			module = filepath.Join(dir, "pam_radius_auth.so")
		}
	}
	if module == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pam_radius_auth.so is not installed (Debian package libpam-radius-auth); .ci/run must install it")
		}
		t.Skip("pam_radius_auth.so is not installed: run 'make test' (it installs libpam-radius-auth)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the PAM test writes a service to /etc/pam.d and must run as root in CI")
		}
		t.Skip("the PAM test writes a service to /etc/pam.d: run it as root")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "pam_radius_auth.conf")
	if err := os.WriteFile(conf, []byte(servers), 0o600); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "mfabridge-e2e-" + hex.EncodeToString(b)
	svc := filepath.Join("/etc/pam.d", name)
	rules := fmt.Sprintf("auth required %s conf=%s\naccount required pam_permit.so\n", module, conf)
	if err := os.WriteFile(svc, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(svc) })
	return name
}

// pamtester authenticates user through service, typing each line of input
// at the prompts in turn.
func pamtester(t *testing.T, service, user string, input ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", service, user, "authenticate")
	cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "successfully authenticated")
}

func TestPAMMenuAndCode(t *testing.T) {
	e := start(t, nil)
	svc := e.pamService(t)
	out, ok := pamtester(t, svc, "alice", "alice-password", "1", totpCode(t))
	if !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
	if !strings.Contains(out, "Choose how to sign in") {
		t.Errorf("the menu was not shown:\n%s", out)
	}
}

func TestPAMPushHeld(t *testing.T) {
	e := start(t, nil)
	svc := e.pamService(t)
	if out, ok := pamtester(t, svc, "bob", "bob-password"); !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
	if n := e.demo.Tenant.Count("/Security/AdvanceAuthentication", "StartOOB"); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}

func TestPAMWrongCodeFails(t *testing.T) {
	e := start(t, nil)
	svc := e.pamService(t)
	if out, ok := pamtester(t, svc, "alice", "alice-password", "1", "000000"); ok {
		t.Fatalf("pamtester succeeded with a wrong code:\n%s", out)
	}
	if !strings.Contains(e.logs.String(), "outcome=reject") {
		t.Errorf("no reject in the log:\n%s", e.logs.String())
	}
}

func TestPAMWrongPasswordFails(t *testing.T) {
	e := start(t, nil)
	svc := e.pamService(t)
	if out, ok := pamtester(t, svc, "alice", "not-her-password"); ok {
		t.Fatalf("pamtester succeeded with a wrong password:\n%s", out)
	}
}

// pamtesterSlow is pamtester with a pause after each line past the first
// two, as a user who waits before pressing Enter again.
func pamtesterSlow(t *testing.T, service, user string, pause time.Duration, input ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", service, user, "authenticate")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i, line := range input {
		if i >= 2 {
			time.Sleep(pause)
		}
		_, _ = io.WriteString(stdin, line+"\n")
	}
	stdin.Close()
	err = cmd.Wait()
	return out.String(), err == nil && strings.Contains(out.String(), "successfully authenticated")
}

// germanTexts are a translated menu long enough that the compact form of
// the demo's three choices passes the 253 bytes of one Reply-Message.
var germanTexts = func(c *config.Config) {
	c.Texts.MenuHeader = "Ihre Organisation verlangt für diesen Zugang einen zweiten Faktor. Bitte wählen Sie, wie Sie die Anmeldung bestätigen möchten:"
	c.Texts.MenuFooter = "Geben Sie die Nummer der gewünschten Methode ein und drücken Sie danach die Eingabetaste:"
	c.Clients[0].Menu = config.MenuCompact
}

// TestPAMLongTranslatedMenuShowsEveryChoice: pam_radius_auth 2.0 shows the
// first Reply-Message only. A translated menu longer than one attribute
// still shows every choice and the question, at the prompt, with the
// cursor after ": ".
func TestPAMLongTranslatedMenuShowsEveryChoice(t *testing.T) {
	e := start(t, germanTexts)
	svc := e.pamService(t)
	out, ok := pamtester(t, svc, "alice", "alice-password", "1", totpCode(t))
	if !ok {
		t.Fatalf("pamtester failed:\n%s", out)
	}
	for _, want := range []string{"1) OATH OTP Client", "2) SMS", "3) Mobile Authenticator", "Eingabetaste: "} {
		if !strings.Contains(out, want) {
			t.Errorf("pam_radius_auth showed no %q:\n%s", want, out)
		}
	}
}
