package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radpacket"
)

// menuEntries returns choices as a waiting conversation keeps them: without
// their prompts, which a menu does not show and the provider gives again
// with the mechanism once it is chosen. A conversation at a menu is most of
// what a login storm leaves in memory.
func menuEntries(choices []identity.Mechanism) []identity.Mechanism {
	out := make([]identity.Mechanism, len(choices))
	for i, c := range choices {
		c.Prompt = ""
		out[i] = c
	}
	return out
}

// menu sends the numbered list of ex.conv.Choices.
func (ex *turn) menu(prefix string) *radius.Packet {
	texts := ex.e.Config.Texts
	entries := make([]string, len(ex.conv.Choices))
	for i, c := range ex.conv.Choices {
		label := c.Label
		if label == "" {
			label = c.Name
		}
		entries[i] = fmt.Sprintf("%d) %s", i+1, label)
	}
	ex.conv.Phase, ex.conv.Current, ex.conv.Pending = session.PhaseMenu, nil, false
	if ex.client.Menu != config.MenuCompact {
		lines := append(append([]string{texts.MenuHeader}, entries...), texts.MenuFooter)
		if prefix != "" {
			lines = append([]string{prefix}, lines...)
		}
		return ex.challenge(strings.Join(lines, "\n"), true)
	}
	return ex.challenge(compactMenu(prefix, texts.MenuHeader, entries, texts.MenuFooter), true)
}

// compactMenu is the menu on one line, for a NAS that shows the first
// Reply-Message only (pam_radius_auth 2.0): "header 1) app 2) SMS.
// footer". When it is longer than one attribute, the parts that matter
// least go first (the prefix, then the header), so that every choice and
// the question are shown.
func compactMenu(prefix, header string, entries []string, footer string) string {
	list := strings.Join(entries, " ") + "."
	for _, parts := range [][]string{{prefix, header, list, footer}, {header, list, footer}, {list, footer}} {
		var kept []string
		for _, p := range parts {
			if p != "" {
				kept = append(kept, p)
			}
		}
		if text := strings.Join(kept, " "); len(text)+1 <= radpacket.MaxAttrLen { // +1: the space after a colon
			return text
		}
	}
	return list + " " + footer
}

// ask prompts for a typed answer to step.Current.
func (ex *turn) ask(step identity.Step) *radius.Packet {
	m := step.Current
	text := m.Prompt
	if text == "" {
		text = ex.e.Config.Texts.CodeHint
	}
	if step.Display != "" {
		text += "\n" + fmt.Sprintf(ex.e.Config.Texts.Number, step.Display)
	}
	ex.conv.Phase = session.PhaseAnswer
	return ex.challenge(text, !m.Kind.Secret())
}

// approve asks the user to approve a push or call, then press Enter.
func (ex *turn) approve(step identity.Step, prefix string) *radius.Packet {
	var parts []string
	if prefix != "" {
		parts = append(parts, prefix)
	}
	parts = append(parts, ex.e.Config.Texts.Approve)
	if step.Display != "" {
		parts = append(parts, fmt.Sprintf(ex.e.Config.Texts.Number, step.Display))
	}
	ex.conv.Txn = step.Txn
	ex.conv.Current, ex.conv.Pending, ex.conv.Display = step.Current, true, step.Display
	ex.conv.Phase = session.PhaseApprove
	return ex.challenge(strings.Join(parts, "\n"), true)
}

// again repeats the conversation's last question after input it could not
// use.
func (ex *turn) again(prefix string) *radius.Packet {
	switch ex.conv.Phase {
	case session.PhaseMenu:
		return ex.menu(prefix)
	case session.PhaseApprove:
		return ex.approve(identity.Step{Txn: ex.conv.Txn, Current: ex.conv.Current, Display: ex.conv.Display}, prefix)
	}
	text := prefix
	if ex.conv.Current != nil {
		text += "\n" + ex.conv.Current.Prompt
	}
	return ex.challenge(text, ex.conv.Current == nil || !ex.conv.Current.Kind.Secret())
}

