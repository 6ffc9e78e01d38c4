package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // the debug port serves profiles
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/bridge"
	"github.com/mfabridge/mfabridge/cmd/mfabridge-bench/loadgen"
	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/identity/cyberark"
	"github.com/mfabridge/mfabridge/identity/cyberark/cyberarktest"
	"github.com/mfabridge/mfabridge/identity/loadtest"
	"github.com/mfabridge/mfabridge/internal/daemon"
	"github.com/mfabridge/mfabridge/internal/totp"
	"github.com/mfabridge/mfabridge/internal/upstream"
)

const (
	benchSecret   = "a-bench-shared-secret-0123456789"
	benchPassword = "pw"
	oathSecret    = "JBSWY3DPEHPK3PXP"
)

// serverConfig is the bridge configuration of a bench server.
func serverConfig(provider, factor, extra, redisAddr string) (*config.Config, error) {
	store := ""
	if redisAddr != "" {
		store = fmt.Sprintf("store = \"redis\"\n[redis]\naddress = [%q]\n", redisAddr)
	}
	src := fmt.Sprintf(`
[server]
listen = ["127.0.0.1:0"]
max_in_flight = 4096
reject_delay = "0s"
request_timeout = "2m"
[sessions]
ttl = "1h"
max = 2000000
%s[lockout]
attempts = 0
[log]
level = "error"
[[provider]]
name = %q
type = %q
password = %q
factor = %q
[[client]]
name = "bench"
address = ["127.0.0.0/8"]
secret = %q
rate_limit = 0
%s
`, store, provider, loadtest.TypeName, benchPassword, factor, benchSecret, extra)
	return config.Parse("bench.conf", src)
}

// tenantConns counts the server's open connections to the tenant, as
// mfabridge_upstream_connections does.
var tenantConns atomic.Int64

