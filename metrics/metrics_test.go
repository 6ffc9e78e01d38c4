package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type source struct{}

func (source) Held() int                       { return 0 }
func (source) InFlight() int                   { return 0 }
func (source) Sessions() int                   { return 1 }
func (source) Check(ctx context.Context) error { return nil }

// TestReadinessFollowsTheProviders: /readyz fails, with the reasons, while
// no identity provider answers its probe; a provider gauge says which.
func TestReadinessFollowsTheProviders(t *testing.T) {
	m := New("test", func() Source { return source{} })
	h := m.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("before any probe: %d", code)
	}
	m.ProviderProbed("corp", errors.New("dial tcp: connection refused"))
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "corp: dial tcp: connection refused") {
		t.Fatalf("the only provider down: %d %q", code, body)
	}
	m.ProviderProbed("backup", nil)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("one provider up: %d", code)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `mfabridge_provider_up{provider="corp"} 0`) || !strings.Contains(body, `mfabridge_provider_up{provider="backup"} 1`) {
		t.Fatalf("gauges:\n%s", body)
	}
}

// TestLoginLatency: finished logins land in the histogram by outcome and
// mechanism.
func TestLoginLatency(t *testing.T) {
	m := New("test", func() Source { return source{} })
	m.LoginFinished("accept", "push", 3*time.Second)
	m.LoginFinished("reject", "code", 200*time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`mfabridge_login_duration_seconds_bucket{mechanism="push",outcome="accept",le="5"} 1`, `mfabridge_login_duration_seconds_count{mechanism="code",outcome="reject"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s", want)
		}
	}
}

// TestCountsArriveTyped: the bridge's events become counters with their
// labels, each as it happens.
func TestCountsArriveTyped(t *testing.T) {
	m := New("test", func() Source { return source{} })
	m.Authenticated("vpn", "accept")
	m.Authenticated("vpn", "accept")
	m.Abandoned("vpn")
	m.Dropped("bad_message_authenticator")
	m.Replied("Access-Challenge")
	m.Challenged()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`mfabridge_authentications_total{nas="vpn",outcome="accept"} 2`,
		`mfabridge_authentications_total{nas="vpn",outcome="abandoned"} 1`,
		`mfabridge_dropped_packets_total{reason="bad_message_authenticator"} 1`,
		`mfabridge_replies_total{code="Access-Challenge"} 1`,
		`mfabridge_challenges_total 1`,
		`mfabridge_sessions 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s", want)
		}
	}
}
