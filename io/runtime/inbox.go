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

// inboxIdleQueuesMax bounds the emptied per-peer queues an inbox keeps in
// its map, and inboxIdleFramesMax the frames' buffer an emptied queue
// keeps: a frame into an empty queue (the common case: the loop keeps up)
// then allocates nothing and changes no map entry (deleting a map's last
// entry also reseeds its hash from the runtime's random source), while
// the entries of many one-off senders, and a flood's grown buffer, are
// given back.
const (
	inboxIdleQueuesMax = 256
	inboxIdleFramesMax = 16
)

// inbox holds the frames received from peers until the loop steps them.
// It replaces a single FIFO channel, in which one peer sending faster than
// the loop steps filled the whole queue and every other peer's frames
// (raft heartbeats included) were dropped with it.
//
// Invariants (under mu): total is the sum of the lengths of the peers'
// queues and never exceeds depth; active peers have a non-empty queue,
// each in peers and exactly once in turn[turnHead:]; the idle others in
// peers (an empty queue, in no turn) number at most idleMax; notify holds
// a token whenever total > 0 and the loop has not yet been told.
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

	idleMax int // inboxIdleQueuesMax; a field so that tests can lower it

	mu       sync.Mutex
	total    int
	peers    map[proto.NodeID]*peerFrames // active and idle peers
	active   int
	turn     []*peerFrames // turn[turnHead:]: active peers' queues, in service order
	turnHead int
}

// peerFrames is one peer's queue: frames[head:] are waiting.
type peerFrames struct {
	id     proto.NodeID
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
	return &inbox{depth: depth, notify: make(chan struct{}, 1), idleMax: inboxIdleQueuesMax, peers: map[proto.NodeID]*peerFrames{}}
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
	held, active := 0, b.active
	if q != nil {
		held = q.len()
	}
	if held == 0 {
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
	switch {
	case q == nil:
		q = &peerFrames{id: m.From}
		b.peers[m.From] = q
		fallthrough
	case held == 0:
		b.active++
		b.turn = append(b.turn, q)
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
// frames, so its queue stays in peers and turn, as the invariants require.
func (b *inbox) evictLargest(held int) bool {
	var victim *peerFrames
	most := 0
	for _, q := range b.turn[b.turnHead:] {
		if n := q.len(); n > most {
			victim, most = q, n
		}
	}
	if most < held+2 {
		return false
	}
	victim.frames[len(victim.frames)-1] = env.Message{}
	victim.frames = victim.frames[:len(victim.frames)-1]
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
	q := b.turn[b.turnHead]
	b.turn[b.turnHead] = nil
	b.turnHead++
	m := q.frames[q.head]
	q.frames[q.head] = env.Message{}
	q.head++
	b.total--
	if q.len() == 0 {
		b.idle(q)
	} else {
		if q.head > len(q.frames)/2 {
			n := copy(q.frames, q.frames[q.head:])
			clear(q.frames[n:])
			q.frames, q.head = q.frames[:n], 0
		}
		b.turn = append(b.turn, q)
	}
	if b.turnHead > len(b.turn)/2 {
		n := copy(b.turn, b.turn[b.turnHead:])
		clear(b.turn[n:])
		b.turn, b.turnHead = b.turn[:n], 0
	}
	if b.total > 0 {
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
	return m, true
}

// idle turns q, just emptied, into an idle queue, or forgets it when the
// inbox already keeps idleMax of them.
func (b *inbox) idle(q *peerFrames) {
	b.active--
	if len(b.peers)-b.active > b.idleMax {
		delete(b.peers, q.id)
		return
	}
	q.frames, q.head = q.frames[:0], 0
	if cap(q.frames) > inboxIdleFramesMax {
		q.frames = nil
	}
}
