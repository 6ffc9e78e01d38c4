package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/internal/daemon"
)

// runDoctor checks a set-up beyond the file: each provider is reached
// (DNS, connection, TLS) and its credentials tried with a harmless call,
// and each NAS entry is checked for what can be known offline. It exits 0
// when every provider answered, 1 otherwise, 78 on a file with problems.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code := loadChecked("doctor", args, stdout, stderr)
	if code >= 0 {
		return code
	}
	fmt.Fprintln(stdout, "\nIdentity providers:")
	log := logrus.New()
	log.SetOutput(io.Discard)
	providers, err := daemon.OpenProviders(cfg, log, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge doctor: %v\n", err)
		return 1
	}
	failed := 0
	for _, r := range daemon.ProbeProviders(ctx, providers, 15*time.Second) {
		url := ""
		for _, p := range cfg.Provider {
			if p.Name == r.Provider {
				url = p.Type + ", " + p.URL()
			}
		}
		switch {
		case r.Skipped:
			fmt.Fprintf(stdout, "  %-12s (%s): cannot be probed\n", r.Provider, url)
		case r.Err != nil:
			failed++
			fmt.Fprintf(stdout, "  %-12s (%s): FAILED after %v\n      %v\n", r.Provider, url, r.Took.Round(time.Millisecond), r.Err)
		default:
			fmt.Fprintf(stdout, "  %-12s (%s): ok, answered in %v\n", r.Provider, url, r.Took.Round(time.Millisecond))
		}
	}
	fmt.Fprintln(stdout, "\nNAS entries:")
	for _, cl := range cfg.Clients {
		var notes []string
		if len(cl.Secret) < config.MinSecretLength {
			notes = append(notes, fmt.Sprintf("shared secret of %d bytes; use at least %d random bytes", len(cl.Secret), config.MinSecretLength))
		}
		if !cl.MessageAuthenticatorRequired() {
			notes = append(notes, "Message-Authenticator not required (BlastRADIUS); turn require_message_authenticator on once the NAS sends it")
		}
		switch {
		case cl.NASType == "" && cl.NASWait.Duration == config.DefaultNASWait:
			notes = append(notes, fmt.Sprintf("the NAS's time is the default %v: set nas_type or nas_wait to what the NAS waits (docs/nas.md)", cl.NASWait.Duration))
		case cl.Push == config.PushWait && cl.NASWait.Duration < 5*time.Second:
			notes = append(notes, fmt.Sprintf("push = \"wait\" with a NAS that waits %v: a push must be approved within about %v", cl.NASWait.Duration, cl.NASWait.Duration*9/10))
		}
		status := "ok"
		if len(notes) > 0 {
			status = "check"
		}
		fmt.Fprintf(stdout, "  %-12s %s (provider %s, push %s, the NAS waits %v)\n", cl.Name, status, cl.Provider, cl.Push, cl.NASWait.Duration)
		for _, n := range notes {
			fmt.Fprintf(stdout, "      %s\n", n)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "\n%d of %d providers failed: logins through them fail until they answer.\n", failed, len(providers))
		return 1
	}
	return 0
}
