// Package metrics exposes mfabridge's Prometheus metrics and its health
// endpoints over HTTP.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the gauges are read from at each scrape: the RADIUS
// server in force. Counts arrive as they happen, through the Observer
// methods of Metrics.
type Source interface {
	InFlight() int
	Held() int
	Sessions() int
	Check(ctx context.Context) error
}

// Metrics holds mfabridge's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	upstream *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	up       *prometheus.GaugeVec
	conns    *prometheus.GaugeVec
	logins   *prometheus.HistogramVec
	src      func() Source

	auth, replies, drops, retrans, accounting, polls     *prometheus.CounterVec
	challenges, switched, status, shared, panics, nudges prometheus.Counter

	mu     sync.Mutex
	probed map[string]error // the last probe of each provider
}

// ProviderProbed records a probe of a provider (nil: it answered).
func (m *Metrics) ProviderProbed(provider string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.probed == nil {
		m.probed = map[string]error{}
	}
	m.probed[provider] = err
	v := 0.0
	if err == nil {
		v = 1
	}
	m.up.WithLabelValues(provider).Set(v)
}

// providersDown returns why no provider answers, or nil when one does (or
// none was probed yet).
func (m *Metrics) providersDown() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.probed) == 0 {
		return nil
	}
	names := make([]string, 0, len(m.probed))
	for n, err := range m.probed {
		if err == nil {
			return nil
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("no identity provider answers:")
	for _, n := range names {
		fmt.Fprintf(&b, "\n%s: %v", n, m.probed[n])
	}
	return errors.New(b.String())
}

// New returns the metrics of the server src returns (the one in force).
func New(version string, src func() Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		src: src,
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mfabridge_upstream_request_duration_seconds",
			Help:    "Time of HTTP calls to identity providers, by provider, call and HTTP status (0: no response).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "call", "status"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfabridge_config_reloads_total",
			Help: "Configuration reloads (SIGHUP), by result: ok, or invalid (the old configuration stayed).",
		}, []string{"result"}),
	}
	m.logins = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mfabridge_login_duration_seconds",
		Help:    "Time of finished logins, from the first Access-Request to the final answer (challenges and held pushes included), by outcome and mechanism (push, code, sms, email, voice, phone, question; empty before one was chosen).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120},
	}, []string{"outcome", "mechanism"})
	m.up = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mfabridge_provider_up",
		Help: "1 when the identity provider answered the last probe (every 30 s) and took mfabridge's credentials, else 0.",
	}, []string{"provider"})
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.auth = counterVec("mfabridge_authentications_total", "Finished authentications, by NAS and outcome (accept, reject, timeout, upstream_failure, bad_state, locked_out, not_pap, abandoned...).", "nas", "outcome")
	m.replies = counterVec("mfabridge_replies_total", "Replies sent, by RADIUS code.", "code")
	m.drops = counterVec("mfabridge_dropped_packets_total", "Packets dropped, by reason.", "reason")
	m.retrans = counterVec("mfabridge_retransmissions_total", "Retransmissions absorbed (never sent to the provider), and how many of them got the cached reply or joined the request in flight.", "result")
	m.accounting = counterVec("mfabridge_accounting_requests_total", "Accounting-Requests answered, by Acct-Status-Type.", "status")
	m.polls = counterVec("mfabridge_push_polls_total", "Polls of held pushes, by provider and result: sent to the tenant, deferred (waited for the provider's poll_rate) or paused (waited while the tenant asked every poll to slow down).", "provider", "result")
	m.challenges = counter("mfabridge_challenges_total", "Access-Challenges sent.")
	m.switched = counter("mfabridge_push_switched_to_challenge_total", "Held pushes answered with a challenge because the NAS's time (nas_wait) ran out.")
	m.status = counter("mfabridge_status_server_total", "Status-Server requests answered.")
	m.shared = counter("mfabridge_shared_reply_cache_errors_total", "Failed calls to the shared reply cache on Redis.")
	m.panics = counter("mfabridge_panics_total", "Request handlers that panicked (recovered).")
	m.nudges = counter("mfabridge_read_nudges_total", "Times the reader was woken to read packets the kernel held (one CPU).")
	m.conns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mfabridge_upstream_connections",
		Help: "Connections open to each identity provider's tenant (bounded by the provider's max_connections).",
	}, []string{"provider"})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mfabridge_build_info", Help: "mfabridge's version."}, []string{"version"})
	info.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.upstream, m.reloads, m.up, m.logins, m.conns, info, &collector{m: m},
		m.auth, m.replies, m.drops, m.retrans, m.accounting, m.polls, m.challenges, m.switched, m.status, m.shared, m.panics, m.nudges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// LoginFinished records a finished login.
