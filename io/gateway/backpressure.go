package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// Backpressure of streamed reads (see "Streaming bodies" in doc.go).
const (
	// StreamReadsMax bounds the storage calls that streamed bodies have in
	// flight, over the whole gateway: three quarters of what storage
	// assembles at once (storage.InflightGetsMax), so that streams wait
	// for a slot here instead of being refused by storage, and the rest
	// is left to the reads that precede a response (manifests, small and
	// whole reads), which may be refused with a clean 503.
	StreamReadsMax = storage.InflightGetsMax * 3 / 4
	// StreamStallMax is how long one read of a streamed response retries
	// a refusal (storage's or the node's overload) before the response
	// fails: a response whose headers went out is never cut because the
	// node was busy for a moment, only after this long without progress.
	StreamStallMax = 30 * time.Second
	// streamRetryMin and streamRetryMax bound the backoff between retries.
	streamRetryMin = 2 * time.Millisecond
	streamRetryMax = 250 * time.Millisecond
)

// MetricStreamRetries counts the reads of streamed responses retried
// after a refusal (callRetrying).
const MetricStreamRetries = "gateway_stream_read_retries_total"

var _ = env.Declare(env.MetricDef{Name: MetricStreamRetries, Kind: env.Counter,
	Help: "Reads of streamed responses retried after the node or storage refused them for overload."})

// Shed reasons of refusals that reach a request through the node rather
// than through admission: the node's request queue was full
// (runtime.ErrOverloaded) or storage refused (storage.ErrUnavailable:
// too many gets or puts in flight or its disk queue full, storage.ErrBusy,
// or recovering, no replica answering). They are counted when the refusal
// becomes the request's answer (a 503 with Retry-After), not when a
// streamed read retries one (it retries ErrBusy and ErrOverloaded only).
const (
	ShedNodeOverload       = "node_overload"
	ShedStorageUnavailable = "storage_unavailable"
)

// readSlots is the gateway-wide budget of streamed reads in flight
// (StreamReadsMax): a slot is taken before a storage call of a streamed
// body and given back when the call answers. Blocked takers are served
// in arrival order (a channel's waiting senders queue FIFO, and a
// released slot goes straight to the first of them), so a stream that
// waits for its only read always gets a slot before any stream widens
// its window with tryAcquire: no stream starves, and under contention
// every stream keeps one read in flight.
type readSlots chan struct{}

func newReadSlots(n int) readSlots { return make(readSlots, n) }

// acquire waits for a slot, or for ctx.
func (s readSlots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryAcquire takes a slot if one is free and nobody waits for one.
func (s readSlots) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s readSlots) release() { <-s }

// refusedNow reports whether err is a refusal worth retrying: the node
// or storage was too busy to take the request (nothing was read). Not
// any ErrUnavailable: a chunk no holder answered for fails the stream at
// once, as before, instead of holding its read slots for StreamStallMax
// (a few requests for an unreachable object would hold them all and
// stall every other stream).
func refusedNow(err error) bool {
	return errors.Is(err, storage.ErrBusy) || errors.Is(err, runtime.ErrOverloaded)
}

// callRetrying runs a read of a streamed body, each attempt bounded by
// CallTimeout, retrying a refusal (refusedNow) with a backoff from
// streamRetryMin to streamRetryMax until g.stallMax has passed since the
// first attempt. again, when not nil, gives the body to send on a retry
// (a read that was refused part way may still fill the buffers it was
// lent, so a retry must not lend them again). It returns the last
// attempt's outcome.
//
// An attempt is not cut short by ctx (ctx ends the retries only): the
// node goes on with a call whose caller gave up, filling the buffers it
// was lent, so returning early would free the read slot, and the
// read-ahead of the buffers, while storage still reads. The caller holds
// both until the call really answered, within CallTimeout.
func callRetrying[Res any](ctx context.Context, g *Gateway, body node.Call[Res], again func() node.Call[Res]) (Res, error) {
	giveUp := time.Now().Add(g.stallMax)
	wait := streamRetryMin
	for {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.CallTimeout)
		res, err := runtime.Call(cctx, g.cfg.Backend, body)
		cancel()
		if err == nil || !refusedNow(err) || ctx.Err() != nil || time.Now().Add(wait).After(giveUp) {
			return res, err
		}
		g.cfg.Metrics.Add(MetricStreamRetries, "", 1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, err
		}
		wait = min(2*wait, streamRetryMax)
		if again != nil {
			body = again()
		}
	}
}

// readRetrying is read for a piece of a response whose headers are out
// (a multipart answer's later pieces): the call holds one of the
// streamed reads' slots and a refusal is retried (callRetrying).
func (g *Gateway) readRetrying(req *request, addr proto.Addr, offset, length uint64) ([]byte, uint64, *apiError) {
	data, size, hit, generation := g.readCached(req, addr, offset, length)
	if hit {
		return data, size, nil
	}
	ctx := req.r.Context()
	if err := g.streamReads.acquire(ctx); err != nil {
		return nil, 0, unavailable(fmt.Errorf("waiting for a read slot: %w", err))
	}
	res, err := callRetrying(ctx, g, storage.Get{Addr: addr, Offset: offset, Length: length}, nil)
	g.streamReads.release()
	if err != nil {
		return nil, 0, mapError(err, false)
	}
	g.fillCached(addr, offset, length, res, generation)
	return res.Data, res.Size, nil
}
