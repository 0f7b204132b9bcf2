package quicnet

import (
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// writerState returns the writer's batch count on t's kept connection to
// id, and whether the writer is idle with its stream open and nothing
// queued.
func (t *Transport) writerState(id proto.NodeID) (batches int, idle bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil || p.conn == nil {
		return 0, false
	}
	return p.conn.batches, p.conn.stream != nil && !p.conn.writing && p.queue.len() == 0
}

// Once the writer has opened the stream and is idle, a Send to that peer
// is handed to QUIC on the sender's goroutine: the frames arrive in order
// and the writer takes no further batch (on the old code every Send woke
// the writer, one batch per frame sent one at a time).
func TestSendWritesDirectlyWhenTheWriterIsIdle(t *testing.T) {
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	a.AddPeer(b.ID(), b.Addr().String())
	a.Send(b.ID(), testFrame(0, 0, 16)) // opens the connection and the stream
	waitFor(t, "the warm-up frame", func() bool { return b.in.len() == 1 })
	waitFor(t, "a's writer to be idle with its stream open", func() bool {
		_, idle := a.writerState(b.ID())
		return idle
	})
	before, _ := a.writerState(b.ID())
	const frames = 50
	for i := range frames {
		a.Send(b.ID(), testFrame(1, uint64(i), 100))
		waitFor(t, "the frame to arrive", func() bool { return b.in.len() == 2+i })
	}
	checkInOrder(t, withoutWarmup(b.in.snapshot()), map[proto.NodeID]byte{a.ID(): 1}, frames, 100)
	if after, _ := a.writerState(b.ID()); after != before {
		t.Fatalf("the writer took %d batches for %d frames sent while it was idle, want 0", after-before, frames)
	}
	if got := a.metrics.get(MetricFrames, DirSend); got != frames+1 {
		t.Fatalf("frames sent = %v, want %d", got, frames+1)
	}
}

// Frames sent back to back past the direct budget go through the queue
// and the writer again (which restores the budget), and every frame still
// arrives once, in order.
func TestDirectBudgetFallsBackToTheWriterInOrder(t *testing.T) {
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	a.AddPeer(b.ID(), b.Addr().String())
	a.Send(b.ID(), testFrame(0, 0, 16))
	waitFor(t, "the warm-up frame", func() bool { return b.in.len() == 1 })
	waitFor(t, "a's writer to be idle with its stream open", func() bool {
		_, idle := a.writerState(b.ID())
		return idle
	})
	before, _ := a.writerState(b.ID())
	const payload = 1000
	frames := 3 * directBudgetBytes / payload // three budgets' worth, under the queue bound per batch
	for i := range frames {
		a.Send(b.ID(), testFrame(1, uint64(i), payload))
		if i%(SendQueueDepthDefault/2) == 0 { // let the writer keep up so no frame is dropped
			waitFor(t, "the queue to drain", func() bool {
				a.mu.Lock()
				defer a.mu.Unlock()
				return a.peers[b.ID()].queue.len() == 0
			})
		}
	}
	waitFor(t, "every frame", func() bool { return b.in.len() == 1+frames })
	checkInOrder(t, withoutWarmup(b.in.snapshot()), map[proto.NodeID]byte{a.ID(): 1}, frames, payload)
	if after, _ := a.writerState(b.ID()); after == before {
		t.Fatal("the writer took no batch: frames beyond the direct budget were written directly")
	}
	if got := a.metrics.get(MetricDropped, DropQueueFull); got != 0 {
		t.Fatalf("%v frames dropped as queue_full", got)
	}
}
