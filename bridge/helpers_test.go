package bridge

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func parsePrefixForTest(s string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.ParsePrefix(s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// newState returns a fresh State as the conversation makes them: 128
// random bits in hex.
func newState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// TestRateLimitedLogHoldsBackAndSays: one line a key per interval, and the
// next says how many were held back.
func TestRateLimitedLogHoldsBackAndSays(t *testing.T) {
	l := logrus.New()
	var buf bytes.Buffer
	l.SetOutput(&buf)
	r := newRateLimitedLog(10 * time.Second)
	now := time.Unix(1700000000, 0)
	for i := 0; i < 3; i++ {
		r.warn(l, "malformed", now.Add(time.Duration(i)*time.Second), "bad packet")
	}
	r.warn(l, "overload", now, "shed")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines within the interval, want one a key:\n%s", n, buf.String())
	}
	buf.Reset()
	r.warn(l, "malformed", now.Add(11*time.Second), "bad packet")
	if !strings.Contains(buf.String(), "suppressed=2") {
		t.Fatalf("after the interval: %q", buf.String())
	}
}
