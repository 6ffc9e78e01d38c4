package cyberark

import (
	"bytes"
	"reflect"
	"testing"
)

func sampleState() *state {
	yes, no := true, false
	return &state{
		Base: "https://abc1234.id.cyberark.cloud", SessionID: "3RrrrhXFcUS3UEvl-3wfgMYojGz44P76Or2Ym3zztyM1", TenantID: "ABC1234", User: "alice@example.com",
		Challenges: [][]mechanism{
			{{Name: "UP", AnswerType: answerText, MechanismID: "m-up", PromptSelectMech: "Password", PromptMechChosen: "Enter Password", Enrolled: &yes}},
			{
				{Name: "OATH", AnswerType: answerStartTextOob, MechanismID: "m-oath", PromptSelectMech: "OATH OTP Client", PromptMechChosen: "Enter the code"},
				{Name: "SMS", AnswerType: answerStartTextOob, MechanismID: "m-sms", PromptSelectMech: "SMS... XXX-6789", PromptMechChosen: "Sending a text…", Enrolled: &no},
				{Name: "SQ", AnswerType: answerText, MechanismID: "m-sq", Question: "First pet?", MultipartMechanism: &multipartMech{MechanismParts: []mechanismPart{{UUID: "u_1", QuestionText: "First pet?", PromptMechChosen: "Answer"}}}},
				{Name: "SQ", AnswerType: answerText, MechanismID: "m-sq0", MultipartMechanism: &multipartMech{MechanismParts: []mechanismPart{}}},
			},
		},
		Index: 0, Current: "m-sms", Started: true, Password: true,
		Cookies: jar{".ASPXAUTH": "x", "podloc": "east"},
	}
}

func TestStateRoundTrip(t *testing.T) {
	for name, st := range map[string]*state{"full": sampleState(), "empty": {Base: "b", SessionID: "s"}} {
		t.Run(name, func(t *testing.T) {
			data := st.marshal()
			if data[0] != txnVersion {
				t.Fatalf("first byte %d, want the version %d", data[0], txnVersion)
			}
			got, err := unmarshalState(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, st) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, st)
			}
			if again := got.marshal(); !bytes.Equal(again, data) {
				t.Fatal("encoding is not deterministic")
			}
		})
	}
}

// Challenges already passed are left out of the stored form; the open one
// stays the open one.
func TestStateDropsPassedChallenges(t *testing.T) {
	st := sampleState()
	st.Index = 1
	got, err := unmarshalState(st.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Index != 0 || len(got.Challenges) != 1 || !reflect.DeepEqual(got.Challenges[0], st.Challenges[1]) {
		t.Fatalf("got index %d of %+v, want the second challenge alone", got.Index, got.Challenges)
	}
	if got.mechanism("m-sms") == nil || got.mechanism("m-up") != nil {
		t.Fatal("the open challenge's mechanisms are not the ones found")
	}
	st.Index = 2 // every challenge passed
	if got, err := unmarshalState(st.marshal()); err != nil || got.Index != 0 || len(got.Challenges) != 0 {
		t.Fatalf("all passed: got %+v, %v", got, err)
	}
}

func TestStateRejectsCorruptData(t *testing.T) {
	good := sampleState().marshal()
	cases := map[string][]byte{
		"empty":            nil,
		"unknown version":  append([]byte{9}, good[1:]...),
		"truncated":        good[:len(good)-3],
		"trailing bytes":   append(append([]byte{}, good...), 0),
		"huge string":      {txnVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"too many entries": append([]byte{txnVersion, 1, 'b', 1, 's', 0, 0, 0, 0, 0}, 0xff, 0x01),
		"bad enrolled":     bytes.Replace(good, []byte("Enter Password\x00\x02"), []byte("Enter Password\x00\x07"), 1),
	}
	for name, data := range cases {
		if name == "bad enrolled" && bytes.Equal(data, good) {
			t.Fatal("the bad enrolled case did not change the data")
		}
		if _, err := unmarshalState(data); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzStateDecode(f *testing.F) {
	f.Add(sampleState().marshal())
	f.Add([]byte(`{"base":"b","sid":"s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := unmarshalState(data)
		if err != nil || data[0] == '{' {
			return
		}
		// Whatever decodes survives its own round trip in what matters:
		// the open challenge and those after it (passed ones are left out
		// by design) and every other field.
		again, err := unmarshalState(st.marshal())
		if err != nil {
			t.Fatalf("decoded %x, but not its encoding: %v", data, err)
		}
		if a, b := openPart(again), openPart(st); !reflect.DeepEqual(a, b) {
			t.Fatalf("decoded %x as %+v, round trip gives %+v", data, b, a)
		}
	})
}

// openPart is st without the challenges already passed, with empty lists
// and maps as nil.
func openPart(st *state) state {
	c := *st
	if c.Index <= len(c.Challenges) {
		c.Challenges, c.Index = c.Challenges[c.Index:], 0
	}
	if len(c.Challenges) == 0 {
		c.Challenges = nil
	}
	for i := range c.Challenges {
		if len(c.Challenges[i]) == 0 {
			c.Challenges[i] = nil
		}
	}
	if len(c.Cookies) == 0 {
		c.Cookies = nil
	}
	return c
}

// TestTxnIsMadeToSize: the binary form of a transaction past its first
// challenge takes no more room than it holds (a held push keeps it).
func TestTxnIsMadeToSize(t *testing.T) {
	m := mechanism{Name: "UP", AnswerType: answerText, MechanismID: "11111111-2222-3333-4444-555555555555", PromptSelectMech: "Password", PromptMechChosen: "Enter your password"}
	push := mechanism{Name: "PF", AnswerType: answerStartOob, MechanismID: "66666666-7777-8888-9999-000000000000", PromptSelectMech: "Mobile app", PromptMechChosen: "Approve the push"}
	st := &state{Base: "https://tenant.example", SessionID: "session", User: "alice", Challenges: [][]mechanism{{m, m, m}, {push}}, Index: 1, Current: push.MechanismID, Started: true, Password: true, Cookies: jar{"ck": "v"}}
	b := st.marshal()
	if cap(b) > len(b)+32 { // the estimate rounds each field up a little
		t.Fatalf("%d bytes written in %d of room", len(b), cap(b))
	}
}
