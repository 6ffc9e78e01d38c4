package conversation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radpacket"
)

// park.go holds requests while their push or call is approved. A held
// request is a record and a timer, not a goroutine: between two polls it
// costs the turn it belongs to and nothing runs for it. When its timer
// fires, the request asks its provider's poll queue for a turn (the polls
// of every held push of one provider share a budget, poll_rate, and pause
// together when the tenant rate-limits one), polls in the timer's own
// goroutine, and either parks again or ends with the reply, handed to
// Request.Later.

// ErrParked is Respond's error when the request is held for a push and
// its answer will come through Request.Later.
var ErrParked = errors.New("conversation: request held until its push is decided")

// Poll results, as Observer.Polled is told of them.
const (
	PollSent     = "sent"     // a poll went to the tenant
	PollDeferred = "deferred" // a poll waited for the provider's poll_rate
	PollPaused   = "paused"   // a poll waited for the tenant's slow-down
)

// pollQueue spreads the polls of one provider's held pushes: at most
// poll_rate a second all together, and none while the tenant asked every
// poll to wait (a 429).
//
// Batching is not possible: neither CyberArk's AdvanceAuthentication nor
// Auth0's OOB grant polls more than one transaction in a call.
//
// A tenth of poll_rate is kept for the last poll of a push, at its
// deadline: the one that decides between an Accept and "approve, then
// press Enter". Without it, a push whose turn in a long queue falls after
// its deadline would be switched though its user had approved it.
type pollQueue struct {
	mu     sync.Mutex
	limit  *rate.Limiter // polls in turn
	final  *rate.Limiter // last polls, at a push's deadline
	rate   int
	resume time.Time // no poll before this (the tenant's slow-down)
}

// queue returns the poll queue of the provider named name, at its
// configured rate.
func (d *Deps) queue(name string, perSecond int) *pollQueue {
	if perSecond <= 0 {
		perSecond = config.DefaultPollRate
	}
	v, ok := d.polls.Load(name)
	if !ok {
		v, _ = d.polls.LoadOrStore(name, &pollQueue{})
	}
	q := v.(*pollQueue)
	q.mu.Lock()
	if q.rate != perSecond {
		// A tenth of a second's polls may go at once: polls that fall due
		// together (pushes sent in the same moment) are spread over it.
		final := perSecond / 10
		inTurn := perSecond - final
		set := func(l **rate.Limiter, n int) {
			if *l == nil {
				*l = rate.NewLimiter(rate.Limit(n), max(1, n/10))
				return
			}
			(*l).SetLimit(rate.Limit(n))
			(*l).SetBurst(max(1, n/10))
		}
		set(&q.limit, inTurn)
		set(&q.final, final)
		q.rate = perSecond
	}
	q.mu.Unlock()
	return q
}

// admit decides when a poll due now may go. It returns 0 and true to poll
// now; a wait and true when a poll is reserved for now+wait (it goes then
// without asking again); a wait and false when no poll fits before last,
// the time the request must be decided by (it is then decided at last
// without one). why says what held it back.
func (q *pollQueue) admit(now, last time.Time) (wait time.Duration, poll bool, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Before(q.resume) {
		// Every held push resumes after the pause, spread over a second
		// so that they do not all poll in the same moment.
		wait = q.resume.Sub(now) + rand.N(time.Second)
		if !now.Add(wait).Before(last) {
			return last.Sub(now), false, PollPaused
		}
		return wait, false, PollPaused
	}
	r := q.limit.ReserveN(now, 1)
	if !r.OK() {
		return last.Sub(now), false, PollDeferred
	}
	wait = r.DelayFrom(now)
	if wait == 0 {
		return 0, true, PollSent
	}
	if now.Add(wait).After(last) {
		r.CancelAt(now)
		if !now.Before(last) && q.final.AllowN(now, 1) {
			return 0, true, PollSent // the last poll, from the reserve
		}
		return last.Sub(now), false, PollDeferred
	}
	return wait, true, PollDeferred
}

// slowDown pauses every poll of the queue for d.
func (q *pollQueue) slowDown(now time.Time, d time.Duration) {
	q.mu.Lock()
	if t := now.Add(d); t.After(q.resume) {
		q.resume = t
	}
	q.mu.Unlock()
}

// lateSlot is how late a reserved poll may go.
const lateSlot = 50 * time.Millisecond

// parked is a request held while its push is approved.
type parked struct {
	ex   *turn
	q    *pollQueue
	step identity.Step // the provider's last answer
	// deadline is the request's own bound (server.request_timeout).
	deadline time.Time
	due      int64  // on the engine's clock of parked requests (wakeups), in its queue at at
	watched  *watch // the group of p.ctx(), while p is in it
	// prev and next link the parked requests of one watch.
	prev, next *parked
	// While parked, the turn's log entry is kept as its fields (fold).
	logger   *logrus.Logger
	fields   []logField
	unfolded *logrus.Entry // the entry unfold made, while it is the turn's

	mu       sync.Mutex
	waiting  bool      // the timer is set and nothing runs for the request
	reserved bool      // the timer's poll was admitted when it was set,
	ended    bool      // (run's alone)
	armed    bool      // arm has run once: the request is watched
	at       int32     // the place in the wakeups' queue (-1: not in it; the wakeups' lock)
	slot     time.Time // for this time; after park, when the next poll is due
}

