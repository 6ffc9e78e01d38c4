package session_test

import (
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/session/sessiontest"
)

func TestMemoryConformance(t *testing.T) {
	sessiontest.RunConformance(t, func(t *testing.T, max int) session.Store {
		return session.NewMemory(max, time.Minute)
	})
}
