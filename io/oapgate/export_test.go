package oapgate

import (
	"net/netip"

	"github.com/quic-go/quic-go"
)

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

// CodeIdle is the close code of a connection closed after
// ConnIdleTimeout with no request stream.
const CodeIdle = codeIdle

// SetEvictingForTest makes s call f with each connection it chose for
// eviction, before closing it (on the accept loop: f holds it up).
func SetEvictingForTest(s *Server, f func(*quic.Conn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evicting = f
}

// StreamsServedForTest is how many request streams of tracked
// connections s is serving (connState.streams, summed).
func StreamsServedForTest(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, cs := range s.conns { // map order ok: a sum
		n += cs.streams
	}
	return n
}
