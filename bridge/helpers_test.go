package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
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
