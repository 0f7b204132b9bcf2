package oapgate

import "net/netip"

// StartsChargedForTest is what s's pending STARTs are charged, in all and
// from source.
func StartsChargedForTest(s *Server, source netip.Addr) (total, ofSource int) {
	return s.starts.pending(source)
}

// HelloPendingForTest is how many connections from source s lists as in
// their HELLO.
func HelloPendingForTest(s *Server, source netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.helloing[source])
}

// CodeEvicted is the close code of a connection evicted at ConnsMax.
const CodeEvicted = codeEvicted
