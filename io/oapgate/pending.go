package oapgate

import (
	"net/netip"
	"sync"

	"github.com/ron-network/ron/core/proto/oap"
)

// StartFrameBytesMax is the most a request's START frame may declare:
// the header, a token (oap.CapBytesMax) and a head (HeadBytesMax),
// compressed or not. A START declaring more is frame_oversize, refused
// from its header before a byte of it is buffered; reading the START with
// oap.FrameBytesMax let a client without a token pin a MiB per stream.
const StartFrameBytesMax = oap.HeaderBytes + oap.CapBytesMax + HeadBytesMax

// Bounds on the START frames being received (pending: header read, frame
// not yet whole), charged the length each declares. A stream whose START
// would pass one is refused (reset with StreamCodeBusy) and counted in
// oapgate_streams_refused_total{reason}. An ordinary START (a few hundred
// bytes) fits thousands of times; a client declaring the largest START
// and sending it slowly holds 15 per connection, 60 per source.
const (
	// StartPendingConnBytesMax bounds one connection's pending STARTs.
	StartPendingConnBytesMax = 1 << 20
	// StartPendingSourceBytesMax bounds one source's (keyed as the
	// per-source connection quota keys it, quicnet.SourceKeyOf).
	StartPendingSourceBytesMax = 4 << 20
	// StartPendingBytesMax bounds the whole endpoint's.
	StartPendingBytesMax = 64 << 20
)

// Reasons of oapgate_streams_refused_total: the bound a refused START
// would have passed.
const (
	RefusedStartConn   = "start_pending_conn"
	RefusedStartSource = "start_pending_source"
	RefusedStartNode   = "start_pending_node"
)

// startBudget counts the bytes declared by START frames being received,
// per connection, per source and in all. One mutex, taken twice per
// request; the map holds only sources with a START pending.
//
// Invariants (under mu): total is the sum of perSource, each at most
// its bound, and each connection's pending is at most its bound.
type startBudget struct {
	mu        sync.Mutex
	total     int
	perSource map[netip.Addr]int
}

// connStarts is one connection's share; pending is guarded by the
// budget's mu.
type connStarts struct {
	source  netip.Addr
	pending int
}

func newStartBudget() *startBudget {
	return &startBudget{perSource: map[netip.Addr]int{}}
}

// take charges n bytes to c, its source and the endpoint, or charges
// nothing and returns the reason of the bound it would pass.
func (b *startBudget) take(c *connStarts, n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case c.pending+n > StartPendingConnBytesMax:
		return RefusedStartConn
	case b.perSource[c.source]+n > StartPendingSourceBytesMax:
		return RefusedStartSource
	case b.total+n > StartPendingBytesMax:
		return RefusedStartNode
	}
	c.pending += n
	b.perSource[c.source] += n
	b.total += n
	return ""
}

// release gives back n bytes that take charged to c.
func (b *startBudget) release(c *connStarts, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c.pending -= n
	b.total -= n
	if left := b.perSource[c.source] - n; left > 0 {
		b.perSource[c.source] = left
	} else {
		delete(b.perSource, c.source)
	}
}

// pending is the bytes charged in all and to source (tests).
func (b *startBudget) pending(source netip.Addr) (total, ofSource int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total, b.perSource[source]
}