func (m *Metrics) LoginFinished(outcome, mechanism string, took time.Duration) {
	m.logins.WithLabelValues(outcome, mechanism).Observe(took.Seconds())
}

// The bridge's Observer (package bridge): each event is a counter.

// Dropped counts a dropped packet.
func (m *Metrics) Dropped(reason string) { m.drops.WithLabelValues(reason).Inc() }

// Replied counts a reply.
func (m *Metrics) Replied(code string) { m.replies.WithLabelValues(code).Inc() }

// Authenticated counts a finished authentication.
func (m *Metrics) Authenticated(nas, outcome string) { m.auth.WithLabelValues(nas, outcome).Inc() }

// Abandoned counts a conversation that expired at a challenge.
func (m *Metrics) Abandoned(nas string) { m.auth.WithLabelValues(nas, "abandoned").Inc() }

// Retransmission counts a retransmission.
func (m *Metrics) Retransmission(result string) { m.retrans.WithLabelValues(result).Inc() }

// Accounting counts an Accounting-Request.
func (m *Metrics) Accounting(status string) { m.accounting.WithLabelValues(status).Inc() }

// Challenged counts an Access-Challenge.
func (m *Metrics) Challenged() { m.challenges.Inc() }

// PushSwitched counts a held push answered with a challenge.
func (m *Metrics) PushSwitched() { m.switched.Inc() }

// Polled counts a held push's poll: sent, deferred or paused.
func (m *Metrics) Polled(provider, result string) { m.polls.WithLabelValues(provider, result).Inc() }

// StatusServer counts an answered Status-Server.
func (m *Metrics) StatusServer() { m.status.Inc() }

// SharedReplyFailed counts a failed call to the shared reply cache.
func (m *Metrics) SharedReplyFailed() { m.shared.Inc() }

// Panicked counts a recovered panic.
func (m *Metrics) Panicked() { m.panics.Inc() }

// ReadNudged counts a wake-up of the reader.
func (m *Metrics) ReadNudged() { m.nudges.Inc() }

// UpstreamConnections records a connection to a provider's tenant opened
// (+1) or closed (-1).
func (m *Metrics) UpstreamConnections(provider string, delta int) {
	m.conns.WithLabelValues(provider).Add(float64(delta))
}

// ObserveUpstream records one call to an identity provider.
func (m *Metrics) ObserveUpstream(provider, call string, status int, d time.Duration) {
	m.upstream.WithLabelValues(provider, call, strconv.Itoa(status)).Observe(d.Seconds())
}

// Reloaded records a reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("invalid").Inc()
	}
}

var (
	descFlight = prometheus.NewDesc("mfabridge_requests_in_flight", "Access-Requests being worked on (server.max_in_flight; held pushes not counted).", nil, nil)
	descHeld   = prometheus.NewDesc("mfabridge_requests_held", "Access-Requests held while a push or call is approved (server.max_held).", nil, nil)
	descSess   = prometheus.NewDesc("mfabridge_sessions", "Conversations waiting at a challenge.", nil, nil)
)

// collector reads the server's gauges at each scrape.
type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFlight
	ch <- descHeld
	ch <- descSess
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src()
	if src == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descFlight, prometheus.GaugeValue, float64(src.InFlight()))
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(src.Held()))
	ch <- prometheus.MustNewConstMetric(descSess, prometheus.GaugeValue, float64(src.Sessions()))
}

// Handler serves /metrics, /healthz (the process runs) and /readyz (the
// RADIUS sockets answer a probe and at least one identity provider answered
// its last probe: 200, or 503 with the reasons).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		src := m.src()
		err := errors.New("not serving yet")
		if src != nil {
			err = src.Check(r.Context())
		}
		if err == nil {
			err = m.providersDown()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve serves Handler on l until ctx is cancelled.
func (m *Metrics) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