// park holds the turn until its next poll, after wait (never past its
// holdUntil).
// The timer is set by arm, once the caller of drive has seen that the
// turn parked: from then on the turn is the timer's.
func (ex *turn) park(step identity.Step, wait time.Duration) {
	p := ex.held
	if p == nil {
		if ex.parkCtx == nil {
			ex.parkCtx = ex.ctx // the polls run under the request's own
		}
		p = &parked{ex: ex, q: ex.e.queue(ex.client.Provider, ex.pollRate()), at: -1}
		// The request was read; its reply needs the header and the
		// Proxy-State attributes (radpacket.NewReply).
		ex.req.Attributes = radpacket.ProxyStates(ex.req.Attributes)
		if dl, ok := ex.ctx.Deadline(); ok {
			p.deadline = dl
		}
		ex.held = p
	}
	if step.Current != nil && len(step.Choices) > 0 {
		// A held push needs its mechanism, not the list it was chosen
		// from (which the mechanism may point into): a copy of it, and
		// the list let go of, here and in the conversation.
		cur := *step.Current
		if ex.conv.Current == step.Current {
			ex.conv.Current = &cur
		}
		step.Current, step.Choices = &cur, nil
	}
	p.step, p.slot = step, ex.e.now().Add(wait)
	// The request's context ends when its caller returns; a poll runs
	// under one made from p.ctx() and the deadline (and the parked turn
	// no longer keeps the request's).
	ex.ctx = ex.parkCtx
	ex.parkedNow = true
}

// ctx is the context that ends the hold early (the server stops): the
// turn's parkCtx (Request.HoldContext, or the request's own).
func (p *parked) ctx() context.Context { return p.ex.parkCtx }

// arm sets the timer of a request that parked.
func (p *parked) arm() {
	p.fold()
	p.mu.Lock()
	p.waiting, p.reserved = true, false
	first := !p.armed
	p.armed = true
	p.ex.e.wakeups.set(p, p.slot.Sub(p.ex.e.now()))
	p.mu.Unlock()
	if first {
		p.ex.e.holds.add(p)
	}
}

// pollRate is the poll_rate of the turn's provider.
func (ex *turn) pollRate() int {
	for i := range ex.e.Config.Provider {
		if ex.e.Config.Provider[i].Name == ex.client.Provider {
			return ex.e.Config.Provider[i].PollRate
		}
	}
	return 0
}

// cut ends the hold at once when its context ends.
func (p *parked) cut() {
	p.mu.Lock()
	run := p.waiting
	if run {
		// A timer firing meanwhile finds nothing waiting.
		p.ex.e.wakeups.stop(p)
		p.waiting = false
	}
	p.mu.Unlock()
	if run {
		p.run()
	}
}

// fire is the timer's: the poll is due.
func (p *parked) fire() {
	p.mu.Lock()
	run := p.waiting
	p.waiting = false
	p.mu.Unlock()
	if run {
		p.run()
	}
}

// rearm sets the timer again without polling (the poll waits for the
// queue).
func (p *parked) rearm(wait time.Duration, reserved bool) {
	p.mu.Lock()
	p.waiting, p.reserved = true, reserved
	p.slot = p.ex.e.now().Add(wait)
	p.ex.e.wakeups.set(p, wait)
	p.mu.Unlock()
}

