package bridge

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/identitytest"
)

// passwordProvider accepts "right" and rejects any other password as the
// user's failure.
func passwordProvider() *identitytest.Scripted {
	return &identitytest.Scripted{OnStart: func(_ context.Context, req identity.Request) (identity.Step, error) {
		if req.Password == "right" {
			return identity.Step{Status: identity.Accepted, Identity: &identity.Identity{User: req.User}}, nil
		}
		return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
	}}
}

// ask sends a PAP request for user from station and returns the reply's
// code and Reply-Message, and how long it took.
func ask(t *testing.T, ts *testServer, n *nas, user, pw, station string) (radius.Code, string, time.Duration) {
	t.Helper()
	began := time.Now()
	req, raw := request(t, testSecret, true, papBuild(user, pw, func(p *radius.Packet) {
		if station != "" {
			_ = rfc2865.CallingStationID_SetString(p, station)
		}
	}))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(5*time.Second))
	return r.Code, rfc2865.ReplyMessage_GetString(r), time.Since(began)
}

// TestStrangerCannotLockOutTheOwner: five wrong passwords for bob from one
// station lock that station out for bob; bob signs in from his own.
func TestStrangerCannotLockOutTheOwner(t *testing.T) {
	ts := startServer(t, passwordProvider(), nil)
	n := newNAS(t, ts)
	for i := 0; i < 5; i++ {
		if code, _, _ := ask(t, ts, n, "bob", "guess", "198.51.100.66"); code != radius.CodeAccessReject {
			t.Fatalf("guess %d: %v", i, code)
		}
	}
	if code, msg, _ := ask(t, ts, n, "bob", "right", "198.51.100.66"); code != radius.CodeAccessReject || !strings.Contains(msg, "Too many failed attempts") {
		t.Fatalf("the guessing station after 5 failures: %v %q", code, msg)
	}
	code, msg, took := ask(t, ts, n, "bob", "right", "192.0.2.7")
	if code != radius.CodeAccessAccept {
		t.Fatalf("the owner from his own station: %v %q", code, msg)
	}
	if took < 400*time.Millisecond {
		t.Errorf("a login from an unproven station after 5 failures was not slowed (%v)", took)
	}
	// Proven now: the owner's next login is not slowed.
	if code, _, took := ask(t, ts, n, "bob", "right", "192.0.2.7"); code != radius.CodeAccessAccept || took > 300*time.Millisecond {
		t.Fatalf("the owner's proven station: %v after %v", code, took)
	}
}

// TestLockoutCountsCaseFoldedNames: Bob and bOB are bob.
func TestLockoutCountsCaseFoldedNames(t *testing.T) {
	ts := startServer(t, passwordProvider(), func(c *config.Config) { three := 3; c.Lockout.Attempts = &three })
	n := newNAS(t, ts)
	for _, u := range []string{"Bob", "bOB", "bob"} {
		ask(t, ts, n, u, "guess", "198.51.100.66")
	}
	if code, msg, _ := ask(t, ts, n, "BOB", "right", "198.51.100.66"); code != radius.CodeAccessReject || !strings.Contains(msg, "Too many failed attempts") {
		t.Fatalf("after failures as Bob, bOB and bob: %v %q", code, msg)
	}
}

// TestOnlyTheUsersOwnFailuresCount: the tenant's retry-later, a
// misconfiguration and an upstream error never count against the user.
func TestOnlyTheUsersOwnFailuresCount(t *testing.T) {
	var calls atomic.Int32
	p := &identitytest.Scripted{OnStart: func(_ context.Context, req identity.Request) (identity.Step, error) {
		switch calls.Add(1) % 3 {
		case 0:
			return identity.Step{}, &identity.UpstreamError{Provider: "scripted", Op: "start", Status: 503}
		case 1:
			return identity.Step{Status: identity.Rejected, Why: identity.WhyMisconfigured}, nil
		}
		return identity.Step{Status: identity.Rejected, Why: identity.WhyRetryLater}, nil
	}}
	ts := startServer(t, p, func(c *config.Config) { three := 3; c.Lockout.Attempts = &three })
	n := newNAS(t, ts)
	for i := 0; i < 9; i++ {
		ask(t, ts, n, "alice", "right", "x")
	}
	if got := ts.srv.Count("outcome:locked_out"); got != 0 {
		t.Fatalf("%d lockouts after failures that were not the user's", got)
	}
	if calls.Load() != 9 {
		t.Fatalf("the provider was asked %d times of 9", calls.Load())
	}
}

