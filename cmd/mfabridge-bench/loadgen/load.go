// Package loadgen measures mfabridge: a load generator that drives complete
// logins (Access-Request, Access-Challenge, code, Access-Accept) or plain
// PAP requests over UDP with many concurrent clients, the servers it runs
// against, and the report it writes (docs/benchmarks.md).
package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// Load describes a load run.
type Load struct {
	Addr, Secret string
	// MFA drives complete logins: the password, then the code at the
	// challenge; otherwise each login is one PAP Access-Request.
	MFA      bool
	Password string
	// Code returns the code to answer a challenge with.
	Code func() string
	// Users is how many distinct user names are used (user0...).
	Users int
	// Workers are concurrent clients, each with its own UDP socket.
	Workers int
	// Rate, when set, offers this many logins a second (open loop, evenly
	// spaced, to a tick of 50 µs); otherwise each worker starts its next
	// login when the last ends.
	Rate     float64
	Duration time.Duration
	// Warmup, when set, runs the load this long before the measured
	// Duration, so that the server is measured in its steady state at
	// that load (its reply cache, for one, holds the last 10 s of
	// replies: right after a heavier run it is still giving those back).
	// Nothing in the warm-up is counted.
	Warmup time.Duration
	// Measure, when set, is called as the measured part begins (after
	// the warm-up), before any login in it.
	Measure func()
	// Timeout bounds one exchange; there is no retransmission.
	Timeout time.Duration
	// WithMA adds Message-Authenticator to requests.
	WithMA bool
	// OnlyStart stops each login at its Access-Challenge, leaving the
	// conversation waiting (to measure memory per pending conversation).
	OnlyStart bool
	// Count, when set, ends the run after this many logins.
	Count int64
	// TLS, when set, sends the requests over RADIUS/TLS (RFC 6614) to
	// Addr, one connection a worker, with this client configuration.
	TLS *tls.Config
}

// Result is what a run measured.
type Result struct {
	Logins, Failures, Timeouts, Packets int64
	Elapsed                             time.Duration
	// GeneratorCPU is the CPU time of the generator's own process during
	// the run: near Elapsed, the generator (one core) is what limits it.
	GeneratorCPU time.Duration
	// Latency of each exchange kind: "request" (the first Access-Request)
	// and "answer" (the one carrying the code).
	Latency map[string][]time.Duration
}

// LoginsPerSecond is the rate of complete logins.
func (r Result) LoginsPerSecond() float64 { return float64(r.Logins) / r.Elapsed.Seconds() }

// PacketsPerSecond is the rate of request packets answered.
func (r Result) PacketsPerSecond() float64 { return float64(r.Packets) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile of an exchange's latency.
func (r Result) Quantile(kind string, q float64) time.Duration {
	l := r.Latency[kind]
	if len(l) == 0 {
		return 0
	}
	return l[int(q*float64(len(l)-1))]
}

var errTimeout = errors.New("timeout")

type client struct {
	conn *net.UDPConn
	io   *rawIO
	// stream, when set, carries the packets instead (RADIUS over TLS):
	// each request framed by its Length, its reply read whole.
	stream net.Conn
	secret []byte
	id     byte
	buf    []byte
	ma     bool
}

func (c *client) exchange(p *radius.Packet, timeout time.Duration) (*radius.Packet, error) {
	c.id++
	p.Identifier = c.id
	var wire []byte
	var err error
	if c.ma {
		wire, err = msgauth.Encode(p)
	} else {
		wire, err = p.Encode()
	}
	if err != nil {
		return nil, err
	}
	if c.stream != nil {
		return c.streamExchange(p, wire, timeout)
	}
	if err := c.io.write(wire); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.io.read(c.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, errTimeout
			}
			return nil, err
		}
		resp := c.buf[:n]
		if n < 20 || resp[1] != p.Identifier {
			continue // a late answer to an earlier request
		}
		if !radius.IsAuthenticResponse(resp, wire, c.secret) {
			return nil, errors.New("reply not authentic")
		}
		return radius.Parse(resp, c.secret)
	}
}

// streamExchange sends wire on the stream and reads the reply.
func (c *client) streamExchange(p *radius.Packet, wire []byte, timeout time.Duration) (*radius.Packet, error) {
	_ = c.stream.SetDeadline(time.Now().Add(timeout))
	if _, err := c.stream.Write(wire); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.stream, c.buf[:4]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, errTimeout
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(c.buf[2:4]))
	if n < 20 || n > len(c.buf) {
		return nil, errors.New("reply with an impossible Length")
	}
	if _, err := io.ReadFull(c.stream, c.buf[4:n]); err != nil {
		return nil, err
	}
	resp := c.buf[:n]
	if resp[1] != p.Identifier || !radius.IsAuthenticResponse(resp, wire, c.secret) {
		return nil, errors.New("reply not authentic")
	}
	return radius.Parse(resp, c.secret)
}