// runServer is `mfabridge-bench server`: a bridge on a free port, with an
// in-memory provider (-mode inproc, inproc-mfa) or the emulated CyberArk
// tenant over loopback HTTPS (-mode http). It prints "LISTEN <addr> DEBUG
// <addr>" and serves until its standard input closes.
func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	mode := fs.String("mode", "inproc", "inproc (PAP), inproc-mfa, or http (emulated CyberArk tenant)")
	txnBytes := fs.Int("txn", 0, "inproc-mfa: take the transaction of a real CyberArk login (1), or this many bytes")
	tenantURL := fs.String("tenant", "", "http: the emulated tenant's URL (it runs in the load generator's process)")
	caFile := fs.String("ca", "", "http: the tenant's certificate (for https)")
	tlsDir := fs.String("tls", "", "also serve RADIUS over TLS: write a CA, a NAS certificate and key, and the address to this directory")
	menu := fs.Bool("menu", false, "offer the mechanisms as a menu (otherwise the client prefers a code, as most are set up)")
	profile := fs.String("cpuprofile", "", "write a CPU profile here while serving")
	allocs := fs.String("memprofile", "", "write the profile of allocations here when done")
	maxConns := fs.Int("max-connections", 1024, "http: the provider's max_connections")
	pollRate := fs.Int("poll-rate", config.DefaultPollRate, "the provider's poll_rate")
	maxHeld := fs.Int("max-held", 10000, "server.max_held")
	nasWait := fs.Duration("nas-wait", 0, "the client's nas_wait (0: its default)")
	redisAddr := fs.String("redis", "", "keep conversations, failed logins and replies on the Redis at this address (sessions.store = \"redis\")")
	logLevel := fs.String("log-level", "", "[log] level (default the bench configuration's, error)")
	clients := fs.Int("clients", 1, "[[client]] entries: the bench's own and this many less one others (half single addresses, half /24 prefixes)")
	_ = fs.Parse(args)

	prefer := `prefer = ["code"]`
	if *menu {
		prefer = ""
	}
	factor := loadtest.FactorCode
	if *mode == "inproc" {
		factor = loadtest.FactorNone
	}
	extra := prefer
	if *nasWait > 0 {
		extra += fmt.Sprintf("\nnas_wait = %q\npush_wait = %q", nasWait.String(), (*nasWait - time.Second).String())
	}
	for i := 1; i < *clients; i++ {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if i%2 == 0 {
			addr = fmt.Sprintf("11.%d.%d.0/24", i>>8&255, i&255)
		}
		extra += fmt.Sprintf("\n[[client]]\nname = \"nas%d\"\naddress = [%q]\nsecret = \"other-secret-%d\"\n", i, addr, i)
	}
	cfg, err := serverConfig("bench", factor, extra, *redisAddr)
	if err != nil {
		return err
	}
	// Logging as the daemon does, at the configuration's level: "error",
	// no line per login, as FreeRADIUS's packaged auth = no.
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	log := daemon.NewLogger(cfg, io.Discard)
	cfg.Provider[0].PollRate = *pollRate
	cfg.Server.MaxHeld = *maxHeld
	var prov identity.Provider
	switch *mode {
	case "inproc", "inproc-mfa":
		// The in-memory provider is a registered type of its own: the
		// configuration above opens it as mfabridge would.
		lc := cfg.Provider[0].Settings.(*loadtest.Config)
		switch {
		case *txnBytes == 1:
			step, err := realLogin()
			if err != nil {
				return err
			}
			lc.TxnBytes, lc.Choices = len(step.Txn.Data), step.Choices
		case *txnBytes > 1:
			lc.TxnBytes = *txnBytes
		}
		if prov, err = lc.New(identity.Env{Name: "bench"}); err != nil {
			return err
		}
	case "http":
		hc, err := upstream.NewHTTPClient(upstream.ClientOptions{CAFile: *caFile, MaxIdlePerHost: 1024, MaxConnsPerHost: *maxConns,
			OnConnection: func(d int) { tenantConns.Add(int64(d)) }})
		if err != nil {
			return err
		}
		p, err := cyberark.Config{Name: "bench", URL: *tenantURL, HTTPClient: hc, AllowHTTP: true}.Open()
		if err != nil {
			return err
		}
		prov = p
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	lat := newLatencies()
	o := bridge.Options{Config: cfg, Providers: map[string]identity.Provider{"bench": prov}, Logger: log,
		OnReply: func(_ radius.Code, took time.Duration) { lat.add(took) }}
	if *redisAddr != "" {
		if err := daemon.UseRedis(cfg, log, &o); err != nil {
			return err
		}
	}
	srv, err := bridge.New(o)
	if err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if *tlsDir != "" {
		tl, err := listenTLS(*tlsDir)
		if err != nil {
			return err
		}
		go func() {
			_ = srv.ServeStream(context.Background(), tl, bridge.StreamOptions{TLS: true, MaxConnections: 100000, MaxPerClient: 100000})
		}()
	}
	http.HandleFunc("/counts", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(srv.Counts())
	})
	http.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, _ := loadgen.RSS(os.Getpid())
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"goroutines": int64(runtime.NumGoroutine()), "rss": rss, "heap_inuse": int64(ms.HeapInuse),
			"sessions": int64(srv.Sessions()), "in_flight": int64(srv.InFlight()), "held": int64(srv.Held()),
			"tenant_conns": tenantConns.Load(),
		})
	})
	var (
		rtMu   sync.Mutex
		rtLast []metrics.Sample
	)
	http.HandleFunc("/runtime", func(w http.ResponseWriter, _ *http.Request) {
		// The runtime's own view since the last call: GC pauses
		// (stop-the-world) and the time goroutines waited to run, as
		// quantiles in microseconds.
		samples := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}, {Name: "/sched/latencies:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(samples)
		rtMu.Lock()
		last := rtLast
		rtLast = samples
		rtMu.Unlock()
		out := map[string]float64{"gc_cycles": float64(samples[2].Value.Uint64())}
		if last != nil {
			out["gc_cycles"] -= float64(last[2].Value.Uint64())
		}
		for i, name := range []string{"gc_pause", "sched_latency"} {
			h := samples[i].Value.Float64Histogram()
			counts := append([]uint64(nil), h.Counts...)
			if last != nil {
				for j, c := range last[i].Value.Float64Histogram().Counts {
					counts[j] -= c
				}
			}
			for _, q := range []float64{.5, .99, .999, 1} {
				out[fmt.Sprintf("%s_p%g", name, q*100)] = histQuantile(h.Buckets, counts, q) * 1e6
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	http.HandleFunc("/gc", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory() // a GC that also gives free memory back to the kernel
		_, _ = w.Write([]byte("ok"))
	})
	http.HandleFunc("/latency", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("reset") {
			lat.reset()
			_, _ = w.Write([]byte("{}"))
			return
		}
		_ = json.NewEncoder(w).Encode(lat.takeQuantiles())
	})
	go func() { _ = http.Serve(dl, nil) }()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *allocs != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(*allocs); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		cancel()
	}()
	fmt.Printf("LISTEN %s DEBUG %s\n", conn.LocalAddr(), dl.Addr())
	return srv.ServeConns(ctx, []net.PacketConn{conn})
}