// TestAcceptWithoutMFAIsLoggedAsWarning: an Accept the admin allowed with
// the password alone says so in a warning on every such login.
func TestAcceptWithoutMFAIsLoggedAsWarning(t *testing.T) {
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		return identity.Step{Status: identity.Accepted, NoMFA: true, Detail: "accepted with the password alone"}, nil
	}}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	if code, _, _ := ask(t, ts, n, "alice", "pw", ""); code != radius.CodeAccessAccept {
		t.Fatal(code)
	}
	logs := ts.log()
	if !strings.Contains(logs, `level=warning msg="authentication accepted without MFA (allow_no_mfa)"`) || !strings.Contains(logs, "password alone") {
		t.Fatalf("log:\n%s", logs)
	}
}

// TestZeroLengthPasswordIsAnEmptyAnswer: ocserv (radcli) sends a
// zero-length User-Password when the user presses Enter at a challenge.
func TestZeroLengthPasswordIsAnEmptyAnswer(t *testing.T) {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push", Prompt: "Approve on your phone"}
	p := &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			return identity.Step{Status: identity.Waiting, Current: &push, Pending: true, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
		OnAdvance: func(_ context.Context, _ identity.Txn, in identity.Input) (identity.Step, error) {
			if in.Action == identity.Poll {
				return identity.Step{Status: identity.Accepted}, nil
			}
			return identity.Step{Status: identity.Rejected, Why: identity.WhyFailed}, nil
		},
	}
	ts := startServer(t, p, func(c *config.Config) { c.Clients[0].Push = "prompt" })
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(time.Second))
	if r.Code != radius.CodeAccessChallenge {
		t.Fatalf("first reply %v", r.Code)
	}
	state := rfc2865.State_Get(r)
	req, raw = request(t, testSecret, true, func(p *radius.Packet) {
		_ = rfc2865.UserName_SetString(p, "alice")
		p.Add(rfc2865.UserPassword_Type, radius.Attribute{})
		_ = rfc2865.State_Set(p, state)
	})
	n.send(raw)
	if r = checkReply(t, req, raw, n.recv(time.Second)); r.Code != radius.CodeAccessAccept {
		t.Fatalf("Enter at the approval prompt: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
}

// TestRepeatedUserNameIsMalformed: two User-Names make it ambiguous which
// one was checked: the request is dropped and counted.
func TestRepeatedUserNameIsMalformed(t *testing.T) {
	p := passwordProvider()
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	_, raw := request(t, testSecret, true, papBuild("alice", "right", func(p *radius.Packet) { _ = rfc2865.UserName_AddString(p, "bob") }))
	n.send(raw)
	if n.recv(300*time.Millisecond) != nil || ts.srv.Count("drop:"+dropMalformed) != 1 || p.Calls.Load() != 0 {
		t.Fatalf("a request with two User-Names: counts %v, %d provider calls", ts.srv.Counts(), p.Calls.Load())
	}
}

// TestPushWaitPollsAtTheDeadline: a held push is polled one last time at
// push_wait itself, not given up an interval early; left unanswered, it
// counts as a failure from that source.
func TestPushWaitPollsAtTheDeadline(t *testing.T) {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push"}
	began := make(chan time.Time, 1)
	var last atomic.Int64
	p := &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			began <- time.Now()
			return identity.Step{Status: identity.Waiting, Current: &push, Pending: true, PollInterval: 300 * time.Millisecond, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
		OnAdvance: func(context.Context, identity.Txn, identity.Input) (identity.Step, error) {
			last.Store(time.Now().UnixNano())
			return identity.Step{Status: identity.Waiting, Current: &push, Pending: true, PollInterval: 300 * time.Millisecond, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
	}
	ts := startServer(t, p, func(c *config.Config) {
		c.Clients[0].PushWait = config.Duration{Duration: time.Second}
		one := 1
		c.Lockout.Attempts = &one
	})
	n := newNAS(t, ts)
	if code, msg, _ := ask(t, ts, n, "alice", "pw", "192.0.2.7"); code != radius.CodeAccessReject || !strings.Contains(msg, "not approved in time") {
		t.Fatalf("an unanswered push: %v %q", code, msg)
	}
	start := <-began
	if d := time.Unix(0, last.Load()).Sub(start); d < 950*time.Millisecond {
		t.Fatalf("the last poll went %v after the start, before push_wait (1s)", d)
	}
	if code, msg, _ := ask(t, ts, n, "alice", "pw", "192.0.2.7"); code != radius.CodeAccessReject || !strings.Contains(msg, "Too many failed attempts") {
		t.Fatalf("after an unanswered push with attempts = 1: %v %q", code, msg)
	}
}

// TestNoticeIsShownBeforeTheAccept: a notice (Auth0's new recovery code)
// reaches the user in a last challenge; any answer ends the login; the
// notice's text never reaches the log.
func TestNoticeIsShownBeforeTheAccept(t *testing.T) {
	p := &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) {
			return identity.Step{Status: identity.Waiting, Current: &identity.Mechanism{ID: "n", Kind: identity.KindNotice, Name: "recovery-code", Prompt: "Press Enter to finish."},
				Display: "Your new recovery code: QWERTY123456", Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
		},
		OnAdvance: func(_ context.Context, _ identity.Txn, in identity.Input) (identity.Step, error) {
			if in.Action == identity.Answer {
				return identity.Step{Status: identity.Accepted}, nil
			}
			return identity.Step{}, identity.ErrBadInput
		},
	}
	ts := startServer(t, p, nil)
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(time.Second))
	if r.Code != radius.CodeAccessChallenge || !strings.Contains(rfc2865.ReplyMessage_GetString(r), "QWERTY123456") {
		t.Fatalf("%v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
	state := rfc2865.State_Get(r)
	req, raw = request(t, testSecret, true, papBuild("alice", "", func(p *radius.Packet) { _ = rfc2865.State_Set(p, state) }))
	n.send(raw)
	if r = checkReply(t, req, raw, n.recv(time.Second)); r.Code != radius.CodeAccessAccept {
		t.Fatalf("after Enter: %v", r.Code)
	}
	if strings.Contains(ts.log(), "QWERTY123456") {
		t.Fatal("the recovery code reached the log")
	}
}

// pendingPush is a provider whose push stays pending until approved is set.
func pendingPush(approved *atomic.Bool) *identitytest.Scripted {
	push := identity.Mechanism{ID: "p", Kind: identity.KindPush, Name: "push", Prompt: "Approve the request"}
	waiting := identity.Step{Status: identity.Waiting, Current: &push, Pending: true, PollInterval: 200 * time.Millisecond, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}
	return &identitytest.Scripted{
		OnStart: func(context.Context, identity.Request) (identity.Step, error) { return waiting, nil },
		OnAdvance: func(_ context.Context, _ identity.Txn, in identity.Input) (identity.Step, error) {
			if in.Action == identity.Poll && approved.Load() {
				return identity.Step{Status: identity.Accepted}, nil
			}
			return waiting, nil
		},
	}
}

// TestAdaptivePushSwitchesToAChallengeInTime: a push not approved within
// the NAS's time is answered, before the NAS gives up, with a challenge on
// the same push; the user approves and presses Enter; one push in all.
func TestAdaptivePushSwitchesToAChallengeInTime(t *testing.T) {
	var approved atomic.Bool
	p := pendingPush(&approved)
	ts := startServer(t, p, func(c *config.Config) { c.Clients[0].NASWait = config.Duration{Duration: 2 * time.Second} })
	n := newNAS(t, ts)
	began := time.Now()
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	r := checkReply(t, req, raw, n.recv(3*time.Second))
	took := time.Since(began)
	if r.Code != radius.CodeAccessChallenge || !strings.Contains(rfc2865.ReplyMessage_GetString(r), "press Enter") {
		t.Fatalf("after the NAS's time: %v %q", r.Code, rfc2865.ReplyMessage_GetString(r))
	}
	if took > 2*time.Second || took < time.Second {
		t.Fatalf("answered after %v; the NAS waits 2s", took)
	}
	approved.Store(true)
	state := rfc2865.State_Get(r)
	req, raw = request(t, testSecret, true, papBuild("alice", "", func(p *radius.Packet) { _ = rfc2865.State_Set(p, state) }))
	n.send(raw)
	if r = checkReply(t, req, raw, n.recv(3*time.Second)); r.Code != radius.CodeAccessAccept {
		t.Fatalf("after approving and Enter: %v", r.Code)
	}
	if ts.srv.Count("push:switched_to_challenge") != 1 {
		t.Fatalf("counts %v", ts.srv.Counts())
	}
}

// TestWaitModeRejectsBeforeTheNASGivesUp: a NAS that cannot show a
// challenge (push = "wait") gets a clear Reject within its time, never an
// answer it would drop; that is not counted against the user.
func TestWaitModeRejectsBeforeTheNASGivesUp(t *testing.T) {
	var approved atomic.Bool
	ts := startServer(t, pendingPush(&approved), func(c *config.Config) {
		c.Clients[0].Push = config.PushWait
		c.Clients[0].NASWait = config.Duration{Duration: 2 * time.Second}
		one := 1
		c.Lockout.Attempts = &one
	})
	n := newNAS(t, ts)
	code, msg, took := ask(t, ts, n, "alice", "pw", "192.0.2.7")
	if code != radius.CodeAccessReject || !strings.Contains(msg, "not approved in time") || took > 2*time.Second {
		t.Fatalf("%v %q after %v", code, msg, took)
	}
	approved.Store(true)
	if code, _, _ := ask(t, ts, n, "alice", "pw", "192.0.2.7"); code != radius.CodeAccessAccept {
		t.Fatalf("the next login: %v (the NAS's time was counted as the user's failure?)", code)
	}
}

// TestPromptsFitTheClient: a long menu is split only at line breaks and
// spaces; "compact" writes it in one Reply-Message for a NAS that shows
// only the first; a prompt ending in a colon ends in ": ".
func TestPromptsFitTheClient(t *testing.T) {
	var choices []identity.Mechanism
	for i := 0; i < 6; i++ {
		choices = append(choices, identity.Mechanism{ID: fmt.Sprint(i), Kind: identity.KindCode, Name: "OATH", Label: fmt.Sprintf("Code de l'application d'authentification numéro %d", i)})
	}
	p := &identitytest.Scripted{OnStart: func(context.Context, identity.Request) (identity.Step, error) {
		return identity.Step{Status: identity.Waiting, Choices: choices, Txn: identity.Txn{Provider: "scripted", Data: []byte("t")}}, nil
	}}
	for _, menu := range []string{config.MenuLines, config.MenuCompact} {
		ts := startServer(t, p, func(c *config.Config) { c.Clients[0].Menu = menu })
		n := newNAS(t, ts)
		req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
		n.send(raw)
		r := checkReply(t, req, raw, n.recv(time.Second))
		var parts []string
		for _, a := range r.Attributes {
			if a.Type == rfc2865.ReplyMessage_Type {
				parts = append(parts, string(a.Attribute))
			}
		}
		whole := strings.Join(parts, "")
		if !strings.HasSuffix(whole, "Enter a number: ") {
			t.Errorf("%s: the prompt ends %q", menu, whole[max(0, len(whole)-20):])
		}
		for _, part := range parts[:len(parts)-1] {
			if !strings.HasSuffix(part, "\n") && !strings.HasSuffix(part, " ") {
				t.Errorf("%s: a Reply-Message cut inside a word: %q", menu, part)
			}
		}
		// Six long choices do not fit one attribute: the compact form
		// keeps the choices and the question, and drops the header.
		if menu == config.MenuCompact && (strings.Contains(whole, "\n") || !strings.HasPrefix(whole, "1) Code de l'application")) {
			t.Errorf("compact menu %q", whole)
		}
	}
}

// TestAbandonedConversationIsLogged: a conversation left at a challenge
// leaves one log line when it expires, and the sessions count falls.
func TestAbandonedConversationIsLogged(t *testing.T) {
	ts := startServer(t, menuProvider(), func(c *config.Config) { c.Sessions.TTL = config.Duration{Duration: 100 * time.Millisecond} })
	n := newNAS(t, ts)
	req, raw := request(t, testSecret, true, papBuild("alice", "pw"))
	n.send(raw)
	if r := checkReply(t, req, raw, n.recv(time.Second)); r.Code != radius.CodeAccessChallenge {
		t.Fatal(r.Code)
	}
	if ts.srv.Sessions() != 1 {
		t.Fatalf("%d sessions", ts.srv.Sessions())
	}
	time.Sleep(200 * time.Millisecond)
	ts.srv.store.(expiring).Sweep()
	if ts.srv.Sessions() != 0 {
		t.Fatalf("%d sessions after they expired", ts.srv.Sessions())
	}
	if l := ts.log(); !strings.Contains(l, "conversation expired unanswered") || !strings.Contains(l, "outcome=abandoned") || !strings.Contains(l, "user=alice") {
		t.Fatalf("log:\n%s", l)
	}
}

// TestTraceFollowsOneUser: a live trace of alice shows her packets, the
// provider's steps and the replies, with the password and code masked, and
// nothing of bob.
func TestTraceFollowsOneUser(t *testing.T) {
	ts := startServer(t, menuProvider(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	lines := ts.srv.Trace(ctx, "Alice", "")
	n := newNAS(t, ts)
	exchange := func(build func(*radius.Packet)) *radius.Packet {
		req, raw := request(t, testSecret, true, build)
		n.send(raw)
		return checkReply(t, req, raw, n.recv(time.Second))
	}
	withState := func(st []byte) func(*radius.Packet) {
		return func(p *radius.Packet) { _ = rfc2865.State_Set(p, st) }
	}
	exchange(papBuild("bob", "bobs-secret-pw"))
	r := exchange(papBuild("alice", "alices-secret-pw"))
	r = exchange(papBuild("alice", "1", withState(rfc2865.State_Get(r))))
	if r = exchange(papBuild("alice", "123456", withState(rfc2865.State_Get(r)))); r.Code != radius.CodeAccessAccept {
		t.Fatal(r.Code)
	}
	var all []string
	for done := false; !done; {
		select {
		case l := <-lines:
			all = append(all, l)
		case <-time.After(200 * time.Millisecond):
			done = true
		}
	}
	cancel()
	text := strings.Join(all, "\n")
	for _, want := range []string{"Access-Request id", `User-Name="alice"`, "User-Password=<16 bytes, not shown>", "provider scripted: Start", "waiting: a choice of code, sms", "choose a", "Access-Challenge after", "Access-Accept after", "outcome: accept"} {
		if !strings.Contains(text, want) {
			t.Errorf("the trace lacks %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{"alices-secret-pw", "123456", "bob"} {
		if strings.Contains(text, secret) {
			t.Errorf("the trace shows %q:\n%s", secret, text)
		}
	}
}
