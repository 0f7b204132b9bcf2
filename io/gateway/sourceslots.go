package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// ShedSourceInflight counts, in omnigate_shed_total, the requests refused
// because their source address already had Config.RequestsPerSource
// requests in flight.
const ShedSourceInflight = "source_inflight"

// requestsPerSource is Config.RequestsPerSource with its default: a
// quarter of the admission in-flight cap (64 of 256): one source leaves
// the others at least the slots writes may take (InflightMax less
// ReadHeadroom, 192) and holds no more than the read headroom (at most a
// quarter of the cap), so it can starve neither writes nor reads; at
// least 1. Negative: no bound (0 returned).
func requestsPerSource(cfg Config) int {
	switch n := cfg.RequestsPerSource; {
	case n < 0:
		return 0
	case n > 0:
		return n
	}
	return max(1, cfg.Admission.WithDefaults().InflightMax/4)
}

// sourceSlots counts the requests in flight per source address (from
// before admission until the handler returns, a streamed response's whole
// body included), so that one address's held requests (idle streamed
// GETs to a client that never reads) cannot take every admission slot
// while the connection caps (conns.go) still let it open more. Taking and
// giving back a slot is one mutex and one map operation; the map holds
// only sources with requests in flight, so it allocates only when it
// grows past its largest size so far.
type sourceSlots struct {
	max   int // 0: no bound
	mu    sync.Mutex
	count map[netip.Addr]int
}

func newSourceSlots(max int) *sourceSlots {
	return &sourceSlots{max: max, count: map[netip.Addr]int{}}
}

// take counts one request of src, or reports false when src is at the cap.
func (s *sourceSlots) take(src netip.Addr) bool {
	if s.max == 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.count[src]
	if n >= s.max {
		return false
	}
	s.count[src] = n + 1
	return true
}

// release uncounts one request of src that take counted.
func (s *sourceSlots) release(src netip.Addr) {
	if s.max == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.count[src] - 1; n > 0 {
		s.count[src] = n
	} else {
		delete(s.count, src)
	}
}

// inFlight is src's count (tests).
func (s *sourceSlots) inFlight(src netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[src]
}

// requestSource is the address r counts under: its connection's source
// as the connection table keyed it (sourceOf) when r came through
// Gateway.Listener, else r.RemoteAddr read the same way (an IPv4-mapped
// IPv6 address as IPv4); the zero Addr when neither names an IP (one
// bucket, as for the connection table).
func requestSource(r *http.Request) netip.Addr {
	if ec := connOf(r); ec != nil {
		if tc, ok := ec.Conn.(*trackedConn); ok {
			return tc.source
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// sourceInflightError is the answer to a request over its source's cap:
// 429, as for a tenant over its rate, because the client itself (one
// address) is over a limit of its own while the node has room for others;
// 503 would tell a balancer or a health check the node is overloaded.
func sourceInflightError(max int) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: CodeOverQuota, retryable: true, retryAfter: time.Second,
		reason: ShedSourceInflight, message: fmt.Sprintf("this address has %d requests in flight, its limit; let some finish", max)}
}
