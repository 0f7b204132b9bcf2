package runtime

import (
	"sync"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// InboxPeerSharePeersMin is the least number of peers the message inbox
// is shared between: one peer may hold at most InboxDepth / max(this,
// peers with queued frames) frames, so a single flooding peer never holds
// more than a quarter of the inbox even when it is the only sender.
const InboxPeerSharePeersMin = 4

// inbox holds the frames received from peers until the loop steps them.
// It replaces a single FIFO channel, in which one peer sending faster than
// the loop steps filled the whole queue and every other peer's frames
// (raft heartbeats included) were dropped with it.
//
// Invariants (under mu): total is the sum of the lengths of the peers'
// queues and never exceeds depth; a peer is in peers iff its queue is not
// empty, and then appears exactly once in turn; notify holds a token
// whenever total > 0 and the loop has not yet been told.
//
// Fairness has two parts. Admission: a peer may hold at most
// depth / max(InboxPeerSharePeersMin, active peers) frames (its share),
// and when the inbox is full a frame from a peer under its share evicts
// the newest frame of the peer holding the most, if that peer holds at
// least two frames more than the sender (so it keeps at least as many as
// the sender then holds); both drops count as kind="peer_share", so a
// flood is shed at its source. Otherwise the sender's frame is dropped
// (kind="message"): evicting from a holder of one frame more would only
// swap which of two peers holds more, and could empty the holder's queue.
// Service: the loop takes frames round robin across peers (one frame of
// each peer with frames in turn), so an honest peer's frame waits behind
// at most one frame of each other peer, not behind a flooder's whole
// backlog. Within a peer, frames keep their order.
//
// A priority lane per app protocol (raft before DHT) was considered and
// left out: round robin already bounds an honest peer's wait by the number
// of peers, and ordering across a peer's own frames must not change.
type inbox struct {
	depth  int
	notify chan struct{} // capacity 1: "frames are waiting"

	mu    sync.Mutex
	total int
	peers map[proto.NodeID]*peerFrames
	turn  []proto.NodeID // peers with frames, in service order
}

// peerFrames is one peer's queue: frames[head:] are waiting.
type peerFrames struct {
	frames []env.Message
	head   int
}

func (q *peerFrames) len() int { return len(q.frames) - q.head }

// inboxVerdict says what push did with a frame.
type inboxVerdict uint8

const (
	inboxQueued    inboxVerdict = iota
	inboxFull                   // dropped: the inbox is full and no peer holds two frames more than the sender
	inboxPeerShare              // dropped: the sender already holds its share
	inboxEvicted                // queued, after evicting a frame of the largest holder
)

func newInbox(depth int) *inbox {
	return &inbox{depth: depth, notify: make(chan struct{}, 1), peers: map[proto.NodeID]*peerFrames{}}
}

// share is how many frames one peer may hold when active peers hold frames.
func (b *inbox) share(active int) int {
	return max(1, b.depth/max(InboxPeerSharePeersMin, active))
}

// push queues m unless its sender is over its share or the inbox is full
// of frames from peers holding no more than one frame more than the sender.
func (b *inbox) push(m env.Message) inboxVerdict {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.peers[m.From]
	held, active := 0, len(b.peers)
	if q != nil {
		held = q.len()
	} else {
		active++
	}
	if held >= b.share(active) {
		return inboxPeerShare
	}
	verdict := inboxQueued
	if b.total >= b.depth {
		if !b.evictLargest(held) {
			return inboxFull
		}
		verdict = inboxEvicted
	}
	if q == nil {
		q = &peerFrames{}
		b.peers[m.From] = q
		b.turn = append(b.turn, m.From)
	}
	q.frames = append(q.frames, m)
	b.total++
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return verdict
}

// evictLargest drops the newest frame of the first (in service order) peer
// holding the most frames, when that peer holds at least held+2; it
// reports whether it did. The victim then still holds at least held+1 >= 1
// frames, so it stays in peers and turn, as the invariants require.
func (b *inbox) evictLargest(held int) bool {
	var victim proto.NodeID
	most := 0
	for _, id := range b.turn {
		if n := b.peers[id].len(); n > most {
			victim, most = id, n
		}
	}
	if most < held+2 {
		return false
	}
	q := b.peers[victim]
	q.frames[len(q.frames)-1] = env.Message{}
	q.frames = q.frames[:len(q.frames)-1]
	b.total--
	return true
}

// pop takes the next frame in round-robin order. When frames remain it
// leaves a token in notify so the loop comes back for them.
func (b *inbox) pop() (env.Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total == 0 {
		return env.Message{}, false
	}
	id := b.turn[0]
	b.turn = b.turn[1:]
	q := b.peers[id]
	m := q.frames[q.head]
	q.frames[q.head] = env.Message{}
	q.head++
	b.total--
	switch {
	case q.len() == 0:
		delete(b.peers, id)
	default:
		if q.head > len(q.frames)/2 {
			n := copy(q.frames, q.frames[q.head:])
			clear(q.frames[n:])
			q.frames, q.head = q.frames[:n], 0
		}
		b.turn = append(b.turn, id)
	}
	if b.total > 0 {
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
	return m, true
}
