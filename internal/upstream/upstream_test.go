package upstream

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
		raise(&most, n)
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

// TestConnectionsAreBoundedOverHTTP2: a tenant that speaks HTTP/2 with
// two streams a connection, and forty calls at once with MaxConnsPerHost
// 3. net/http alone opens more connections than its bound here (it stops
// counting a connection whose streams are all in use); NewHTTPClient's
// dialer holds them to the bound, and the calls beyond what the
// connections carry wait for a stream instead of failing.
func TestConnectionsAreBoundedOverHTTP2(t *testing.T) {
	var inside, most atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("called over %s, want HTTP/2", r.Proto)
		}
		n := inside.Add(1)
		raise(&most, n)
		<-release
		inside.Add(-1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 2}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var open, mostOpen atomic.Int64
	c, err := NewHTTPClient(ClientOptions{CAFile: ca, MaxIdlePerHost: 8, MaxConnsPerHost: 3, OnConnection: func(d int) {
		n := open.Add(int64(d))
		raise(&mostOpen, n)
	}})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 40
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"Action":"Poll"}`))
			resp, err := Direct(c).RoundTrip(req)
			if err != nil {
				t.Errorf("a call beyond what the connections carry failed: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "ok" {
				ok.Add(1)
			}
		}()
	}
	// Every connection the bound allows is open and full.
	for deadline := time.Now().Add(10 * time.Second); inside.Load() < 6 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := mostOpen.Load(); n > 3 {
		t.Errorf("%d connections open at once, want at most 3", n)
	}
	close(release)
	wg.Wait()
	if n := ok.Load(); n != calls {
		t.Errorf("%d of %d calls answered", n, calls)
	}
	if n := mostOpen.Load(); n > 3 {
		t.Errorf("%d connections open at once over the calls, want at most 3", n)
	}
	if m := most.Load(); m > 6 {
		t.Errorf("%d calls at the tenant at once, want at most 3 connections × 2 streams", m)
	}
}

// raise sets most to n when n is more.
func raise(most *atomic.Int64, n int64) {
	for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
	}
}