// challenge stores the conversation under a fresh State and returns the
// Access-Challenge.
func (ex *turn) challenge(text string, echo bool) *radius.Packet {
	ex.conv.Rounds++
	if ex.conv.Rounds > MaxRounds {
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.TooManyRounds, "too_many_rounds", "")
	}
	state, err := newState()
	if err != nil {
		return ex.upstreamFailure(err)
	}
	ttl := ex.e.Config.Sessions.TTL.Duration
	// The conversation is kept even when the request's own time has just
	// run out (a held push answered at its deadline): the challenge is
	// what the NAS gets, and without the conversation its answer would
	// find nothing. A store that hangs is cut off by the store itself
	// (Redis within about three redis.timeout).
	err = ex.e.Store.Create(context.WithoutCancel(ex.ctx), state, ex.conv, ttl)
	if errors.Is(err, session.ErrFull) {
		ex.log.Warn("session store full (sessions.max): rejected")
		return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.Busy, "store_full", "")
	}
	if err != nil {
		return ex.upstreamFailure(fmt.Errorf("session store: %w", err))
	}
	ex.tracef("challenge round %d: waiting for the user (%s)", ex.conv.Rounds, ex.conv.Phase)
	r := radpacket.NewReply(ex.req, radius.CodeAccessChallenge)
	_ = rfc2865.State_Set(r, []byte(state))
	if ex.client.Menu == config.MenuCompact && text != "" && !strings.ContainsAny(text[len(text)-1:], ":?.!") {
		// A NAS that shows the text as its prompt (pam_radius_auth) shows
		// it as a question: "Enter the code from your app: ".
		text += ":"
	}
	if strings.HasSuffix(text, ":") {
		// A NAS that shows the text as its prompt (pam_radius_auth) puts
		// the cursor right after it: "Enter a number: 1", not ":1".
		text += " "
	}
	radpacket.AddReplyMessage(r, text)
	_ = rfc2865.SessionTimeout_Set(r, rfc2865.SessionTimeout(ttl/time.Second))
	radpacket.SetPrompt(r, echo)
	ex.e.Observer.Challenged()
	if ex.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		ex.log.WithFields(logrus.Fields{"phase": ex.conv.Phase, "mechanism": ex.mech, "round": ex.conv.Rounds}).Debug("Access-Challenge")
	}
	return r
}

// newState returns a fresh printable State: 128 random bits in hex.
func newState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("no randomness for State: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// finish builds an Access-Accept or Access-Reject and logs the outcome of
// the authentication: one line, never a password, code or token.
func (ex *turn) finish(code radius.Code, text, outcome, method string) *radius.Packet {
	r := radpacket.NewReply(ex.req, code)
	if text != "" {
		radpacket.AddReplyMessage(r, text)
	}
	ex.e.Observer.Authenticated(ex.client.Name, outcome)
	if code != radius.CodeAccessChallenge {
		ex.e.Observer.LoginFinished(outcome, ex.mech, ex.duration())
	}
	ex.tracef("outcome: %s", outcome)
	fields := logrus.Fields{"event": "authentication", "outcome": outcome, "duration": ex.duration()}
	if ex.mech != "" {
		fields["mechanism"] = ex.mech
	}
	if method != "" {
		fields["method"] = method
	}
	l := ex.log.WithFields(fields)
	late := ex.late()
	if late {
		// The NAS had given up: "accepted" would not be true for the user.
		l = l.WithField("late", true)
	}
	switch {
	case late:
		l.Warn("answered after the NAS's time (nas_wait): the NAS has most likely given up; raise nas_wait only if the NAS waits longer")
	case code == radius.CodeAccessAccept && ex.lessThanMFA:
		l.Warn("authentication accepted without MFA (allow_no_mfa)")
	case code == radius.CodeAccessAccept:
		l.Info("authentication accepted")
	default:
		l.Info("authentication rejected")
	}
	return r
}
