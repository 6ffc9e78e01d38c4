package bridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfabridge/mfabridge/conversation"
)

// Observer is told of what the bridge does, for metrics (package metrics
// implements it with Prometheus counters). Its methods are called on the
// request path: they must be cheap and safe for concurrent use.
type Observer interface {
	conversation.Observer
	// Dropped: a packet was dropped unanswered, for reason (dropMalformed
	// and the other drop reasons: "malformed", "overload"...).
	Dropped(reason string)
	// Replied: a reply was sent, with the RADIUS code's name.
	Replied(code string)
	// Abandoned: a conversation of the NAS's expired at a challenge.
	Abandoned(nas string)
	// Retransmission: a retransmission was absorbed, joined to the
	// request in flight, or replayed from the reply cache.
	Retransmission(result string)
	// StatusServer: a Status-Server was answered.
	StatusServer()
	// Accounting: an Accounting-Request of this Acct-Status-Type was
	// answered.
	Accounting(status string)
	// SharedReplyFailed: a call to the shared reply cache on Redis failed.
	SharedReplyFailed()
	// Panicked: a request handler panicked (and was recovered).
	Panicked()
	// ReadNudged: the reader was woken to read packets the kernel held.
	ReadNudged()
}

// observers tells each of its Observers.
type observers []Observer

func (os observers) Dropped(reason string) {
	for _, o := range os {
		o.Dropped(reason)
	}
}

func (os observers) Replied(code string) {
	for _, o := range os {
		o.Replied(code)
	}
}

func (os observers) Authenticated(nas, outcome string) {
	for _, o := range os {
		o.Authenticated(nas, outcome)
	}
}

func (os observers) LoginFinished(outcome, mechanism string, took time.Duration) {
	for _, o := range os {
		o.LoginFinished(outcome, mechanism, took)
	}
}

func (os observers) Abandoned(nas string) {
	for _, o := range os {
		o.Abandoned(nas)
	}
}

func (os observers) Retransmission(result string) {
	for _, o := range os {
		o.Retransmission(result)
	}
}

func (os observers) Challenged() {
	for _, o := range os {
		o.Challenged()
	}
}

func (os observers) PushSwitched() {
	for _, o := range os {
		o.PushSwitched()
	}
}

func (os observers) Polled(provider, result string) {
	for _, o := range os {
		o.Polled(provider, result)
	}
}

func (os observers) StatusServer() {
	for _, o := range os {
		o.StatusServer()
	}
}

func (os observers) Accounting(status string) {
	for _, o := range os {
		o.Accounting(status)
	}
}

func (os observers) SharedReplyFailed() {
	for _, o := range os {
		o.SharedReplyFailed()
	}
}

func (os observers) Panicked() {
	for _, o := range os {
		o.Panicked()
	}
}

func (os observers) ReadNudged() {
	for _, o := range os {
		o.ReadNudged()
	}
}

// tally is the bridge's own Observer: counts by name ("drop:malformed",
// "outcome:accept"), read back by Count and Counts for the operator's
// status and for tests.
type tally struct {
	m sync.Map // string -> *atomic.Int64
}

func (c *tally) add(name string) {
	v, ok := c.m.Load(name)
	if !ok {
		v, _ = c.m.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *tally) get(name string) int64 {
	if v, ok := c.m.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (c *tally) Dropped(reason string)                       { c.add("drop:" + reason) }
func (c *tally) Replied(code string)                         { c.add("reply:" + code) }
func (c *tally) Authenticated(_, outcome string)             { c.add("outcome:" + outcome) }
func (c *tally) LoginFinished(string, string, time.Duration) {}
func (c *tally) Abandoned(string)                            { c.add("outcome:abandoned") }
func (c *tally) Retransmission(result string)                { c.add("retransmission:" + result) }
func (c *tally) Challenged()                                 { c.add("challenge") }
func (c *tally) PushSwitched()                               { c.add("push:switched_to_challenge") }
func (c *tally) StatusServer()                               { c.add("status_server") }
func (c *tally) Polled(_, result string)                     { c.add("poll:" + result) }
func (c *tally) Accounting(status string)                    { c.add("accounting:" + status) }
func (c *tally) SharedReplyFailed()                          { c.add("shared_replies:error") }
func (c *tally) Panicked()                                   { c.add("panic") }
func (c *tally) ReadNudged()                                 { c.add("read_nudge") }
