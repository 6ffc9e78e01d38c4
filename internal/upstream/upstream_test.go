package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Direct follows no redirect and sends no cookie from a jar; its errors
// name the method and URL as http.Client's do.
func TestDirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Cookies()) > 0 {
			t.Errorf("cookies sent: %v", r.Cookies())
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	rt := Direct(srv.Client())
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Security/StartAuthentication", strings.NewReader("{}"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1:1/x", nil)
	_, err = rt.RoundTrip(req)
	if err == nil || !strings.HasPrefix(err.Error(), `Post "http://127.0.0.1:1/x": `) {
		t.Fatalf("error %v, want it to name the call", err)
	}
}

func TestRetry(t *testing.T) {
	fail := errors.New("503")
	calls := 0
	err := Retry(context.Background(), 2, time.Millisecond, func(int) (bool, error) { calls++; return true, fail })
	if err != fail || calls != 3 {
		t.Errorf("retryable failure: %v after %d calls, want 3", err, calls)
	}
	calls = 0
	err = Retry(context.Background(), 2, time.Millisecond, func(int) (bool, error) { calls++; return false, fail })
	if err != fail || calls != 1 {
		t.Errorf("final failure: %v after %d calls, want 1", err, calls)
	}
	calls = 0
	err = Retry(context.Background(), 2, time.Millisecond, func(a int) (bool, error) {
		calls++
		if a == 1 {
			return false, nil
		}
		return true, fail
	})
	if err != nil || calls != 2 {
		t.Errorf("success on the second call: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = Retry(ctx, 5, time.Hour, func(int) (bool, error) { return true, fail })
	var in *Interrupted
	if !errors.As(err, &in) || !errors.Is(err, context.DeadlineExceeded) || in.Last != fail {
		t.Errorf("ended during a wait: %v", err)
	}
}
