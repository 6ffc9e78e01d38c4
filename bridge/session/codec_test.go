package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/identity"
)

func full() Session {
	return Session{
		NAS: "vpn", User: "alice@example.com",
		Txn:     identity.Txn{Provider: "corp", Data: []byte{1, 0, 0xff, '{'}},
		Phase:   PhaseMenu,
		Choices: []identity.Mechanism{{ID: "m1", Kind: identity.KindCode, Name: "OATH", Label: "App", Prompt: "Code"}, {ID: "m2", Kind: identity.KindPush, Name: "OTP"}},
		Current: &identity.Mechanism{ID: "m2", Kind: identity.KindPush, Name: "OTP", Prompt: "Approve"},
		Pending: true, Display: "42", Rounds: 3,
		Started: time.Unix(1700000000, 123456789).UTC(),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for name, s := range map[string]Session{"full": full(), "zero": {}} {
		data := Marshal(s)
		if data[0] != codecVersion {
			t.Fatalf("%s: first byte %d", name, data[0])
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("%s:\n got %+v\nwant %+v", name, got, s)
		}
	}
}

func TestCodecRejectsCorruptValues(t *testing.T) {
	good := Marshal(full())
	for name, data := range map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{7}, good[1:]...),
		"truncated":       good[:len(good)-2],
		"trailing":        append(append([]byte{}, good...), 0),
		"bad JSON":        []byte(`{"nas":`),
	} {
		if _, err := Unmarshal(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// The binary form is what makes a waiting conversation small: compare it
// with the JSON a session used to be stored as.
func TestCodecIsSmallerThanJSON(t *testing.T) {
	s := full()
	s.Txn.Data = []byte(`{"sid":"abc"}`)
	j, _ := json.Marshal(s)
	if b := Marshal(s); len(b)*2 > len(j) {
		t.Errorf("binary %d bytes, JSON %d: expected less than half", len(b), len(j))
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(full()))
	f.Add(Marshal(Session{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unmarshal(data)
		if err != nil {
			return
		}
		again, err := Unmarshal(Marshal(s))
		if err != nil {
			t.Fatalf("%x decodes, its encoding does not: %v", data, err)
		}
		if !bytes.Equal(Marshal(again), Marshal(s)) {
			t.Fatalf("%x: round trip changes the session", data)
		}
	})
}