// latencies collects the time from datagram to reply, per request.
type latencies struct {
	mu sync.Mutex
	// d and spare have room for maxSamples from the start: growing the
	// collector under load would copy megabytes in the middle of the run
	// it measures, and the requests behind the copy would wait for it.
	d, spare []time.Duration
	seen     int64
}

func newLatencies() *latencies {
	return &latencies{d: make([]time.Duration, 0, maxSamples), spare: make([]time.Duration, 0, maxSamples)}
}

// maxSamples bounds the collector; past it, samples replace earlier ones
// at random (reservoir sampling), so a long run measures the server, not
// the collector's growth.
const maxSamples = 1 << 20

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	if len(l.d) < maxSamples {
		l.d = append(l.d, d)
		return
	}
	if i := mrand.Int64N(l.seen); i < maxSamples {
		l.d[i] = d
	}
}

// reset starts afresh, cheaply: it is called while the load runs.
func (l *latencies) reset() {
	l.mu.Lock()
	l.d, l.seen = l.d[:0], 0
	l.mu.Unlock()
}

// takeQuantiles returns p50, p90, p99 and p999 in microseconds, and starts
// afresh.
func (l *latencies) takeQuantiles() map[string]int64 {
	l.mu.Lock()
	d := l.d
	l.d, l.spare, l.seen = l.spare[:0], nil, 0
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.spare = d[:0]
		l.mu.Unlock()
	}()
	out := map[string]int64{"count": int64(len(d))}
	if len(d) == 0 {
		return out
	}
	slices.Sort(d)
	for name, q := range map[string]float64{"p50": .5, "p90": .9, "p99": .99, "p999": .999} {
		out[name] = d[int(q*float64(len(d)-1))].Microseconds()
	}
	return out
}

// realLogin logs in once against the emulated CyberArk tenant (password, a
// menu of three mechanisms) and returns the step at the menu: the choices
// and the transaction a real conversation stores.
func realLogin() (identity.Step, error) {
	tn := cyberarktest.New(cyberarktest.Options{Users: []cyberarktest.User{{Name: "alice", Password: "pw",
		Factors: []cyberarktest.Factor{cyberarktest.OATH, cyberarktest.SMS, cyberarktest.Push}, OATHSecret: oathSecret}}})
	defer tn.Close()
	p, err := cyberark.Config{URL: tn.URL, HTTPClient: tn.Client()}.Open()
	if err != nil {
		return identity.Step{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.Start(ctx, identity.Request{User: "alice", Password: "pw"})
	if err != nil {
		return identity.Step{}, err
	}
	return s, nil
}

func currentCode() string {
	key, _ := totp.DecodeSecret(oathSecret)
	return totp.Code(key, time.Now())
}

// histQuantile returns the q-quantile of a runtime/metrics histogram's
// counts (the upper bound of its bucket).
func histQuantile(buckets []float64, counts []uint64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want && c > 0 {
			return buckets[i+1]
		}
	}
	return buckets[len(buckets)-1]
}
