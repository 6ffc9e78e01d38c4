package app

import (
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

// journalHook sends each log entry to the systemd journal with its fields
// as journal fields (NAS, USER, OUTCOME, MECHANISM, DURATION...), so that
// `journalctl -u mfabridge OUTCOME=reject` works.
type journalHook struct{}

func (journalHook) Levels() []logrus.Level { return logrus.AllLevels }

func (journalHook) Fire(e *logrus.Entry) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "mfabridge"}
	for k, v := range e.Data {
		vars[journalField(k)] = fmt.Sprint(v)
	}
	return journal.Send(e.Message, journalPriority(e.Level), vars)
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