// run polls (or decides without a poll) and moves the request on.
func (p *parked) run() {
	ex := p.ex
	defer func() {
		if r := recover(); r != nil {
			p.unfold()
			ex.log.WithField("panic", fmt.Sprint(r)).WithField("stack", string(debug.Stack())).Error("a held request's poll panicked; the request is answered as an upstream failure")
			ex.parkedNow = false
			p.end(ex.upstreamFailure(fmt.Errorf("internal error: %v", r)))
		}
	}()
	if err := p.ctx().Err(); err != nil {
		p.unfold()
		ex.parkedNow = false
		p.end(ex.upstreamFailure(err))
		return
	}
	now := ex.e.now()
	if !p.deadline.IsZero() && !now.Before(p.deadline) {
		p.unfold()
		ex.parkedNow = false
		p.end(ex.upstreamFailure(context.DeadlineExceeded))
		return
	}
	// A reserved poll goes without asking again, unless its timer fired
	// late (the process was stalled): then the slot has passed, and the
	// polls that fell due meanwhile must not all go at once.
	poll := p.reserved && now.Sub(p.slot) < lateSlot
	if !poll {
		wait, ok, why := p.q.admit(now, ex.holdUntil) // decided by then
		if why != PollSent {
			ex.e.Observer.Polled(ex.client.Provider, why)
		}
		if wait > 0 {
			p.rearm(wait, ok)
			return
		}
		poll = ok
	}
	// The log entry is made again only for a poll that goes (or a push
	// decided without one): a poll that waits for its turn stays folded.
	p.unfold()
	ctx, cancel := p.ctx(), context.CancelFunc(func() {})
	if !p.deadline.IsZero() {
		ctx, cancel = context.WithDeadline(p.ctx(), p.deadline)
	}
	defer cancel()
	ex.ctx = ctx
	step, err := p.step, error(nil)
	if poll {
		ex.e.Observer.Polled(ex.client.Provider, PollSent)
		step, err = ex.prov.Advance(ctx, p.step.Txn, identity.Input{Action: identity.Poll})
		if err == nil && step.SlowDown && step.PollInterval > 0 {
			p.q.slowDown(ex.e.now(), step.PollInterval)
		}
	}
	ex.parkedNow = false
	reply := ex.drive(ctx, step, err)
	if ex.parkedNow {
		p.arm()
		return
	}
	p.end(reply)
}

// end stops holding the request and hands its answer on.
func (p *parked) end(reply *radius.Packet) {
	if p.ended {
		return // a panic in the caller's Later: it had its answer
	}
	p.ended = true
	p.ex.e.holds.remove(p)
	p.ex.deliver(reply)
}

// watches groups the parked requests by the context that ends their hold
// (the server's, for all of them): one context.AfterFunc for each context
// with a request parked under it, not one a request.
type watches struct {
	mu    sync.Mutex
	byCtx map[context.Context]*watch
}

// watch is the parked requests of one context, linked through
// parked.prev and parked.next.
type watch struct {
	first *parked
	stop  func() bool
}

// add puts p in the watch of p.ctx(). A context that has already ended
// cuts p at once.
func (w *watches) add(p *parked) {
	w.mu.Lock()
	g := w.byCtx[p.ctx()]
	if g == nil {
		if p.ctx().Err() != nil {
			w.mu.Unlock()
			go p.cut() // as context.AfterFunc would: not in the caller's stack
			return
		}
		if w.byCtx == nil {
			w.byCtx = map[context.Context]*watch{}
		}
		ctx := p.ctx()
		g = &watch{}
		g.stop = context.AfterFunc(ctx, func() { w.cutAll(ctx) })
		w.byCtx[ctx] = g
	}
	p.watched, p.prev, p.next = g, nil, g.first
	if g.first != nil {
		g.first.prev = p
	}
	g.first = p
	w.mu.Unlock()
}

// remove takes p out of its watch; the watch ends with its last request.
func (w *watches) remove(p *parked) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := p.watched
	if g == nil {
		return
	}
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		g.first = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	}
	p.watched, p.prev, p.next = nil, nil, nil
	if g.first == nil && w.byCtx[p.ctx()] == g {
		g.stop()
		delete(w.byCtx, p.ctx())
	}
}

// count returns the number of contexts watched.
func (w *watches) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byCtx)
}

// cutAll ends the hold of every request parked under ctx, which ended.
func (w *watches) cutAll(ctx context.Context) {
	w.mu.Lock()
	g := w.byCtx[ctx]
	delete(w.byCtx, ctx)
	var all []*parked
	if g != nil {
		for p := g.first; p != nil; p = p.next {
			all = append(all, p)
		}
		for _, p := range all {
			p.watched, p.prev, p.next = nil, nil, nil
		}
	}
	w.mu.Unlock()
	for _, p := range all {
		go p.cut() // each answered apart, as its own AfterFunc did
	}
}

// logField is a field of a parked turn's log entry.
type logField struct {
	key   string
	value any
}

// fold keeps the turn's log entry, while it is parked, as a slice of its
// fields: logrus's map of them takes a few hundred bytes a held push. The
// slice made at one park is kept at the next while the turn's entry is
// the one unfold made (nothing was added to it in between).
func (p *parked) fold() {
	l := p.ex.log
	if l == nil {
		return
	}
	if l != p.unfolded || p.logger == nil {
		p.logger = l.Logger
		p.fields = make([]logField, 0, len(l.Data))
		for k, v := range l.Data {
			p.fields = append(p.fields, logField{k, v})
		}
	}
	p.unfolded = nil
	p.ex.log = nil
}

// unfold gives the turn its log entry back, made from the folded fields.
func (p *parked) unfold() {
	if p.ex.log != nil || p.logger == nil {
		return
	}
	d := make(logrus.Fields, len(p.fields))
	for _, f := range p.fields {
		d[f.key] = f.value
	}
	e := &logrus.Entry{Logger: p.logger, Data: d}
	p.ex.log, p.unfolded = e, e
}
