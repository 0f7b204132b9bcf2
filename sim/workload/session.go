package workload

import (
	"fmt"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// Session put constants.
const (
	// SessionAbandonDefault is the share of session puts abandoned midway
	// when a scenario's mix has session_put (sim/runner sets it).
	SessionAbandonDefault = 0.2
	// SessionPieceBytesMax is the largest piece a session put sends: the
	// largest power of two a PutChunk takes (storage.ChunkBytesMax is a
	// little under 1 MiB, so 512 KiB).
	SessionPieceBytesMax = 512 << 10
	// sessionPieceSmall is the share of pieces drawn at the smallest size
	// (proto.TreeChunkBytes); the others are 4 KiB..SessionPieceBytesMax.
	sessionPieceSmall = 0.125
	// sessionGatewayPieces is the share of session puts cut as rond's
	// gateway cuts a PUT body: pieces of storage.ChunkBytesDefault (its
	// StreamChunkBytes). Their chunks are the ones a whole put stores, so
	// such a session can heal a damaged copy of one (HealSession).
	sessionGatewayPieces = 0.25
)

// Outputs of session puts that never reached a commit (history "error").
const (
	// SessionAbandoned: the client stopped sending midway, with a PutAbort
	// or without (then the node's TTL collects the session).
	SessionAbandoned = "abandoned"
	// SessionTimeout: a PutBegin or PutChunk got no answer in time; no
	// commit was sent, so nothing was stored by this op.
	SessionTimeout = "timeout"
)

// SessionPieces draws how a session put cuts size bytes into PutChunk
// pieces: every piece but the last a power of two of at least
// proto.TreeChunkBytes at a multiple of its size (a full BLAKE3 subtree,
// as storage requires), the last the remaining bytes. A share
// sessionGatewayPieces of the sessions cut as the gateway does (pieces of
// storage.ChunkBytesDefault); the others draw each piece's size, so they
// are rarely the storage's own chunk size.
func (c *Content) SessionPieces(size int) []int {
	var pieces []int
	gateway := c.rand.Bool(sessionGatewayPieces)
	off := 0
	for off < size {
		piece := storage.ChunkBytesDefault
		if !gateway {
			piece = proto.TreeChunkBytes
			if !c.rand.Bool(sessionPieceSmall) {
				piece = 4 << 10 << c.rand.Intn(8) // 4 KiB .. 512 KiB
			}
		}
		for off%piece != 0 { // a full subtree starts at a multiple of its size
			piece /= 2
		}
		piece = min(piece, size-off)
		pieces = append(pieces, piece)
		off += piece
	}
	return pieces
}

// sessionPut streams one object through an upload session on op.Node,
// as rond's gateway does for a large PUT: PutBegin, one PutChunk per
// piece (one in flight), then PutCommit of the object's address and size,
// or, for the drawn share SessionAbandon, it stops after some pieces,
// half the time with a PutAbort and otherwise silently (the node's TTL
// collects the session and its staged chunks). The history entry is an
// OpPut with input "session" (and "pieces"); the commit's reply is mapped
// like a whole put's, so an acknowledged commit acknowledges the object.
// A failed or unanswered PutBegin or PutChunk ends the op as a definite
// failure after a PutAbort (nothing was committed); an unanswered commit
// leaves it unknown.
func (c *Content) sessionPut(client int, op *Op) {
	obj := c.nextObject()
	o := c.objects[obj]
	op.Kind = OpPut
	op.Input = map[string]any{"size": o.Size, "seed": o.Seed, "session": true}
	pin := c.cfg.Pins > 0 && c.rand.Bool(c.cfg.Pins)
	if pin {
		op.Input["pin"] = true
	}
	pieces := c.SessionPieces(o.Size)
	op.Input["pieces"] = len(pieces)
	abandonAt, abort := -1, false // abandon once abandonAt pieces were answered
	if c.cfg.SessionAbandon > 0 && c.rand.Bool(c.cfg.SessionAbandon) {
		abandonAt, abort = c.rand.Intn(len(pieces)+1), c.rand.Bool(0.5)
		op.Input["abandon_after"] = abandonAt
	}
	c.history.Ops = append(c.history.Ops, op)
	if c.cfg.OnIssue != nil {
		c.cfg.OnIssue(len(c.history.Ops)-1, op, o.Addr)
	}
	data := o.Bytes()
	node := op.Node
	var session uint64
	var streamed proto.Addr
	step := 0
	finish, over := c.finisher(op, client)
	failed := func(code string) map[string]any { return map[string]any{"ok": false, "error": code} }
	// call sends one request of the session; reply runs only for the
	// answer to the latest request, and a request unanswered within the
	// timeout ends the op with timedOut.
	call := func(body any, bytes int, reply func(any), timedOut func()) {
		step++
		mine := step
		ec := EdgeCall{Node: node, Op: auth.OpWrite, Service: "storage", Body: body, Write: true, Authenticated: true,
			Resource: o.Addr.String(), Bytes: int64(bytes)}
		refused := func(e admission.Refusal) any {
			return sessionRefused(body, fmt.Errorf("%w: %w", storage.ErrUnavailable, edgeRefusal(e)))
		}
		c.cfg.Path.send(c.w, ec, client, refused, func(resp any) {
			if !over() && step == mine {
				reply(resp)
			}
		})
		c.w.After(c.cfg.Timeout, func() {
			if !over() && step == mine {
				timedOut()
			}
		})
	}
	abortThen := func(output map[string]any) {
		if session != 0 {
			// Not awaited, as the gateway's: the op's outcome is known.
			c.cfg.Path.send(c.w, EdgeCall{Node: node, Op: auth.OpWrite, Service: "storage", Body: storage.PutAbort{Session: session},
				Write: true, Authenticated: true, Resource: o.Addr.String()}, client,
				func(admission.Refusal) any { return storage.PutAbortResult{} }, func(any) {})
		}
		finish(output)
	}
	var sendPiece func(k, off int)
	commit := func() {
		call(storage.PutCommit{Session: session, Addr: o.Addr, Size: uint64(o.Size)}, 0, func(resp any) {
			out := c.outcome(op, obj, resp)
			if out != nil && out["ok"] == true {
				out["streamed_addr"] = streamed.String()
			}
			finish(out)
		}, func() { finish(nil) })
	}
	sendPiece = func(k, off int) {
		if k == abandonAt {
			if abort {
				abortThen(failed(SessionAbandoned))
			} else {
				finish(failed(SessionAbandoned))
			}
			return
		}
		if k == len(pieces) {
			commit()
			return
		}
		piece := data[off : off+pieces[k]] // storage owns the piece: slices of one buffer never overlap
		call(storage.PutChunk{Session: session, Data: piece}, len(piece), func(resp any) {
			res, ok := resp.(storage.PutChunkResult)
			switch {
			case !ok:
				abortThen(failed(fmt.Sprintf("unexpected reply %T", resp)))
			case res.Err != nil:
				abortThen(failed(ContentErrorCode(res.Err)))
			default:
				streamed = res.Addr
				sendPiece(k+1, off+len(piece))
			}
		}, func() { abortThen(failed(SessionTimeout)) })
	}
	call(storage.PutBegin{Pin: pin}, 0, func(resp any) {
		res, ok := resp.(storage.PutBeginResult)
		switch {
		case !ok:
			finish(failed(fmt.Sprintf("unexpected reply %T", resp)))
		case res.Err != nil:
			finish(failed(ContentErrorCode(res.Err)))
		default:
			session = res.Session
			sendPiece(0, 0)
		}
	}, func() { finish(failed(SessionTimeout)) })
}

// sessionRefused is the reply an edge refusal of a session request
// becomes.
func sessionRefused(body any, err error) any {
	switch body.(type) {
	case storage.PutBegin:
		return storage.PutBeginResult{Err: err}
	case storage.PutChunk:
		return storage.PutChunkResult{Err: err}
	case storage.PutAbort:
		return storage.PutAbortResult{Err: err}
	}
	return storage.PutResult{Err: err}
}
