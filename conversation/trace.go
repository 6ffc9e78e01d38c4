package conversation

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/internal/msgauth"
	"github.com/mfabridge/mfabridge/radpacket"
)

// A live trace (`mfabridge trace --user alice`): every packet and every
// call to the identity provider of the conversations that match, as they
// happen, with passwords, codes and secrets masked. Nothing is traced, and
// nothing costs more than a pointer load, while no one watches.

// traceWatch is one watcher's filter and where its lines go.
type traceWatch struct {
	user, nas string // "" matches any
	lines     chan string
}

// Tracer holds the live traces being watched.
type Tracer struct {
	mu      sync.Mutex
	watches map[*traceWatch]bool
	n       int // len(watches), read without the lock by active
}

// Trace has lines of the conversations of user (case-folded) and/or nas
// sent on a channel until ctx ends (the channel is not closed: read it
// until ctx ends). A slow reader loses lines, never slows a login.
func (t *Tracer) Watch(ctx context.Context, user, nas string) <-chan string {
	w := &traceWatch{user: throttle.Canonical(user), nas: nas, lines: make(chan string, 256)}
	t.mu.Lock()
	if t.watches == nil {
		t.watches = map[*traceWatch]bool{}
	}
	t.watches[w] = true
	t.n = len(t.watches)
	t.mu.Unlock()
	go func() {
		<-ctx.Done()
		t.mu.Lock()
		delete(t.watches, w)
		t.n = len(t.watches)
		t.mu.Unlock()
	}()
	return w.lines
}

// watchers returns the watches that match user and nas, or nil.
func (t *Tracer) watchers(user, nas string) []*traceWatch {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		return nil
	}
	u := throttle.Canonical(user)
	var out []*traceWatch
	for w := range t.watches {
		if (w.user == "" || w.user == u) && (w.nas == "" || w.nas == nas) {
			out = append(out, w)
		}
	}
	return out
}

// tracef sends a line to the exchange's watchers.
func (ex *turn) tracef(format string, args ...any) {
	if len(ex.watch) == 0 {
		return
	}
	line := fmt.Sprintf("%s %s %s/%s ", ex.e.now().Format("15:04:05.000"), ex.traceID(), ex.client.Name, ex.user) + fmt.Sprintf(format, args...)
	for _, w := range ex.watch {
		select {
		case w.lines <- line:
		default: // a slow reader loses lines
		}
	}
}

// traceRequest writes the request's attributes, the password masked.
func (ex *turn) traceRequest() {
	var b strings.Builder
	fmt.Fprintf(&b, "Access-Request id %d from %s:", ex.req.Identifier, ex.src.NAS)
	for _, a := range ex.req.Attributes {
		fmt.Fprintf(&b, " %s=%s", attrName(a.Type), attrValue(a.Type, a.Attribute))
	}
	ex.tracef("%s", b.String())
}

// traceReply writes a reply's code and text.
func (ex *turn) traceReply(r *radius.Packet, took time.Duration) {
	if r == nil {
		ex.tracef("no answer (upstream_failure = \"drop\"): the NAS fails over; %v", took.Round(time.Millisecond))
		return
	}
	msg := strings.Join(radpacket.ReplyMessages(r), "")
	_, state := r.Lookup(rfc2865.State_Type)
	ex.tracef("%v after %v: %q (State: %v)", r.Code, took.Round(time.Millisecond), msg, state)
}

func attrName(t radius.Type) string {
	switch t {
	case rfc2865.UserName_Type:
		return "User-Name"
	case rfc2865.UserPassword_Type:
		return "User-Password"
	case rfc2865.State_Type:
		return "State"
	case rfc2865.CallingStationID_Type:
		return "Calling-Station-Id"
	case rfc2865.NASIdentifier_Type:
		return "NAS-Identifier"
	case rfc2865.NASIPAddress_Type:
		return "NAS-IP-Address"
	case msgauth.Type:
		return "Message-Authenticator"
	case radpacket.TypeProxyState:
		return "Proxy-State"
	}
	return fmt.Sprintf("attr-%d", t)
}

// attrValue shows an attribute's value for a trace: secrets masked, text as
// text, anything else in hex.
func attrValue(t radius.Type, v []byte) string {
	switch t {
	case rfc2865.UserPassword_Type, msgauth.Type:
		return fmt.Sprintf("<%d bytes, not shown>", len(v))
	case rfc2865.State_Type, radpacket.TypeProxyState:
		return "0x" + hex.EncodeToString(v)
	}
	if utf8.Valid(v) {
		return fmt.Sprintf("%q", v)
	}
	return "0x" + hex.EncodeToString(v)
}

// tracedProvider writes each call to the provider and its result to the
// exchange's watchers: the action, never the answer typed.
type tracedProvider struct {
	identity.Provider
	ex *turn
}

func (t tracedProvider) Start(ctx context.Context, req identity.Request) (identity.Step, error) {
	began := time.Now()
	step, err := t.Provider.Start(ctx, req)
	t.ex.tracef("provider %s: Start (the password checked by the tenant) -> %s in %v", t.Name(), describeStep(step, err), time.Since(began).Round(time.Millisecond))
	return step, err
}

func (t tracedProvider) Advance(ctx context.Context, txn identity.Txn, in identity.Input) (identity.Step, error) {
	began := time.Now()
	step, err := t.Provider.Advance(ctx, txn, in)
	what := in.Action.String()
	if in.Action == identity.Choose {
		what += " " + in.MechanismID
	}
	t.ex.tracef("provider %s: %s -> %s in %v", t.Name(), what, describeStep(step, err), time.Since(began).Round(time.Millisecond))
	return step, err
}

// describeStep says what a step is, without anything secret.
func describeStep(s identity.Step, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	switch s.Status {
	case identity.Accepted:
		return "accepted"
	case identity.Rejected:
		return fmt.Sprintf("rejected (%s) %s", s.Why, s.Detail)
	}
	if s.Current == nil {
		names := make([]string, len(s.Choices))
		for i, c := range s.Choices {
			names[i] = c.Word()
		}
		return "waiting: a choice of " + strings.Join(names, ", ")
	}
	out := "waiting: " + s.Current.Word()
	if s.Pending {
		out += ", pending (sent out of band)"
	}
	if s.Display != "" {
		out += ", with a number to show"
	}
	return out
}

// traceID names the request in a trace: the start of its Request
// Authenticator (made when a line is written, not kept in every turn).
func (ex *turn) traceID() string { return hex.EncodeToString(ex.req.Authenticator[:3]) }
