package replycache

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func testKey(i int) Key {
	return Key{Local: "127.0.0.1:1812", Remote: "r", NAS: "vpn", Src: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1000+i/256)), Code: 1, ID: byte(i)}
}

func testAuth(i int) [16]byte { return [16]byte{byte(i >> 16), byte(i >> 8), byte(i)} }

// Replies come back byte for byte, across the log's chunk boundaries; a
// request in flight is absorbed; a new Request Authenticator under the same
// key is a new request.
func TestReplyCacheReplays(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewMemory(10*time.Second, func() time.Time { return now })
	replies := map[int][]byte{}
	for i := 0; i < 3000; i++ {
		k, auth := testKey(i), testAuth(i)
		if v, _ := c.begin(k, auth); v != New {
			t.Fatalf("request %d: verdict %v, want new", i, v)
		}
		if v, _ := c.begin(k, auth); v != InFlight {
			t.Fatalf("request %d in flight: verdict %v", i, v)
		}
		r := bytes.Repeat([]byte{byte(i)}, 20+i%400)
		replies[i] = r
		c.finish(k, auth, r)
	}
	if len(c.replies.chunks) < 2 {
		t.Fatalf("%d chunks: the test should cross a chunk boundary", len(c.replies.chunks))
	}
	for i, want := range replies {
		v, got := c.begin(testKey(i), testAuth(i))
		if v != Replay || !bytes.Equal(got, want) {
			t.Fatalf("request %d: verdict %v, %d bytes; want a replay of %d bytes", i, v, len(got), len(want))
		}
	}
	other := testAuth(99999)
	if v, _ := c.begin(testKey(5), other); v != New {
		t.Fatalf("new authenticator: verdict %v, want new", v)
	}
	if v, _ := c.begin(testKey(5), testAuth(5)); v != New {
		t.Fatalf("the purged request: verdict %v, want new", v)
	}
}

// A request that was dropped (nil reply) stays silent; one that was shed
// (forget) is processed when retransmitted.
func TestReplyCacheSilenceAndForget(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewMemory(10*time.Second, func() time.Time { return now })
	c.begin(testKey(1), testAuth(1))
	c.finish(testKey(1), testAuth(1), nil)
	if v, r := c.begin(testKey(1), testAuth(1)); v != InFlight || r != nil {
		t.Fatalf("dropped request: verdict %v", v)
	}
	c.begin(testKey(2), testAuth(2))
	c.forget(testKey(2), testAuth(2))
	if v, _ := c.begin(testKey(2), testAuth(2)); v != New {
		t.Fatalf("shed request: verdict %v, want new", v)
	}
}

// After a burst, the replies are dropped once their time is up even when no
// request comes to sweep them, and the memory that held them is given back.
func TestReplyCacheSweepsAfterABurst(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewMemory(10*time.Second, func() time.Time { return now })
	for i := 0; i < 5000; i++ {
		k, auth := testKey(i), testAuth(i)
		if v, _ := c.begin(k, auth); v != New {
			t.Fatalf("request %d: verdict %v", i, v)
		}
		c.finish(k, auth, bytes.Repeat([]byte("reply"), 40))
	}
	now = now.Add(5 * time.Second)
	c.Sweep()
	if len(c.entries) != 5000 || c.done.len() != 5000 || len(c.replies.chunks) == 0 {
		t.Fatalf("before expiry: %d entries, %d replies; want 5000", len(c.entries), c.done.len())
	}
	now = now.Add(6 * time.Second)
	c.Sweep()
	if len(c.entries) != 0 || c.done.len() != 0 || len(c.done.buf) > 1024 || len(c.replies.chunks) > 1 {
		t.Fatalf("after expiry: %d entries, %d replies (capacity %d), %d chunks; want none", len(c.entries), c.done.len(), len(c.done.buf), len(c.replies.chunks))
	}
	// And the cache works on from there.
	c.begin(testKey(7), testAuth(7))
	c.finish(testKey(7), testAuth(7), []byte("again"))
	if v, r := c.begin(testKey(7), testAuth(7)); v != Replay || string(r) != "again" {
		t.Fatalf("after the sweep: verdict %v, %q", v, r)
	}
}

