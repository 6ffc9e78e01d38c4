package session

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

// TestSlabKeepsAndReusesSlots: what goes in comes out, a freed slot is
// reused by the next session of its class, chunks fill up before a new
// one is made, and what is too large for a slot is refused.
func TestSlabKeepsAndReusesSlots(t *testing.T) {
	var s slab
	a := s.put(bytes.Repeat([]byte("a"), 100))
	b := s.put(bytes.Repeat([]byte("b"), 700))
	if a == 0 || b == 0 || a == b {
		t.Fatalf("refs %d %d", a, b)
	}
	if got := s.get(a, 100); !bytes.Equal(got, bytes.Repeat([]byte("a"), 100)) {
		t.Fatalf("a: %q", got)
	}
	if got := s.get(b, 700); !bytes.Equal(got, bytes.Repeat([]byte("b"), 700)) {
		t.Fatalf("b: %q", got)
	}
	s.release(a, 100)
	if c := s.put(bytes.Repeat([]byte("c"), 120)); c != a {
		t.Errorf("a session of a freed slot's class got %d, want the freed slot %d", c, a)
	}
	if d := s.put(make([]byte, slabMax+1)); d != 0 {
		t.Errorf("a session larger than a slot got slot %d", d)
	}
	for range slabChunk / slabMax {
		s.put(make([]byte, slabMax))
	}
	if len(s.chunks) != 2 {
		t.Errorf("%d chunks after more than one chunk's worth, want 2", len(s.chunks))
	}
}

// TestMemoryKeepsLargeSessions: a session too large for the slab is kept
// apart and comes back whole.
func TestMemoryKeepsLargeSessions(t *testing.T) {
	m := NewMemory(10, time.Minute)
	var choices []identity.Mechanism
	for i := range 40 {
		choices = append(choices, identity.Mechanism{ID: strings.Repeat("x", 60), Label: strings.Repeat("label", 10), Name: "n" + string(rune('a'+i%26))})
	}
	s := Session{NAS: "vpn", User: "alice", Choices: choices, Txn: identity.Txn{Provider: "p", Data: bytes.Repeat([]byte{7}, 3000)}}
	if n := len(Marshal(s)); n <= slabMax {
		t.Fatalf("the session is %d bytes, not larger than a slot", n)
	}
	key := "0123456789abcdef0123456789abcdef"
	if err := m.Create(context.Background(), key, s, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := m.Take(context.Background(), key)
	if err != nil || got.User != "alice" || len(got.Choices) != 40 || !bytes.Equal(got.Txn.Data, s.Txn.Data) {
		t.Fatalf("took %v (%d choices), %v", got.User, len(got.Choices), err)
	}
	if len(m.big) != 0 {
		t.Errorf("%d large sessions left after the take", len(m.big))
	}
}
