package daemon

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"

	"github.com/mfabridge/mfabridge/config"
)

// TestJSONLogsWriteSeconds: in JSON, durations are seconds.
func TestJSONLogsWriteSeconds(t *testing.T) {
	var buf bytes.Buffer
	cfg := &config.Config{}
	cfg.Log.Format, cfg.Log.Level = "json", "info"
	l := NewLogger(cfg, &buf)
	l.WithField("duration", 1234567890*time.Nanosecond).Info("authentication accepted")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["duration"] != 1.235 {
		t.Fatalf("duration %v, want 1.235 (seconds)", first["duration"])
	}
}

// TestJournalMessage: under systemd, the message journalctl shows says who,
// where and what, with control characters escaped; in JSON format it is
// the JSON object. (Priorities: TestJournalPriority.)
func TestJournalMessage(t *testing.T) {
	l := logrus.New()
	e := l.WithFields(logrus.Fields{"user": "bob\nlevel=error", "nas": "vpn-1", "outcome": "reject", "duration": time.Second})
	e.Message = "authentication rejected"
	if got := journalMessage(l.Formatter, e); got != `authentication rejected user="bob\nlevel=error" nas=vpn-1 outcome=reject` {
		t.Fatalf("text: %q", got)
	}
	if got := journalMessage(secondsFormatter{&logrus.JSONFormatter{}}, e); !strings.HasPrefix(got, "{") || !strings.Contains(got, `"outcome":"reject"`) || strings.Contains(got, "\n") {
		t.Fatalf("json: %q", got)
	}
}

// TestJournalPriority: every level has its own journal priority, whatever
// the format.
func TestJournalPriority(t *testing.T) {
	for l, want := range map[logrus.Level]journal.Priority{logrus.ErrorLevel: journal.PriErr, logrus.WarnLevel: journal.PriWarning, logrus.InfoLevel: journal.PriInfo, logrus.DebugLevel: journal.PriDebug} {
		if got := journalPriority(l); got != want {
			t.Errorf("%v: %v, want %v", l, got, want)
		}
	}
}
