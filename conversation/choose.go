package conversation

import (
	"strings"
	"unicode"

	"github.com/mfabridge/mfabridge/identity"
)

// inlineFactor is a second factor typed after the password.
type inlineFactor struct {
	code    string // a code to answer with
	keyword string // a mechanism to start and hold: push, sms, email, phone
}

// String names the factor for logs without revealing a code.
func (f inlineFactor) String() string {
	if f.code != "" {
		return "code"
	}
	return f.keyword
}

// inlineKeywords are the words a user may type after the password.
var inlineKeywords = map[string]bool{"push": true, "sms": true, "text": true, "email": true, "phone": true, "call": true, "voice": true}

// splitInline splits "password<d>factor". ok is false when the last field
// is neither a code (4 to 10 digits) nor a known word, so that the whole
// string is the password.
func splitInline(input, delim string) (password string, f inlineFactor, ok bool) {
	i := strings.LastIndex(input, delim)
	if i <= 0 {
		return "", inlineFactor{}, false
	}
	password, last := input[:i], strings.TrimSpace(input[i+len(delim):])
	switch {
	case len(last) >= 4 && len(last) <= 10 && strings.IndexFunc(last, func(r rune) bool { return !unicode.IsDigit(r) || r > unicode.MaxASCII }) < 0:
		return password, inlineFactor{code: last}, true
	case inlineKeywords[strings.ToLower(last)]:
		return password, inlineFactor{keyword: strings.ToLower(last)}, true
	}
	return "", inlineFactor{}, false
}

// matchesExactly reports whether want is m's neutral kind ("push",
// "code", "oob_code", "phone", "question"), its provider's name ("OATH",
// "SMS") or its label.
func matchesExactly(m identity.Mechanism, want string) bool {
	want = strings.TrimSpace(want)
	return want != "" && (strings.EqualFold(want, string(m.Kind)) || strings.EqualFold(want, m.Name) || strings.EqualFold(want, m.Label))
}

// matchesWord reports whether want is a common word for m ("sms",
// "email", "call", "totp").
func matchesWord(m identity.Mechanism, want string) bool {
	want = strings.ToLower(strings.TrimSpace(want))
	switch want {
	case "sms", "text":
		return m.Channel == identity.ChannelSMS
	case "email", "mail":
		return m.Channel == identity.ChannelEmail
	case "call", "voice", "phone":
		return m.Kind == identity.KindPhone || m.Channel == identity.ChannelVoice
	case "totp", "otp", "app":
		return m.Kind == identity.KindCode
	}
	return false
}

// first returns the first choice that one of wants names, in the order of
// wants; a choice named exactly wins over one a common word stands for.
func first(choices []identity.Mechanism, wants ...string) (identity.Mechanism, bool) {
	for _, w := range wants {
		for _, match := range []func(identity.Mechanism, string) bool{matchesExactly, matchesWord} {
			for _, c := range choices {
				if match(c, w) {
					return c, true
				}
			}
		}
	}
	return identity.Mechanism{}, false
}

// inlineChoice picks the mechanism an inline factor asks for.
func inlineChoice(choices []identity.Mechanism, f inlineFactor) (identity.Mechanism, bool) {
	if f.code != "" {
		// A typed code comes from an authenticator app, or from the
		// provider's own app (which also takes pushes).
		return first(choices, string(identity.KindCode), string(identity.KindPush))
	}
	return first(choices, f.keyword)
}
