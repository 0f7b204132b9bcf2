package quicnet

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// These tests drive the send side of the transport (Send, the peer's
// bounded frameQueue, the peerConn wake channel and takeBatch) inside a
// synctest bubble, on a Transport built without sockets: a kept peerConn
// whose quic.Conn is never touched on that path. The writer goroutine is
// the test's, doing what writeLoop does between its QUIC calls (wait for a
// wake, take the batch, write each frame), since writeLoop itself needs a
// real QUIC stream. The receive side is not here: it has no queue of its
// own (readFrames hands each frame to deliver and QUIC flow control is the
// bound), and reading needs a real QUIC connection, so it is covered by the
// socket tests in transport_test.go instead.

// bubbleTransport builds a socketless Transport with one peer that has a
// kept connection; it must be called inside the bubble (the wake channel
// belongs to it).
func bubbleTransport(depth int) (*Transport, *peerConn, *recorder) {
	rec := newRecorder()
	tr := &Transport{
		cfg: Config{SendQueueDepthMax: depth}, id: testID(testKey(1)),
		metrics: rec, log: slog.New(slog.DiscardHandler), peers: map[proto.NodeID]*peer{},
	}
	p := &peer{id: testID(testKey(2)), addr: "127.0.0.1:1", queue: newFrameQueue(depth, SendQueueBytesDefault)}
	pc := &peerConn{peer: p, dialer: tr.id, wake: make(chan struct{}, 1)}
	p.conn, p.live = pc, 1
	tr.peers[p.id] = p
	return tr, pc, rec
}

func corrOf(t *testing.T, frame []byte) uint64 {
	t.Helper()
	f, err := oap.Decode(frame)
	if err != nil {
		t.Fatalf("queued frame does not decode: %v", err)
	}
	return f.CorrID
}

// TestSynctestFullQueueDropsNeverBlocks: with no writer draining, the
// owner's Sends all return (the bubble never finds the owner durably
// blocked), the queue holds the newest depth frames, every other frame is
// counted as queue_full, and the wake channel holds one pending wake.
func TestSynctestFullQueueDropsNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth, sent = 4, 50
		tr, pc, rec := bubbleTransport(depth)
		owner := make(chan struct{})
		go func() {
			defer close(owner)
			for seq := range uint64(sent) {
				tr.Send(pc.peer.id, testFrame(1, seq, 16))
			}
		}()
		synctest.Wait() // every goroutine has finished or is durably blocked
		select {
		case <-owner:
		default:
			t.Fatal("the owner goroutine is blocked in Send on a full queue")
		}
		if got := rec.get(MetricDropped, DropQueueFull); got != sent-depth {
			t.Fatalf("queue_full drops %v, want %d", got, sent-depth)
		}
		if n := len(pc.wake); n != 1 {
			t.Fatalf("%d pending wakes, want 1", n)
		}
		batch, current := tr.takeBatch(pc)
		if !current || len(batch) != depth {
			t.Fatalf("batch of %d frames (current %v), want %d", len(batch), current, depth)
		}
		for i, frame := range batch {
			if seq := corrOf(t, frame); seq != sent-depth+uint64(i) {
				t.Fatalf("frame %d has seq %d, want the newest frames in order (%d..)", i, seq, sent-depth)
			}
		}
	})
}

// TestSynctestSendInterleavesWithSlowWriter: an owner sending every 1 ms
// and a writer taking 3 ms a frame interleave on the bubble's clock. Each
// Send takes no fake time at all (it never waits for the writer), the
// writer sees frames in send order, every frame is written, dropped as
// queue_full or still queued, and both goroutines end (synctest.Test
// fails on a leak or a deadlock).
func TestSynctestSendInterleavesWithSlowWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth, sent = 8, 200
		tr, pc, rec := bubbleTransport(depth)
		stop := make(chan struct{})
		writerDone := make(chan struct{})
		var written []uint64
		go func() { // writeLoop's shape, minus the QUIC stream
			defer close(writerDone)
			for {
				select {
				case <-stop:
					return
				case <-pc.wake:
				}
				batch, current := tr.takeBatch(pc)
				if !current {
					return
				}
				for _, frame := range batch {
					time.Sleep(3 * time.Millisecond)
					written = append(written, corrOf(t, frame))
				}
			}
		}()
		for seq := range uint64(sent) {
			before := time.Now()
			tr.Send(pc.peer.id, testFrame(1, seq, 16))
			if took := time.Since(before); took != 0 {
				t.Fatalf("Send %d waited %v of bubble time for the writer", seq, took)
			}
			time.Sleep(time.Millisecond)
		}
		close(stop)
		<-writerDone
		for i := 1; i < len(written); i++ {
			if written[i] <= written[i-1] {
				t.Fatalf("writer saw seq %d after %d", written[i], written[i-1])
			}
		}
		tr.mu.Lock()
		queued := pc.peer.queue.len()
		tr.mu.Unlock()
		dropped := int(rec.get(MetricDropped, DropQueueFull))
		if len(written)+dropped+queued != sent {
			t.Fatalf("written %d + dropped %d + queued %d != sent %d", len(written), dropped, queued, sent)
		}
		if dropped == 0 || len(written) == 0 {
			t.Fatalf("written %d, dropped %d: the writer at a third of the send rate should both write and overflow", len(written), dropped)
		}
	})
}
