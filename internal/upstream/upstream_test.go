package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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

// TestConnectionsAreBoundedAndCounted: with MaxConnsPerHost 2, five calls
// at once reach the host on two connections at the most, and every
// connection opened is told and, once closed, told again.
func TestConnectionsAreBoundedAndCounted(t *testing.T) {
	var inside, most atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inside.Add(-1)
	}))
	defer srv.Close()
	var open atomic.Int64
	c, err := NewHTTPClient(ClientOptions{MaxIdlePerHost: 2, MaxConnsPerHost: 2, OnConnection: func(d int) { open.Add(int64(d)) }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := c.Get(srv.URL); err == nil {
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if n := open.Load(); n != 2 {
		t.Errorf("%d connections open for five calls, want 2", n)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m > 2 {
		t.Errorf("%d calls at the host at once, want at most 2", m)
	}
	c.CloseIdleConnections()
	if n := open.Load(); n != 0 {
		t.Errorf("%d connections counted open after closing them all", n)
	}
}
