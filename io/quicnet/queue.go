package quicnet

import "fmt"

// frameQueue is a FIFO of frames for one peer, bounded in frames and in
// bytes. When a push would exceed either bound, the oldest frames are
// dropped: under overload the freshest traffic (the latest heartbeat, the
// latest request) is the most useful, and the machines above retry what
// they still need. Dropping the newest was rejected because a long outage
// would then deliver only stale frames when the peer returns.
//
// The byte bound matters because frames differ by four orders of
// magnitude: 256 FetchChunk replies of 1 MiB each pinned 256 MiB per peer
// that stopped reading (red team F3), where 256 heartbeats hold 20 KiB.
//
// Invariant: 0 <= len(frames) <= depthMax, bytes is the sum of the
// frames' lengths and bytes <= bytesMax.
type frameQueue struct {
	frames   [][]byte // frames[0] is the oldest
	bytes    int
	depthMax int
	bytesMax int
}

func newFrameQueue(depthMax, bytesMax int) frameQueue {
	if depthMax < 1 {
		panic(fmt.Sprintf("quicnet: frame queue depth %d, want at least 1", depthMax))
	}
	if bytesMax < 1 {
		panic(fmt.Sprintf("quicnet: frame queue bytes %d, want at least 1", bytesMax))
	}
	return frameQueue{depthMax: depthMax, bytesMax: bytesMax}
}

// push appends frame and reports how many frames were dropped to make
// room: full for the frame bound (0 or 1), bytes for the byte bound. A
// frame larger than bytesMax by itself empties the queue and is dropped
// too (counted in bytes); the transport's bound admits every valid frame.
func (q *frameQueue) push(frame []byte) (full, bytes int) {
	if len(frame) > q.bytesMax {
		bytes = len(q.frames) + 1
		q.drop(len(q.frames))
		return 0, bytes
	}
	if len(q.frames) == q.depthMax {
		q.drop(1)
		full = 1
	}
	for q.bytes+len(frame) > q.bytesMax {
		q.drop(1)
		bytes++
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.checkInvariants()
	return full, bytes
}

// drop removes the n oldest frames.
func (q *frameQueue) drop(n int) {
	for i := range n {
		q.bytes -= len(q.frames[i])
		q.frames[i] = nil
	}
	q.frames = q.frames[n:]
}

// drain removes and returns every queued frame, oldest first.
func (q *frameQueue) drain() [][]byte {
	out := q.frames
	q.frames, q.bytes = nil, 0
	return out
}

// take removes and returns the oldest frames, oldest first: at least one
// (when any is queued), then as many more as fit in bytesMax in all.
func (q *frameQueue) take(bytesMax int) [][]byte {
	n, size := 0, 0
	for n < len(q.frames) && (n == 0 || size+len(q.frames[n]) <= bytesMax) {
		size += len(q.frames[n])
		n++
	}
	if n == len(q.frames) {
		return q.drain()
	}
	out := make([][]byte, n)
	copy(out, q.frames)
	q.drop(n)
	q.checkInvariants()
	return out
}

func (q *frameQueue) len() int { return len(q.frames) }

func (q *frameQueue) checkInvariants() {
	if len(q.frames) > q.depthMax || q.bytes > q.bytesMax || q.bytes < 0 {
		panic(fmt.Sprintf("quicnet: frame queue holds %d frames of %d bytes, bounds %d and %d",
			len(q.frames), q.bytes, q.depthMax, q.bytesMax))
	}
}
