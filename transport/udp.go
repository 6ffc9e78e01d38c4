// Package transport moves RADIUS packets between the network and the
// bridge: UDP sockets read by a pool of workers (the raw system-call path
// on Linux, net.UDPConn elsewhere), and the framing of RADIUS over TCP and
// TLS streams (RFC 6613, 6614). It knows nothing of clients, secrets or
// conversations: each datagram goes to a Handler, which returns the work
// to run once the reading has been handed on.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"layeh.com/radius"
)

// Handler takes a datagram read from conn (on local, from from; received
// is when the kernel received it, zero when unknown). It returns the rest
// of the work, which runs after another worker has taken over reading, or
// nil when the datagram is done with (dropped, or answered at once).
// datagram is only valid during the call.
type Handler func(ctx context.Context, conn net.PacketConn, local string, datagram []byte, from net.Addr, received time.Time) (job func())

// UDPOptions are ServeUDP's settings.
type UDPOptions struct {
	// Timestamps asks the kernel for each datagram's receive time (for
	// latency measurements); without, received is zero.
	Timestamps bool
	// OnNudge, when set, is told each time a starved reader is woken
	// (see nudge).
	OnNudge func()
}

// ServeUDP reads conn until ctx ends (nil) or reading fails, handing
// each datagram to h on a worker of pool. Replies written to the conn h
// is given go out through the same socket.
func ServeUDP(ctx context.Context, conn net.PacketConn, pool *Pool, h Handler, o UDPOptions) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if uc, ok := conn.(*net.UDPConn); ok {
		// Best effort: the kernel caps it at net.core.rmem_max.
		_ = uc.SetReadBuffer(receiveBuffer)
	}
	r := &reader{pool: pool, handle: h, o: o, ctx: ctx, conn: conn, local: conn.LocalAddr().String(), buf: make([]byte, radius.MaxPacketLength+1), done: make(chan error, 1)}
	// Receive times are asked of the kernel only when someone listens.
	if sock, ok := newUDPSocket(conn, o.Timestamps); ok {
		r.sock, r.conn = sock, sock     // replies go out through sock too
		if runtime.GOMAXPROCS(0) == 1 { // see nudge
			r.wake = make(chan struct{}, 1)
			r.lastRead.Store(time.Now().UnixNano())
			nctx, stopNudging := context.WithCancel(ctx)
			defer stopNudging() // also when reading fails
			go r.nudge(nctx)
		}
	}
	pool.Run(r.loop)
	return <-r.done
}

// receiveBuffer is the socket receive buffer asked for: about 4,000
// Access-Requests, a login storm's burst, wait there rather than being
// dropped by the kernel while mfabridge is busy.
const receiveBuffer = 4 << 20

// reader reads one socket. The goroutine that reads a request answers it,
// and hands the reading on to another worker first (leader and followers):
// requests are answered in the order they came, each right after it is
// read, instead of a burst being read whole while its first request waits
// for the rest to be checked.
type reader struct {
	pool   *Pool
	handle Handler
	o      UDPOptions
	ctx    context.Context
	conn   net.PacketConn
	local  string
	sock   *udpSocket // nil when conn is not a UDP socket
	buf    []byte     // used by one reading goroutine at a time
	done   chan error

	// See nudge.
	lastRead atomic.Int64 // unix nanoseconds of the last datagram read
	kicked   atomic.Bool  // the read deadline is a nudge, not a stop
	sleeping atomic.Bool  // nudge waits for traffic on wake
	wake     chan struct{}
}

// Nudge timing: how often the nudger looks while requests come in, how
// long a datagram may wait unread before it wakes the reader, and how
// long without a read (and with nothing waiting) before it rests. The
// sweeper's starvation comes with load, when datagrams are microseconds
// apart and wait in the socket while the reader is starved: then the
// nudger nudges rather than rests (a readable socket is never idle to it).
// Resting 2 ms after the last read, when nothing waits, costs a lightly
// loaded server nothing: at 20 requests a second the process spent 2.8% of
// a core with a 50 ms rest, 0.7% with 2 ms, as much as without a nudger.
const (
	nudgeTick  = 250 * time.Microsecond
	nudgeAfter = 500 * time.Microsecond
	nudgeRest  = 2 * time.Millisecond
)

// nudge wakes a reader that the Go scheduler has not woken although a
// datagram waits. With one Go processor (one CPU), the runtime polls the
// network only when no goroutine is ready to run, and after each garbage
// collection its background sweeper is always ready: it yields every few
// spans and is taken again. Datagrams then wait in the socket until the
// sweep ends, measured at 4-7 ms (up to 18) several times a second at half
// load, with 50-90 requests behind each. Timers are still run between the
// sweeper's turns, so this goroutine, on a timer while requests come in,
// sees the socket readable and unread for a while, with the reader parked,
// and sets the read deadline in the past, which readies the reader; the
// reader clears it and reads on. It rests when no request has come for
// nudgeRest (a collection, hence a sweep, follows requests), and it runs
// only with one Go processor: with more, an idle one waits on the network.
// It ends with ctx.
func (r *reader) nudge(ctx context.Context) {
	t := time.NewTimer(nudgeTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Duration(time.Now().UnixNano() - r.lastRead.Load())
		switch {
		case idle > nudgeAfter && r.sock.parked.Load() && r.sock.readable():
			if r.o.OnNudge != nil {
				r.o.OnNudge()
			}
			r.kicked.Store(true)
			_ = r.conn.SetReadDeadline(time.Unix(1, 0))
		case idle > nudgeRest && !r.sock.readable():
			// Nothing waits: the traffic has stopped, not the reader (a
			// reader starved before it parked leaves datagrams waiting,
			// and the nudger looks on until it can wake it).
			r.sleeping.Store(true)
			// A read between the check above and now has not seen
			// sleeping: look again before waiting.
			if time.Duration(time.Now().UnixNano()-r.lastRead.Load()) > nudgeRest {
				select {
				case <-ctx.Done():
					return
				case <-r.wake:
				}
			}
			r.sleeping.Store(false)
		}
		t.Reset(nudgeTick)
	}
}

// noteRead records a read for nudge, waking it if it rests.
func (r *reader) noteRead() {
	if r.wake == nil {
		return
	}
	r.lastRead.Store(time.Now().UnixNano())
	if r.sleeping.Load() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *reader) loop() {
	for {
		var (
			n        int
			addr     net.Addr
			err      error
			received time.Time
		)
		if r.sock != nil {
			n, addr, received, err = r.sock.read(r.buf)
		} else {
			n, addr, err = r.conn.ReadFrom(r.buf)
		}
		if err != nil {
			if r.ctx.Err() != nil {
				r.done <- nil
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if r.kicked.Swap(false) { // a nudge: clear it and read on
					_ = r.conn.SetReadDeadline(time.Time{})
					if r.ctx.Err() != nil { // stopped meanwhile: keep the stop
						_ = r.conn.SetReadDeadline(time.Unix(1, 0))
					}
				}
				continue
			}
			r.done <- fmt.Errorf("transport: reading from %s: %w", r.local, err)
			return
		}
		r.noteRead()
		if r.o.Timestamps && received.IsZero() {
			received = time.Now()
		}
		if job := r.handle(r.ctx, r.conn, r.local, r.buf[:n], addr, received); job != nil {
			r.pool.Run(r.loop) // another worker reads on
			job()
			return
		}
	}
}

// AddrPort is a's address (IPv4 unmapped) and port.
func AddrPort(a net.Addr) (netip.AddrPort, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}
