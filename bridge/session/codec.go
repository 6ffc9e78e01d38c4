package session

import (
	"errors"
	"time"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/binenc"
)

// codecVersion is the first byte of a session's binary form.
const codecVersion = 2

// Bounds a decoded session must keep.
const (
	maxChoices = 64
	maxRounds  = 1 << 20
)

// ErrCorrupt is a stored value that is not a session.
var ErrCorrupt = errors.New("session: stored value is not a session")

// Marshal returns the binary form of s, the form every store keeps: the
// fields in order, strings prefixed with their length. It is a few hundred
// bytes for a conversation at a menu, the provider's transaction included.
func Marshal(s Session) []byte {
	n := 32 + len(s.NAS) + len(s.User) + len(s.Txn.Provider) + len(s.Txn.Data) + len(s.Phase) + len(s.Display)
	for _, m := range s.Choices {
		n += mechanismSize(m)
	}
	if s.Current != nil {
		n += mechanismSize(*s.Current)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binenc.AppendString(b, s.NAS)
	b = binenc.AppendString(b, s.User)
	b = binenc.AppendString(b, s.Txn.Provider)
	b = binenc.AppendString(b, string(s.Txn.Data))
	b = binenc.AppendString(b, string(s.Phase))
	b = binenc.AppendUvarint(b, uint64(len(s.Choices)))
	for _, m := range s.Choices {
		b = appendMechanism(b, m)
	}
	if s.Current == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendMechanism(b, *s.Current)
	}
	if s.Pending {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binenc.AppendString(b, s.Display)
	b = binenc.AppendUvarint(b, uint64(s.Rounds))
	if s.Started.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binenc.AppendVarint(b, s.Started.UnixNano())
	}
	return b
}

func mechanismSize(m identity.Mechanism) int {
	return 12 + len(m.ID) + len(m.Kind) + len(m.Name) + len(m.Label) + len(m.Prompt) + len(m.Channel)
}

func appendMechanism(b []byte, m identity.Mechanism) []byte {
	b = binenc.AppendString(b, m.ID)
	b = binenc.AppendString(b, string(m.Kind))
	b = binenc.AppendString(b, m.Name)
	b = binenc.AppendString(b, m.Label)
	b = binenc.AppendString(b, m.Prompt)
	return binenc.AppendString(b, string(m.Channel))
}

func readMechanism(r *binenc.Reader) identity.Mechanism {
	return identity.Mechanism{ID: r.String(), Kind: identity.Kind(r.String()), Name: r.String(), Label: r.String(), Prompt: r.String(), Channel: identity.Channel(r.String())}
}

// Unmarshal reads a session from its binary form.
func Unmarshal(data []byte) (Session, error) {
	if len(data) == 0 || data[0] != codecVersion {
		return Session{}, ErrCorrupt
	}
	r := binenc.NewReader(data[1:])
	s := Session{
		NAS:  r.String(),
		User: r.String(),
		Txn:  identity.Txn{Provider: r.String()},
	}
	if d := r.String(); d != "" {
		s.Txn.Data = []byte(d)
	}
	s.Phase = Phase(r.String())
	if n := r.Count(maxChoices); n > 0 {
		s.Choices = make([]identity.Mechanism, n)
		for i := range s.Choices {
			s.Choices[i] = readMechanism(r)
		}
	}
	switch r.Byte() {
	case 0:
	case 1:
		m := readMechanism(r)
		s.Current = &m
	default:
		r.Fail()
	}
	switch r.Byte() {
	case 0:
	case 1:
		s.Pending = true
	default:
		r.Fail()
	}
	s.Display = r.String()
	s.Rounds = r.Count(maxRounds)
	switch r.Byte() {
	case 0:
	case 1:
		s.Started = time.Unix(0, r.Varint()).UTC()
	default:
		r.Fail()
	}
	if err := r.Err(); err != nil {
		return Session{}, ErrCorrupt
	}
	return s, nil
}