// The cache is bounded: past maxCachedReplies the oldest replies go.
func TestReplyCacheBound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the cache to its bound")
	}
	now := time.Unix(1700000000, 0)
	c := NewMemory(30*time.Second, func() time.Time { return now })
	n := maxCachedReplies + 10
	for i := 0; i < n; i++ {
		c.begin(testKey(i), testAuth(i))
		c.finish(testKey(i), testAuth(i), []byte(fmt.Sprint(i)))
	}
	if c.done.len() != maxCachedReplies || len(c.entries) != maxCachedReplies {
		t.Fatalf("%d replies, %d entries; want %d", c.done.len(), len(c.entries), maxCachedReplies)
	}
	if v, _ := c.begin(testKey(0), testAuth(0)); v != New {
		t.Fatalf("the oldest reply: verdict %v, want it gone", v)
	}
	if v, r := c.begin(testKey(n-1), testAuth(n-1)); v != Replay || string(r) != fmt.Sprint(n-1) {
		t.Fatalf("the newest reply: verdict %v, %q", v, r)
	}
}

// A reply handed out is the sender's own: the chunk it came from is reused
// once its replies expire, and the copy stays as it was.
func TestReplyCacheReusesChunks(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewMemory(10*time.Second, func() time.Time { return now })
	c.begin(testKey(1), testAuth(1))
	c.finish(testKey(1), testAuth(1), []byte("first reply"))
	_, got := c.begin(testKey(1), testAuth(1))
	for i := 2; i < 2000; i++ { // fill more than a chunk
		c.begin(testKey(i), testAuth(i))
		c.finish(testKey(i), testAuth(i), bytes.Repeat([]byte{'x'}, 100))
	}
	now = now.Add(11 * time.Second)
	c.Sweep()
	if len(c.replies.spare) == 0 {
		t.Fatal("no chunk kept for reuse")
	}
	spare := len(c.replies.spare)
	for i := 0; i < 2000; i++ {
		k := testKey(10000 + i)
		c.begin(k, testAuth(i))
		c.finish(k, testAuth(i), bytes.Repeat([]byte{'y'}, 100))
	}
	if len(c.replies.spare) >= spare {
		t.Fatalf("spare chunks %d, then %d: none reused", spare, len(c.replies.spare))
	}
	if string(got) != "first reply" {
		t.Fatalf("a reply handed out changed to %q", got)
	}
}

// The ring of answered entries gives them back in the order they came,
// across its wrap, its growth and its shrinking.
func TestDoneRingOrder(t *testing.T) {
	var r doneRing
	next, want := uint64(0), uint64(0)
	push := func(n int) {
		for range n {
			r.push(doneRef{gen: next})
			next++
		}
	}
	pop := func(n int) {
		for range n {
			if r.front().gen != want {
				t.Fatalf("front %d, want %d", r.front().gen, want)
			}
			if got := r.pop().gen; got != want {
				t.Fatalf("popped %d, want %d", got, want)
			}
			want++
		}
	}
	push(50)
	pop(30)
	push(40) // wraps the first ring of 64
	if len(r.buf) != 64 {
		t.Fatalf("ring of %d; 60 entries fit in 64", len(r.buf))
	}
	push(10_000) // grows while wrapped
	pop(9_000)
	r.shrink()
	if r.len() != 1_060 || len(r.buf) != 4096 {
		t.Fatalf("%d entries in a ring of %d after shrinking; want 1060 in 4096, the smallest ring it fills a quarter of", r.len(), len(r.buf))
	}
	push(3_000)
	pop(r.len())
	if r.len() != 0 || next != want {
		t.Fatalf("%d left; pushed %d, popped %d", r.len(), next, want)
	}
}

// BenchmarkReplyCache is the retransmission check of every request.
func BenchmarkReplyCache(b *testing.B) {
	c := NewMemory(10*time.Second, time.Now)
	ctx := context.Background()
	var auth [16]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := Key{Local: "l", Remote: "127.0.0.1:" + strconv.Itoa(i%50000), NAS: "vpn", Code: 1, ID: byte(i)}
		_, _, _ = c.Begin(ctx, k, auth)
		_ = c.Finish(ctx, k, auth, []byte("reply"))
	}
}
