package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
