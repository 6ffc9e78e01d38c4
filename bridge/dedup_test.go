package bridge

import (
	"testing"
	"time"
)

// After a burst, the replies are dropped once their time is up even when no
// request comes to sweep them, and the list of them gives its memory back.
func TestReplyCacheSweepsAfterABurst(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := newReplyCache(10*time.Second, func() time.Time { return now })
	for i := 0; i < 5000; i++ {
		k := dupKey{local: "l", remote: "r", nas: "n", code: 1, id: byte(i)}
		auth := [16]byte{byte(i >> 8), byte(i)}
		if v, _ := c.begin(k, auth); v != dupNew {
			t.Fatalf("request %d: verdict %v", i, v)
		}
		c.finish(k, auth, []byte("reply"))
	}
	now = now.Add(5 * time.Second)
	c.sweep()
	if len(c.entries) != 256 || len(c.done) != 5000 {
		t.Fatalf("before expiry: %d entries, %d replies; want 256 and 5000", len(c.entries), len(c.done))
	}
	now = now.Add(6 * time.Second)
	c.sweep()
	if len(c.entries) != 0 || len(c.done) != 0 || cap(c.done) > 1024 {
		t.Fatalf("after expiry: %d entries, %d replies (capacity %d); want none", len(c.entries), len(c.done), cap(c.done))
	}
}
