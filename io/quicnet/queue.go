package quicnet

import "fmt"

// frameQueue is a bounded FIFO of frames for one peer. When full, push
// drops the oldest frame: under overload the freshest traffic (the latest
// heartbeat, the latest request) is the most useful, and the machines above
// retry what they still need. Dropping the newest was rejected because a
// long outage would then deliver only stale frames when the peer returns.
//
// Invariant: 0 <= len(frames) <= depthMax.
type frameQueue struct {
	frames   [][]byte // frames[0] is the oldest
	depthMax int
}

func newFrameQueue(depthMax int) frameQueue {
	if depthMax < 1 {
		panic(fmt.Sprintf("quicnet: frame queue depth %d, want at least 1", depthMax))
	}
	return frameQueue{depthMax: depthMax}
}

// push appends frame and reports how many frames were dropped to make room
// (0 or 1).
func (q *frameQueue) push(frame []byte) (dropped int) {
	if len(q.frames) == q.depthMax {
		q.frames[0] = nil
		q.frames = q.frames[1:]
		dropped = 1
	}
	q.frames = append(q.frames, frame)
	q.checkInvariants()
	return dropped
}

// drain removes and returns every queued frame, oldest first.
func (q *frameQueue) drain() [][]byte {
	out := q.frames
	q.frames = nil
	return out
}

func (q *frameQueue) len() int { return len(q.frames) }

func (q *frameQueue) checkInvariants() {
	if len(q.frames) > q.depthMax {
		panic(fmt.Sprintf("quicnet: frame queue holds %d frames, bound %d", len(q.frames), q.depthMax))
	}
}
