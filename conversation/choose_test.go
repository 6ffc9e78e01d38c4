package conversation

import (
	"strings"
	"testing"

	"github.com/mfabridge/mfabridge/identity"
)

func TestSplitInline(t *testing.T) {
	for _, tc := range []struct {
		in, pw string
		f      inlineFactor
		ok     bool
	}{
		{"hunter2,123456", "hunter2", inlineFactor{code: "123456"}, true},
		{"hunter2,push", "hunter2", inlineFactor{keyword: "push"}, true},
		{"hunter2,SMS", "hunter2", inlineFactor{keyword: "sms"}, true},
		{"pa,ss,word,123456", "pa,ss,word", inlineFactor{code: "123456"}, true},
		{"pa,ss,word", "", inlineFactor{}, false}, // "word" is no factor: all of it is the password
		{"hunter2", "", inlineFactor{}, false},
		{",123456", "", inlineFactor{}, false}, // no password before it
		{"hunter2,12", "", inlineFactor{}, false},
		{"hunter2,١٢٣٤٥٦", "", inlineFactor{}, false}, // non-ASCII digits are no code
	} {
		pw, f, ok := splitInline(tc.in, ",")
		if ok != tc.ok || pw != tc.pw || f != tc.f {
			t.Errorf("splitInline(%q) = %q %+v %v, want %q %+v %v", tc.in, pw, f, ok, tc.pw, tc.f, tc.ok)
		}
	}
}

func TestMatchesAndPick(t *testing.T) {
	choices := []identity.Mechanism{
		{ID: "1", Kind: identity.KindCode, Name: "OATH", Label: "OATH OTP Client"},
		{ID: "2", Kind: identity.KindOOBCode, Name: "SMS", Label: "SMS... XXX-1234", Channel: identity.ChannelSMS},
		{ID: "3", Kind: identity.KindOOBCode, Name: "EMAIL", Label: "Email... @example.com", Channel: identity.ChannelEmail},
		{ID: "4", Kind: identity.KindPush, Name: "OTP", Label: "Mobile Authenticator"},
		{ID: "5", Kind: identity.KindPhone, Name: "PF", Label: "Phone call"},
	}
	for in, want := range map[string]string{
		"1": "1", "5": "5", "oath": "1", "code": "1", "totp": "1", "sms": "2", "text": "2", "email": "3",
		"push": "4", "OTP": "4", "mobile authenticator": "4", "call": "5", "phone": "5", " 2 ": "2",
	} {
		m, ok := pick(choices, in)
		if !ok || m.ID != want {
			t.Errorf("pick(%q) = %v %v, want %s", in, m.ID, ok, want)
		}
	}
	// The channel decides, not the provider's names: a text message
	// named otherwise is still "sms", and a label that says "mail" is no
	// email without the channel.
	other := []identity.Mechanism{
		{ID: "t", Kind: identity.KindOOBCode, Name: "texto", Label: "Mensaje", Channel: identity.ChannelSMS},
		{ID: "m", Kind: identity.KindCode, Name: "hw", Label: "Hardware token from the mail room"},
	}
	if m, ok := pick(other, "sms"); !ok || m.ID != "t" {
		t.Errorf("pick(sms) by channel = %v %v", m.ID, ok)
	}
	if m, ok := pick(other, "email"); ok {
		t.Errorf("pick(email) matched %v by its label", m.ID)
	}
	for _, in := range []string{"0", "6", "-1", "", "fax", "99999999999999999999"} {
		if m, ok := pick(choices, in); ok {
			t.Errorf("pick(%q) = %s, want none", in, m.ID)
		}
	}
	if m, ok := first(choices, "u2f", "push", "code"); !ok || m.ID != "4" {
		t.Errorf("prefer order: %v %v", m.ID, ok)
	}
	if m, ok := inlineChoice(choices, inlineFactor{code: "123456"}); !ok || m.ID != "1" {
		t.Errorf("inline code goes to %v", m.ID)
	}
}

// A conversation waiting at a menu keeps its entries without prompts, and
// the provider's own list is left as it was.
func TestMenuEntriesDropPrompts(t *testing.T) {
	in := []identity.Mechanism{{ID: "1", Name: "SMS", Label: "SMS... 1234", Prompt: "Enter the code we sent"}, {ID: "2", Name: "OTP", Label: "App", Prompt: "Approve"}}
	out := menuEntries(in)
	for i := range out {
		if out[i].Prompt != "" || out[i].Label != in[i].Label || out[i].ID != in[i].ID {
			t.Fatalf("entry %d: %+v", i, out[i])
		}
	}
	if in[0].Prompt == "" {
		t.Fatal("the provider's list was changed")
	}
}

// TestCompactMenuKeepsTheChoices: the compact menu is one line; when it
// does not fit one Reply-Message, the prefix goes first, then the header,
// and every choice and the question stay.
func TestCompactMenuKeepsTheChoices(t *testing.T) {
	entries := []string{"1) App", "2) SMS", "3) Push"}
	if got := compactMenu("", "Choose:", entries, "Enter a number:"); got != "Choose: 1) App 2) SMS 3) Push. Enter a number:" {
		t.Errorf("short menu %q", got)
	}
	long := strings.Repeat("Lange Überschrift ", 12)
	got := compactMenu("Bitte erneut.", long, entries, "Nummer eingeben:")
	if got != "1) App 2) SMS 3) Push. Nummer eingeben:" {
		t.Errorf("long menu %q", got)
	}
	got = compactMenu("Bitte erneut.", "Wählen:", entries, "Nummer:")
	if got != "Bitte erneut. Wählen: 1) App 2) SMS 3) Push. Nummer:" {
		t.Errorf("with a prefix %q", got)
	}
}
