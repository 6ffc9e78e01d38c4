package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

// journalHook sends each log entry to the systemd journal with its fields
// as journal fields (NAS, USER, OUTCOME, MECHANISM, DURATION...), so that
// `journalctl -u mfabridge OUTCOME=reject` works.
type journalHook struct{ l *logrus.Logger }

func (*journalHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *journalHook) Fire(e *logrus.Entry) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "mfabridge"}
	for k, v := range e.Data {
		vars[journalField(k)] = fmt.Sprint(v)
	}
	return journal.Send(journalMessage(h.l.Formatter, e), journalPriority(e.Level), vars)
}

// journalMessage is the MESSAGE of e: the JSON object in JSON format;
// otherwise the message followed by the fields that say what happened,
// which journalctl and systemctl status show without -o verbose.
func journalMessage(f logrus.Formatter, e *logrus.Entry) string {
	if _, ok := f.(secondsFormatter); ok {
		if b, err := f.Format(e); err == nil {
			return strings.TrimRight(string(b), "\n")
		}
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for _, k := range messageFields {
		if v, ok := e.Data[k]; ok {
			fmt.Fprintf(&b, " %s=%s", k, quoteIfNeeded(fmt.Sprint(v)))
		}
	}
	return b.String()
}

// messageFields are the fields a journal message carries, in this order.
var messageFields = []string{"user", "nas", "outcome", "mechanism", "reason", "status", "session_id", "detail", "error"}

// quoteIfNeeded quotes v (escaping control characters) when it holds
// spaces, quotes or anything but printable text.
func quoteIfNeeded(v string) string {
	for _, r := range v {
		if r <= ' ' || r == '"' || r == '=' || r == 0x7f || !strconv.IsPrint(r) {
			return strconv.Quote(v)
		}
	}
	return v
}

// journalField turns a logrus field name into a journal field name:
// upper case letters, digits and underscores, not starting with one.
func journalField(k string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(k) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if s == "" {
		return "FIELD"
	}
	return s
}

func journalPriority(l logrus.Level) journal.Priority {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return journal.PriCrit
	case logrus.ErrorLevel:
		return journal.PriErr
	case logrus.WarnLevel:
		return journal.PriWarning
	case logrus.InfoLevel:
		return journal.PriInfo
	}
	return journal.PriDebug
}
