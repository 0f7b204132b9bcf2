package workload

import (
	"bytes"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// TestSessionPiecesAreSubtrees: every cut SessionPieces draws is one
// storage accepts (every piece but the last a full BLAKE3 subtree at its
// offset, the last a subtree, none above storage.ChunkBytesMax) and
// covers the object exactly; over the draws some pieces are not the
// storage's chunk size and some cuts are the gateway's.
func TestSessionPiecesAreSubtrees(t *testing.T) {
	c := &Content{rand: env.NewRand(3)} // SessionPieces draws from the workload's stream only
	rand := env.NewRand(9)
	odd, gateway := 0, 0
	for range 2000 {
		size := 1 + rand.Intn(3<<20)
		pieces := c.SessionPieces(size)
		off, allDefault := 0, true
		for k, p := range pieces {
			last := k == len(pieces)-1
			switch {
			case p < 1 || p > storage.ChunkBytesMax:
				t.Fatalf("size %d: piece %d of %d bytes", size, k, p)
			case !last && !proto.IsFullSubtree(uint64(off), uint64(p)):
				t.Fatalf("size %d: piece %d of %d bytes at %d is not a full subtree", size, k, p, off)
			case last && !proto.IsSubtree(uint64(off), uint64(p)):
				t.Fatalf("size %d: last piece of %d bytes at %d is not a subtree", size, p, off)
			}
			if !last && p != storage.ChunkBytesDefault {
				allDefault = false
				odd++
			}
			off += p
		}
		if off != size {
			t.Fatalf("size %d: pieces cover %d bytes", size, off)
		}
		if allDefault && len(pieces) > 1 {
			gateway++
		}
	}
	if odd == 0 || gateway == 0 {
		t.Fatalf("%d pieces off the storage's chunk size, %d gateway cuts: the draws do not vary", odd, gateway)
	}
}

// TestContentSessionPuts runs session puts (and whole puts and gets)
// against three storage nodes in a calm world: the same seed gives the
// same history; session puts are history puts with input "session";
// acknowledged ones report their object's address, as did their last
// PutChunk; some were abandoned; none was refused as a bad request (a
// piece storage does not accept) and none failed otherwise.
func TestContentSessionPuts(t *testing.T) {
	cfg := ContentConfig{Clients: 3, RatePerSecond: 30, Timeout: 15 * time.Second, Stop: 4 * time.Second,
		Objects: 20, SizeMinBytes: 1 << 10, SizeMaxBytes: 1 << 20, Put: 1, Get: 1, SessionPut: 2, SessionAbandon: 0.3}
	first, c := runContent(t, 7, cfg, 5*time.Second)
	again, _ := runContent(t, 7, cfg, 5*time.Second)
	if !bytes.Equal(first, again) {
		t.Fatal("the same seed gave two different histories")
	}
	sessions, acked, abandoned, whole := 0, 0, 0, 0
	for i, op := range c.History().Ops {
		if op.Kind == OpSessionPut {
			t.Fatalf("op %d: a history op of kind %q; session puts are recorded as puts", i, op.Kind)
		}
		if op.Kind != OpPut {
			continue
		}
		if op.Input["session"] == nil {
			whole++
			continue
		}
		sessions++
		if op.Unknown() {
			t.Fatalf("op %d: a session put of unknown outcome in a calm world", i)
		}
		want := NewContentObject(op.Input["seed"].(uint64), op.Input["size"].(int)).Addr.String()
		switch ok, _ := op.Output["ok"].(bool); {
		case ok:
			acked++
			if op.Output["addr"] != want || op.Output["streamed_addr"] != want {
				t.Fatalf("op %d: acknowledged as %v (streamed %v), want %s", i, op.Output["addr"], op.Output["streamed_addr"], want)
			}
		case op.Output["error"] == SessionAbandoned:
			abandoned++
			if op.Input["abandon_after"] == nil {
				t.Fatalf("op %d: abandoned but not drawn to be", i)
			}
		default:
			t.Fatalf("op %d: a session put failed in a calm world: %v", i, op.Output)
		}
	}
	if sessions == 0 || acked == 0 || abandoned == 0 || whole == 0 {
		t.Fatalf("%d session puts (%d acknowledged, %d abandoned), %d whole puts: the mix was not exercised", sessions, acked, abandoned, whole)
	}
}
