package oapgate

import (
	"net/netip"
	"sync"

	"github.com/ron-network/ron/core/proto/oap"
)

// StartFrameBytesMax is the most a request's START frame may declare:
// the header, a token (oap.CapBytesMax), a head (HeadBytesMax) and
// startCompressSlackBytes, so that a head of HeadBytesMax that does not
// compress still fits once zstd framed it (COMP). A START declaring more
// is frame_oversize, refused from its header before a byte of it is
// buffered; reading the START with oap.FrameBytesMax let a client without
// a token pin a MiB per stream.
const StartFrameBytesMax = oap.HeaderBytes + oap.CapBytesMax + HeadBytesMax + startCompressSlackBytes

// startCompressSlackBytes covers zstd's framing of an incompressible
// head: a frame header (at most 18 bytes), a 3-byte header per block of
// 128 KiB and an optional 4-byte checksum, well under this.
const startCompressSlackBytes = 256

// StartFreeBytes is the part of every START frame (header included) that
// is charged to no shared bound: a token and an ordinary head fit in it,
// so no number of STARTs held by others can refuse an ordinary request.
// What a START buffers past it is charged, StartChunkBytes at a time, as
// its bytes arrive (the buffer grows by a chunk once the previous one is
// full, and the chunk is charged before it is allocated): a START holds
// its charge for at most StartTimeout.
const StartFreeBytes = 8 << 10

// startFirstBytes is the START buffer first allocated once its header
// declares a longer frame; it doubles, as bytes arrive, up to
// StartFreeBytes, so the free part costs memory only as it arrives.
const startFirstBytes = 512

// StartChunkBytes is the step a START's buffer grows by past
// StartFreeBytes, each step charged before it is allocated: a START is
// charged at most StartChunkBytes more than what arrived of it.
const StartChunkBytes = 8 << 10

// StartChargedBytesMax is the most one START is charged: all of the
// largest START but its free part.
const StartChargedBytesMax = StartFrameBytesMax - StartFreeBytes

// Bounds on the bytes buffered for START frames being received (pending:
// header read, frame not yet whole) past their StartFreeBytes. A stream
// whose START would pass one is refused (reset with StreamCodeBusy) and
// counted in oapgate_streams_refused_total{reason}.
const (
	// StartPendingConnBytesMax bounds one connection's pending STARTs.
	StartPendingConnBytesMax = 1 << 20
	// StartPendingSourceBytesMax bounds one source's (keyed as the
	// per-source connection quota keys it, quicnet.SourceKeyOf: the
	// address, an IPv6 /64).
	StartPendingSourceBytesMax = 4 << 20
	// StartPendingBytesMax bounds the whole endpoint's for a source
	// holding at least its fair share (the pending bytes divided by the
	// sources holding some). A source below its share may go on past it,
	// up to StartPendingCeilingBytes, so that sources filling the bound
	// do not lock the others out.
	StartPendingBytesMax = 64 << 20
	// StartPendingCeilingBytes is the hard bound for the endpoint.
	StartPendingCeilingBytes = StartPendingBytesMax + StartPendingBytesMax/4
)

// Reasons of oapgate_streams_refused_total: the bound a refused START
// would have passed.
const (
	RefusedStartConn   = "start_pending_conn"
	RefusedStartSource = "start_pending_source"
	RefusedStartNode   = "start_pending_node"
	// RefusedStartStreams: StartStreamsPerSourceMax streams from the
	// source were waiting for their START already.
	RefusedStartStreams = "start_streams_source"
)

// StartStreamsPerSourceMax bounds the streams from one source whose START
// frame has not arrived whole. Each holds a goroutine and quic-go's
// stream state (about 9 KiB) for at most StartTimeout, and a client that
// re-opens a stream as soon as the last one is cancelled keeps them all:
// without this bound its 64 connections held 4,096 (about 37 MB) from
// one address for as long as it went on. One more is reset with
// StreamCodeBusy as it is accepted, before any goroutine is started for
// it. An ordinary client's STARTs are waiting only for a round trip.
const StartStreamsPerSourceMax = 256

// startBudget counts the bytes charged to START frames being received,
// per connection, per source and in all. One mutex, taken once per
// StartChunkBytes of a START past its free part and once at its end; the
// map holds only sources with bytes charged.
//
// Invariants (under mu): total is the sum of perSource, at most
// StartPendingCeilingBytes, each source at most its bound, and each
// connection's pending at most its bound.
type startBudget struct {
	mu        sync.Mutex
	total     int
	perSource map[netip.Addr]int
	// waiting counts, per source, the streams whose START has not
	// arrived whole (StartStreamsPerSourceMax).
	waiting map[netip.Addr]int
}

// connStarts is one connection's share; pending is guarded by the
// budget's mu.
type connStarts struct {
	source  netip.Addr
	pending int
}

func newStartBudget() *startBudget {
	return &startBudget{perSource: map[netip.Addr]int{}, waiting: map[netip.Addr]int{}}
}

// enter counts a stream from source as waiting for its START, or reports
// that StartStreamsPerSourceMax already are.
func (b *startBudget) enter(source netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting[source] >= StartStreamsPerSourceMax {
		return false
	}
	b.waiting[source]++
	return true
}

// leave counts a stream from source out of waiting for its START.
func (b *startBudget) leave(source netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting[source] <= 1 {
		delete(b.waiting, source)
		return
	}
	b.waiting[source]--
}

// take charges n bytes to c, its source and the endpoint, or charges
// nothing and returns the reason of the bound it would pass. Past
// StartPendingBytesMax only a source holding less than its fair share
// (total over the sources holding some; a source holding nothing always
// does) is charged, up to StartPendingCeilingBytes.
func (b *startBudget) take(c *connStarts, n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.perSource[c.source]
	switch {
	case c.pending+n > StartPendingConnBytesMax:
		return RefusedStartConn
	case held+n > StartPendingSourceBytesMax:
		return RefusedStartSource
	case b.total+n > StartPendingCeilingBytes:
		return RefusedStartNode
	case b.total+n > StartPendingBytesMax && held*len(b.perSource) >= b.total:
		return RefusedStartNode // at or past its fair share
	}
	c.pending += n
	b.perSource[c.source] = held + n
	b.total += n
	return ""
}

// release gives back n bytes that take charged to c.
func (b *startBudget) release(c *connStarts, n int) {
	if n == 0 {
		return
	}
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
