package bridge

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mfabridge/mfabridge/config"
)

// linearLookup is the rule itself: the most specific prefix that holds
// addr (the first client on a tie, as the configuration allows none).
func linearLookup(clients []config.Client, addr netip.Addr) *config.Client {
	addr = addr.Unmap()
	var best *config.Client
	bits := -1
	for i := range clients {
		for _, p := range clients[i].Prefixes {
			if p.Contains(addr) && p.Bits() > bits {
				best, bits = &clients[i], p.Bits()
			}
		}
	}
	return best
}

func clientsOf(prefixes ...string) []config.Client {
	out := make([]config.Client, len(prefixes))
	for i, s := range prefixes {
		out[i] = config.Client{Name: fmt.Sprint(i), Prefixes: []netip.Prefix{netip.MustParsePrefix(s)}}
	}
	return out
}

// TestClientLookupMostSpecificWins: the most specific prefix wins, for
// IPv4, IPv6 and IPv4-mapped sources, and the table agrees with the rule
// on random addresses and prefixes.
func TestClientLookupMostSpecificWins(t *testing.T) {
	clients := clientsOf("10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "2001:db8::/32", "2001:db8::5/128", "0.0.0.0/0")
	table := newClientTable(clients)
	for addr, want := range map[string]string{
		"10.1.2.3": "2", "10.1.9.9": "1", "10.9.9.9": "0", "192.0.2.1": "5",
		"::ffff:10.1.2.3": "2", "2001:db8::5": "4", "2001:db8::6": "3",
	} {
		if c := table.lookup(netip.MustParseAddr(addr)); c == nil || c.Name != want {
			t.Errorf("%s: %v, want client %s", addr, c, want)
		}
	}
	if c := table.lookup(netip.MustParseAddr("2001:db9::1")); c != nil {
		t.Errorf("an address of no client: %s", c.Name)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var prefixes []string
	for i := 0; i < 300; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(8)), byte(r.IntN(256))})
		p, _ := a.Prefix(16 + r.IntN(17))
		prefixes = append(prefixes, p.String())
	}
	clients = clientsOf(prefixes...)
	table = newClientTable(clients)
	for i := 0; i < 5000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(5)), byte(r.IntN(9)), byte(r.IntN(256))})
		want := linearLookup(clients, a)
		got := table.lookup(a)
		if (want == nil) != (got == nil) || (want != nil && want.Prefixes[0].Bits() != got.Prefixes[0].Bits()) {
			t.Fatalf("%s: table %v, rule %v", a, got, want)
		}
	}
}

// BenchmarkClientLookup: one NAS and 10,000 NAS entries cost alike.
func BenchmarkClientLookup(b *testing.B) {
	for _, n := range []int{1, 10000} {
		var prefixes []string
		for i := 0; i < n; i++ {
			prefixes = append(prefixes, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()+"/32")
		}
		table := newClientTable(clientsOf(prefixes...))
		addr := netip.AddrFrom4([4]byte{10, 0, 0, 0})
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if table.lookup(addr) == nil {
					b.Fatal("not found")
				}
			}
		})
	}
}
