package gateway

import (
	"net"
	"net/netip"
	"time"
)

// ConnsMidHeader is how many of the connections ln (from
// Gateway.Listener) counts as waiting for a request have had a byte of
// one read by the server: the ones connTable.admit evicts only after
// every silent one. A test that writes a byte on a connection waits for
// this, not for the open count, before it relies on the eviction order
// (the server reads the byte some time after the connection is counted).
func ConnsMidHeader(ln net.Listener) int {
	t := ln.(envelopeListener).table
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for e := t.idle.Front(); e != nil; e = e.Next() {
		if e.Value.(*trackedConn).reading.Load() {
			n++
		}
	}
	return n
}

// SourceInflight is how many requests of source address ip g counts in
// flight (Config.RequestsPerSource).
func (g *Gateway) SourceInflight(ip string) int {
	return g.sources.inFlight(netip.MustParseAddr(ip))
}

// SourceReadAhead is how many bytes of the read-ahead budget the open
// responses of source address ip hold (readAheadSourceBytesMax).
func (g *Gateway) SourceReadAhead(ip string) int64 {
	return g.readAhead.sourceBytes(netip.MustParseAddr(ip))
}

// SourceReadAheadMax is the share of the read-ahead budget one source
// may hold (readAheadSourceBytesMax).
func (g *Gateway) SourceReadAheadMax() int64 {
	g.readAhead.mu.Lock()
	defer g.readAhead.mu.Unlock()
	return g.readAhead.sourceMax
}

// SetRefusedDrainTimeout sets how long a refusal's drain of its unread
// body lasts, until t's cleanup. Call it before the server starts (so its
// cleanup runs after the server's close).
func SetRefusedDrainTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := refusedDrainTimeout
	refusedDrainTimeout = d
	t.Cleanup(func() { refusedDrainTimeout = old })
}

// QueuedRequests is how many requests wait for an admission slot.
func (g *Gateway) QueuedRequests() int {
	g.admit.mu.Lock()
	defer g.admit.mu.Unlock()
	return g.admit.gate.Queued()
}
