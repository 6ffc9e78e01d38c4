// Package conversation answers one Access-Request of a login: it decodes
// what the user sent, drives the identity provider's steps, keeps the
// conversation between challenges in the session store, counts failures,
// holds a push within the NAS's time, and builds the reply. It never sees
// the server that received the request: Engine.Respond returns the reply,
// or a *Failure when the identity provider or the store failed, and the
// bridge decides what a failure means for the NAS (reject or drop).
package conversation

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge/session"
	"github.com/mfabridge/mfabridge/bridge/throttle"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
)

// MaxRounds bounds the challenges of one conversation.
const MaxRounds = 10

// Observer is told of what conversations do, for metrics.
type Observer interface {
	// Authenticated: an authentication of the NAS's ended with outcome.
	Authenticated(nas, outcome string)
	// LoginFinished: a login ended, after took from its first request.
	LoginFinished(outcome, mechanism string, took time.Duration)
	// Challenged: an Access-Challenge was sent.
	Challenged()
	// PushSwitched: a held push was answered with a challenge, as the
	// NAS's time ran out.
	PushSwitched()
	// Polled: a held push's poll of the provider's tenant was sent
	// (PollSent), or waited for poll_rate (PollDeferred) or for the
	// tenant's slow-down (PollPaused).
	Polled(provider, result string)
}

// Holder accounts for requests held while a push or call is approved: a
// held request waits, it does no work, and is counted apart from the
// requests being worked on.
type Holder interface {
	// Hold is called when a request starts to wait for a push; false
	// means that no more may wait.
	Hold() bool
	// Release is called when it stops waiting.
	Release()
}

// Deps are what engines work with, shared by the engines of successive
// configurations (a reload keeps the conversations and the counts).
type Deps struct {
	Store    session.Store
	Throttle throttle.Counter
	Observer Observer
	Tracer   *Tracer
	// Holds, when set, accounts for requests held while a push is
	// approved.
	Holds Holder
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// polls are the poll queues of held pushes, by provider name.
	polls sync.Map
	// holds are the parked requests, by the context that ends their hold;
	// wakeups is their clock.
	holds   watches
	wakeups wakeups

	storeMu    sync.Mutex
	storeAsked time.Time
	storeErr   error
}

func (d *Deps) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// pinger is a session store that can say whether it is reachable.
type pinger interface {
	Ping(ctx context.Context) error
}

// storeReady reports whether the session store can take new
// conversations, asking a shared store at most once a second.
func (d *Deps) storeReady(ctx context.Context) error {
	p, ok := d.Store.(pinger)
	if !ok {
		return nil
	}
	d.storeMu.Lock()
	defer d.storeMu.Unlock()
	if now := d.now(); now.Sub(d.storeAsked) >= time.Second {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		d.storeErr, d.storeAsked = p.Ping(ctx), now
	}
	return d.storeErr
}

// Engine answers the Access-Requests of one configuration.
type Engine struct {
	*Deps
	Config    *config.Config
	Providers map[string]identity.Provider
}

// Request is an Access-Request to answer, from a known client whose
// Message-Authenticator (where required) has been checked.
type Request struct {
	Packet *radius.Packet
	Client *config.Client
	// Log carries the request's fields (NAS, id...).
	Log *logrus.Entry
	// Received is when the kernel received it (zero: unknown).
	Received time.Time
	// Later, when set, takes the answer of a request held for a push:
	// Respond then returns ErrParked at once instead of waiting, and
	// Later is called from another goroutine when the push is decided.
	// While it is held, the request's Packet keeps only what a reply to
	// it needs (its Proxy-State attributes besides the header): the rest
	// is not kept for every person holding a phone.
	Later func(Reply, error)
	// HoldContext, when set, is the context a held request's polls run
	// under instead of the request's (which ends when Respond returns);
	// the request's deadline still applies.
	HoldContext context.Context
}

// Reply is Respond's answer.
type Reply struct {
	// Packet is the reply to send; nil with a Failure.
	Packet *radius.Packet
	t      *turn
}

// Log is the request's log entry with the login's fields (user...); nil
// for a Reply that did not come from Respond.
func (r Reply) Log() *logrus.Entry {
	if r.t == nil {
		return nil
	}
	return r.t.log
}

// Sent tells the live traces following the request what was sent in the
// end (nil: nothing).
func (r Reply) Sent(p *radius.Packet) {
	if r.t != nil && len(r.t.watch) > 0 {
		r.t.traceReply(p, r.t.e.now().Sub(r.t.start))
	}
}

// Failure is Respond's error: the identity provider, the network to it or
// the session store failed, so that the login could not be decided. It is
// never the user's failure, and never means an Accept.
type Failure struct {
	Err error
	// Log carries the login's fields (user, NAS...).
	Log *logrus.Entry
	// Mechanism is the one last used ("" for none).
	Mechanism string
	// Took is the time since the login's first request; Late is true when
	// the NAS has most likely given up waiting (nas_wait).
	Took time.Duration
	Late bool
}

func (f *Failure) Error() string { return "upstream failure: " + f.Err.Error() }

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// Respond answers req. A *Failure says that it could not be decided; the
// caller answers the NAS as the client's upstream_failure says. A request
// held for a push returns ErrParked when req.Later is set (the answer goes
// there); without Later, Respond waits for the answer.
func (e *Engine) Respond(ctx context.Context, req Request) (Reply, error) {
	t := &turn{e: e, ctx: ctx, client: req.Client, req: req.Packet, log: req.Log, start: e.now(), received: req.Received, later: req.Later, parkCtx: req.HoldContext}
	var (
		done   chan struct{}
		out    Reply
		outErr error
	)
	if t.later == nil {
		done = make(chan struct{})
		t.later = func(r Reply, err error) { out, outErr = r, err; close(done) }
	}
	p := t.respond(ctx)
	if t.parkedNow {
		t.held.arm()
		if done == nil {
			return Reply{}, ErrParked
		}
		<-done
		return out, outErr
	}
	t.unhold()
	return t.result(p)
}

// result is the turn's answer: the reply, or its failure.
func (ex *turn) result(p *radius.Packet) (Reply, error) {
	if ex.failure != nil {
		return Reply{t: ex}, ex.failure
	}
	return Reply{Packet: p, t: ex}, nil
}

// deliver hands a parked turn's answer to its caller.
func (ex *turn) deliver(p *radius.Packet) {
	ex.unhold()
	ex.later(ex.result(p))
}

// unhold stops counting the turn against server.max_held.
func (ex *turn) unhold() {
	if ex.holding {
		ex.holding = false
		ex.e.Holds.Release()
	}
}
