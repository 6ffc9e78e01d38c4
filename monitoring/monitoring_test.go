package monitoring

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfabridge/mfabridge/metrics"
)

// TestAlertRulesPassPromtool: Prometheus's own checker accepts the rules.
func TestAlertRulesPassPromtool(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus); .ci/run must install it")
		}
		t.Skip("promtool is not installed: run 'make test' (it installs the Debian package prometheus)")
	}
	out, err := exec.Command(bin, "check", "rules", "mfabridge-alerts.yml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

type source struct{}

func (source) Held() int                   { return 0 }
func (source) InFlight() int               { return 0 }
func (source) Sessions() int               { return 0 }
func (source) Check(context.Context) error { return nil }

// TestEveryMetricExists: each mfabridge_ metric the rules and the
// dashboard use is one mfabridge exports, and the dashboard is JSON.
func TestEveryMetricExists(t *testing.T) {
	m := metrics.New("test", func() metrics.Source { return source{} })
	m.LoginFinished("accept", "push", time.Second)
	// One of each labelled count, so that every metric has a sample.
	m.Authenticated("vpn", "accept")
	m.Dropped("overload")
	m.Retransmission("absorbed")
	m.Replied("Access-Accept")
	m.Accounting("start")
	m.ObserveUpstream("p", "StartAuthentication", 200, time.Millisecond)
	m.ProviderProbed("p", nil)
	m.Reloaded(true)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exported := map[string]bool{}
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "HELP" {
			exported[f[2]] = true
		}
	}
	dash, err := os.ReadFile("mfabridge-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	rules, err := os.ReadFile("mfabridge-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`mfabridge_[a-z_]+`)
	for _, name := range re.FindAllString(string(dash)+string(rules), -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		if !exported[base] {
			t.Errorf("%s is not a metric mfabridge exports", name)
		}
	}
}
