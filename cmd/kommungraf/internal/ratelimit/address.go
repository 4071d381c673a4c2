package ratelimit

import (
	"net"
	"net/netip"
)

// IPv6PrefixBits is how much of an IPv6 address names one client: a /64
// is one customer's network, whose hosts pick their interface identifiers
// at will (privacy addresses), so an address-keyed budget per /128 would
// give one client 2^64 budgets.
const IPv6PrefixBits = 64

// AddressKey is the network address an anonymous caller is counted by:
// the connection's address (X-Forwarded-For is the caller's to write, so
// it is not trusted), an IPv4 address as it is, an IPv6 address as its
// /64 prefix.
func AddressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr.WithZone(""), IPv6PrefixBits).Masked().String()
}
