package oapgate

import "net/netip"

// StartsChargedForTest is what s's pending STARTs are charged, in all and
// from source.
func StartsChargedForTest(s *Server, source netip.Addr) (total, ofSource int) {
	return s.starts.pending(source)
}
