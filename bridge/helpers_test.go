package bridge

import "net/netip"

func parsePrefixForTest(s string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.ParsePrefix(s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
