package bridge

import (
	"net/netip"

	"github.com/mfabridge/mfabridge/config"
)

// clientTable finds the NAS client of a source address: the most specific
// prefix wins.
type clientTable struct {
	entries []clientEntry
}

type clientEntry struct {
	prefix netip.Prefix
	client *config.Client
}

func newClientTable(clients []config.Client) *clientTable {
	t := &clientTable{}
	for i := range clients {
		for _, p := range clients[i].Prefixes {
			t.entries = append(t.entries, clientEntry{prefix: p, client: &clients[i]})
		}
	}
	return t
}

// lookup returns the client for addr, or nil.
func (t *clientTable) lookup(addr netip.Addr) *config.Client {
	addr = addr.Unmap()
	var best *clientEntry
	for i := range t.entries {
		e := &t.entries[i]
		if e.prefix.Contains(addr) && (best == nil || e.prefix.Bits() > best.prefix.Bits()) {
			best = e
		}
	}
	if best == nil {
		return nil
	}
	return best.client
}