// Run runs l until its duration is over.
func Run(ctx context.Context, l Load) (Result, error) {
	if l.Timeout == 0 {
		l.Timeout = 5 * time.Second
	}
	if l.Users == 0 {
		l.Users = 1000
	}
	var (
		res       Result
		mu        sync.Mutex
		lat       = map[string][]time.Duration{}
		seq       atomic.Int64
		wg        sync.WaitGroup
		measuring atomic.Bool // past the warm-up
		begun     = make(chan struct{})
		start     time.Time
		cpu0      time.Duration
	)
	var addr *net.UDPAddr
	if l.TLS == nil {
		var err error
		if addr, err = net.ResolveUDPAddr("udp", l.Addr); err != nil {
			return res, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.Warmup+l.Duration)
	defer cancel()
	begin := func() {
		defer close(begun)
		if l.Measure != nil {
			l.Measure()
		}
		cpu0, _ = CPUTime(os.Getpid())
		start = time.Now()
		measuring.Store(true)
	}
	if l.Warmup > 0 {
		time.AfterFunc(l.Warmup, begin)
	} else {
		begin()
	}
	// Open loop: a pacer starts each login at its time, handing it to a
	// worker waiting for one; closed loop (no rate): each worker starts
	// its next login when the last ends.
	var starts chan struct{}
	if l.Rate > 0 {
		p, err := newPacer(l.Rate)
		if err != nil {
			return res, err
		}
		starts = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx, starts, func() {
				if measuring.Load() {
					atomic.AddInt64(&res.Failures, 1) // a start no worker was free for
				}
			})
		}()
	}
	for w := 0; w < l.Workers; w++ {
		var id [1]byte
		_, _ = rand.Read(id[:])
		c := &client{secret: []byte(l.Secret), id: id[0], buf: make([]byte, 4096), ma: l.WithMA}
		var closer io.Closer
		if l.TLS != nil {
			tc, err := tls.Dial("tcp", l.Addr, l.TLS)
			if err != nil {
				return res, err
			}
			c.stream, closer = tc, tc
		} else {
			conn, err := net.DialUDP("udp", nil, addr)
			if err != nil {
				return res, err
			}
			rc, err := conn.SyscallConn()
			if err != nil {
				return res, err
			}
			c.conn, c.io, closer = conn, newRawIO(rc), conn
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = closer.Close() }()
			local := map[string][]time.Duration{}
			warmLat, warm := map[string][]time.Duration{}, &Result{} // the warm-up's, not kept
			for ctx.Err() == nil {
				if starts != nil { // open loop: wait for the pacer
					select {
					case <-ctx.Done():
						continue
					case <-starts:
					}
				}
				n := seq.Add(1)
				if l.Count > 0 && n > l.Count {
					break
				}
				user := "user" + strconv.FormatInt(n%int64(l.Users), 10)
				if !measuring.Load() {
					clear(warmLat)
					_, _ = login(c, l, user, warmLat, warm)
					continue
				}
				ok, err := login(c, l, user, local, &res)
				switch {
				case errors.Is(err, errTimeout):
					atomic.AddInt64(&res.Timeouts, 1)
				case err != nil || !ok:
					atomic.AddInt64(&res.Failures, 1)
				default:
					atomic.AddInt64(&res.Logins, 1)
				}
			}
			mu.Lock()
			for k, v := range local {
				lat[k] = append(lat[k], v...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-begun
	res.Elapsed = time.Since(start)
	if cpu1, err := CPUTime(os.Getpid()); err == nil {
		res.GeneratorCPU = cpu1 - cpu0
	}
	for k := range lat {
		sort.Slice(lat[k], func(i, j int) bool { return lat[k][i] < lat[k][j] })
	}
	res.Latency = lat
	return res, nil
}

func login(c *client, l Load, user string, lat map[string][]time.Duration, res *Result) (bool, error) {
	req := radius.New(radius.CodeAccessRequest, c.secret)
	_ = rfc2865.UserName_SetString(req, user)
	_ = rfc2865.UserPassword_SetString(req, l.Password)
	t0 := time.Now()
	resp, err := c.exchange(req, l.Timeout)
	if err != nil {
		return false, err
	}
	lat["request"] = append(lat["request"], time.Since(t0))
	atomic.AddInt64(&res.Packets, 1)
	if !l.MFA {
		return resp.Code == radius.CodeAccessAccept, nil
	}
	if resp.Code != radius.CodeAccessChallenge {
		return false, nil
	}
	if l.OnlyStart {
		return true, nil
	}
	ans := radius.New(radius.CodeAccessRequest, c.secret)
	_ = rfc2865.UserName_SetString(ans, user)
	_ = rfc2865.UserPassword_SetString(ans, l.Code())
	_ = rfc2865.State_Set(ans, rfc2865.State_Get(resp))
	t1 := time.Now()
	resp, err = c.exchange(ans, l.Timeout)
	if err != nil {
		return false, err
	}
	lat["answer"] = append(lat["answer"], time.Since(t1))
	atomic.AddInt64(&res.Packets, 1)
	return resp.Code == radius.CodeAccessAccept, nil
}

// Handshakes opens TLS connections to addr with cfg, from workers at once,
// completing each handshake and closing it, until ctx ends; it returns how
// many completed.
func Handshakes(ctx context.Context, addr string, cfg *tls.Config, workers int) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					continue
				}
				n.Add(1)
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	return n.Load()
}
