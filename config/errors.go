package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File string
	Line int    // 0 when the line is not known
	Key  string // such as "client[0].secret"
	Msg  string // what is wrong and what to do
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a configuration file.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// collector gathers problems with their lines.
type collector struct {
	file  string
	index *lineIndex
	list  Problems
}

func (c *collector) add(key, format string, args ...any) {
	line := 0
	if c.index != nil {
		// A key's own line, else that of the list it is in, else the
		// line of the table it belongs to.
		for k := key; k != "" && line == 0; {
			line = c.index.line(k)
			if strings.HasSuffix(k, "]") {
				k = k[:strings.LastIndexByte(k, '[')]
				continue
			}
			i := strings.LastIndexByte(k, '.')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	c.list = append(c.list, Problem{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	sort.SliceStable(c.list, func(i, j int) bool { return c.list[i].Line < c.list[j].Line })
	return c.list
}

// ErrConfig marks an error in the configuration (a file that cannot be read
// or has problems), as opposed to one of the running system.
var ErrConfig = errors.New("configuration error")

// ExitConfig is the exit status of mfabridge when its configuration is in
// error (sysexits' EX_CONFIG): the unit's RestartPreventExitStatus, so that
// systemd does not restart a server whose file needs a person.
const ExitConfig = 78

// Is makes errors.Is(err, ErrConfig) true for Problems.
func (ps Problems) Is(target error) bool { return target == ErrConfig }

// readError is a configuration file that cannot be read.
type readError struct{ error }

func (e readError) Unwrap() error        { return e.error }
func (e readError) Is(target error) bool { return target == ErrConfig }
