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

// Source is what the metrics are read from: the RADIUS server.
type Source interface {
	Counts() map[string]int64
	InFlight() int
	Sessions() int
	Check(ctx context.Context) error
}

// Metrics holds mfabridge's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	upstream *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	up       *prometheus.GaugeVec
	logins   *prometheus.HistogramVec
	src      func() Source

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
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mfabridge_build_info", Help: "mfabridge's version."}, []string{"version"})
	info.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.upstream, m.reloads, m.up, m.logins, info, &collector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveLogin records a finished login.
func (m *Metrics) ObserveLogin(outcome, mechanism string, took time.Duration) {
	m.logins.WithLabelValues(outcome, mechanism).Observe(took.Seconds())
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
	descAuth    = prometheus.NewDesc("mfabridge_authentications_total", "Finished authentications, by NAS and outcome (accept, reject, timeout, upstream_failure, bad_state, locked_out, not_pap...).", []string{"nas", "outcome"}, nil)
	descReplies = prometheus.NewDesc("mfabridge_replies_total", "Replies sent, by RADIUS code.", []string{"code"}, nil)
	descDrops   = prometheus.NewDesc("mfabridge_dropped_packets_total", "Packets dropped, by reason.", []string{"reason"}, nil)
	descRetrans = prometheus.NewDesc("mfabridge_retransmissions_total", "Retransmissions absorbed (never sent to the provider), and how many of them got the cached reply.", []string{"result"}, nil)
	descChall   = prometheus.NewDesc("mfabridge_challenges_total", "Access-Challenges sent.", nil, nil)
	descPanics  = prometheus.NewDesc("mfabridge_panics_total", "Request handlers that panicked (recovered).", nil, nil)
	descStatus  = prometheus.NewDesc("mfabridge_status_server_total", "Status-Server requests answered.", nil, nil)
	descRedis   = prometheus.NewDesc("mfabridge_shared_reply_cache_errors_total", "Failed calls to the shared reply cache on Redis.", nil, nil)
	descFlight  = prometheus.NewDesc("mfabridge_requests_in_flight", "Access-Requests being processed (held pushes included).", nil, nil)
	descSess    = prometheus.NewDesc("mfabridge_sessions", "Conversations waiting at a challenge.", nil, nil)
)

// collector reads the server's counters at each scrape.
type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAuth, descReplies, descDrops, descRetrans, descChall, descPanics, descStatus, descRedis, descFlight, descSess} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src()
	if src == nil {
		return
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counts := src.Counts()
	for name, v := range counts {
		kind, rest, _ := strings.Cut(name, ":")
		switch kind {
		case "nas_outcome":
			nas, outcome, _ := strings.Cut(rest, "\x00")
			counter(descAuth, v, nas, outcome)
		case "reply":
			counter(descReplies, v, rest)
		case "drop":
			counter(descDrops, v, rest)
		case "retransmission":
			counter(descRetrans, v, rest)
		}
	}
	counter(descChall, counts["challenge"])
	counter(descPanics, counts["panic"])
	counter(descStatus, counts["status_server"])
	counter(descRedis, counts["shared_replies:error"])
	ch <- prometheus.MustNewConstMetric(descFlight, prometheus.GaugeValue, float64(src.InFlight()))
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
