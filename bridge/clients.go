package bridge

import (
	"net/netip"
	"sort"

	"github.com/mfabridge/mfabridge/config"
)

// clientTable finds the NAS client of a source address: the most specific
// prefix wins. Prefixes are kept in one map per prefix length, so a lookup
// costs one map probe per length in use (a /32 or /128 entry first), not a
// walk over every entry: 10,000 NAS entries cost what ten do.
type clientTable struct {
	v4, v6 []lengthTable // longest prefix first
}

type lengthTable struct {
	bits    int
	entries map[netip.Prefix]*config.Client
}

func newClientTable(clients []config.Client) *clientTable {
	t := &clientTable{}
	by4, by6 := map[int]map[netip.Prefix]*config.Client{}, map[int]map[netip.Prefix]*config.Client{}
	for i := range clients {
		for _, p := range clients[i].Prefixes {
			p = p.Masked()
			by := by6
			if p.Addr().Is4() {
				by = by4
			}
			if by[p.Bits()] == nil {
				by[p.Bits()] = map[netip.Prefix]*config.Client{}
			}
			// The configuration refuses one address for two clients; the
			// first one keeps it regardless.
			if _, taken := by[p.Bits()][p]; !taken {
				by[p.Bits()][p] = &clients[i]
			}
		}
	}
	order := func(by map[int]map[netip.Prefix]*config.Client) []lengthTable {
		out := make([]lengthTable, 0, len(by))
		for bits, m := range by {
			out = append(out, lengthTable{bits: bits, entries: m})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].bits > out[j].bits })
		return out
	}
	t.v4, t.v6 = order(by4), order(by6)
	return t
}

// lookup returns the client for addr, or nil.
func (t *clientTable) lookup(addr netip.Addr) *config.Client {
	addr = addr.Unmap()
	tables := t.v6
	if addr.Is4() {
		tables = t.v4
	}
	for _, lt := range tables {
		p, err := addr.Prefix(lt.bits)
		if err != nil {
			continue
		}
		if c := lt.entries[p]; c != nil {
			return c
		}
	}
	return nil
}
