package quicnet

import (
	"testing"
	"testing/synctest"
)

// heldBytesMax is what one peer that stops reading may pin in this node:
// SendQueueBytesDefault (8 MiB) queued plus WriteBatchBytesMax (1 MiB) taken
// into the blocked write. Written as a literal so the test also builds
// against the transport before the byte bound.
const heldBytesMax = 8<<20 + 1<<20

// TestSynctestNonReadingPeerPinsBoundedBytes is the red team's F3 (rt7): a
// member fetches large chunks and stops reading, so the writer's stream
// write blocks with a batch in hand while the queue fills behind it. The
// frames held for that peer (the blocked batch plus the queue) must stay
// under heldBytesMax, not 256 frames twice over (up to 512 MiB of 1 MiB
// FetchChunk replies before), and every frame is accounted for: written,
// dropped and counted, or still held.
func TestSynctestNonReadingPeerPinsBoundedBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth, sent, payload = 256, 600, 256 << 10
		tr, pc, rec := bubbleTransport(depth)
		unblock := make(chan struct{})
		taken := make(chan [][]byte, 1)
		go func() { // writeLoop whose first write never completes
			<-pc.wake
			batch, _ := tr.takeBatch(pc)
			taken <- batch
			<-unblock
		}()
		for seq := range uint64(sent) {
			tr.Send(pc.peer.id, testFrame(1, seq, payload))
			synctest.Wait() // let the writer take its batch as soon as it can
		}
		batch := <-taken
		held := 0
		for _, f := range batch {
			held += len(f)
		}
		tr.mu.Lock()
		queued := len(pc.peer.queue.frames)
		for _, f := range pc.peer.queue.frames {
			held += len(f)
		}
		tr.mu.Unlock()
		close(unblock)
		if held > heldBytesMax {
			t.Fatalf("a peer that stopped reading pins %d MiB (%d frames taken, %d queued), bound %d MiB",
				held>>20, len(batch), queued, heldBytesMax>>20)
		}
		dropped := int(rec.get(MetricDropped, DropQueueFull) + rec.get(MetricDropped, "queue_bytes"))
		if len(batch)+queued+dropped != sent {
			t.Fatalf("taken %d + queued %d + dropped %d != sent %d", len(batch), queued, dropped, sent)
		}
	})
}
