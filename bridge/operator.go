package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
)

// What an operator asks the running server for (mfabridge ctl).

// Failures lists what the failed-login counter holds (an operator's
// command).
func (s *Server) Failures(ctx context.Context) ([]throttle.Record, error) {
	l, ok := s.throttle.(throttle.Lister)
	if !ok {
		return nil, fmt.Errorf("this counter cannot list what it holds")
	}
	return l.List(ctx)
}

// ClearFailures forgets the failures and locks of user (an operator's
// unlock).
func (s *Server) ClearFailures(ctx context.Context, user string) error {
	return s.throttle.Clear(ctx, user)
}

// Conversation is a conversation waiting at a challenge, as an operator
// sees it: no State, no transaction, nothing secret.
type Conversation struct {
	User      string        `json:"user"`
	NAS       string        `json:"nas"`
	Phase     string        `json:"phase"`
	Mechanism string        `json:"mechanism,omitempty"`
	Rounds    int           `json:"rounds"`
	Age       time.Duration `json:"age_ns"`
}

// Conversations lists the conversations waiting at a challenge in this
// instance's memory store.
func (s *Server) Conversations() ([]Conversation, error) {
	m, ok := s.store.(interface{ Each(func(session.Session)) })
	if !ok {
		return nil, fmt.Errorf("the session store cannot list its conversations (with Redis, use the sessions gauge)")
	}
	var out []Conversation
	now := s.now()
	m.Each(func(c session.Session) {
		v := Conversation{User: c.User, NAS: c.NAS, Phase: string(c.Phase), Rounds: c.Rounds}
		if c.Current != nil {
			v.Mechanism = c.Current.Word()
		}
		if !c.Started.IsZero() {
			v.Age = now.Sub(c.Started)
		}
		out = append(out, v)
	})
	return out, nil
}
