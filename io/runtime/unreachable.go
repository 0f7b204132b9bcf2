package runtime

import (
	"sync"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// LostPeersMax bounds the peers whose loss report waits for the loop;
// reports beyond it are dropped (the next loss reports the peer again).
const LostPeersMax = 256

// peerLost is the internal input of a loss report.
type peerLost struct{ peer proto.NodeID }

// lostPeers coalesces loss reports: a peer has at most one report queued
// for the loop, so a flapping connection cannot grow the internal queue.
type lostPeers struct {
	mu      sync.Mutex
	pending map[proto.NodeID]bool
}

func (l *lostPeers) add(peer proto.NodeID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = map[proto.NodeID]bool{}
	}
	if l.pending[peer] || len(l.pending) >= LostPeersMax {
		return false
	}
	l.pending[peer] = true
	return true
}

func (l *lostPeers) remove(peer proto.NodeID) {
	l.mu.Lock()
	delete(l.pending, peer)
	l.mu.Unlock()
}

// PeerUnreachable reports that frames sent to peer were lost (a
// connection failed with frames queued or unacknowledged, or the peer
// could not be dialed); io/quicnet's Config.Lost is wired to it. The node
// sees it as an env.BusEvent on env.TopicPeerUnreachable. It never
// blocks; reports for a peer coalesce until the loop takes one.
func (r *Runtime) PeerUnreachable(peer proto.NodeID) {
	if r.closing.Load() || !r.lost.add(peer) {
		return
	}
	r.internal.push(peerLost{peer})
}

// forgetLost clears the pending marks of reports the loop discards.
func (r *Runtime) forgetLost(items []any) {
	for _, item := range items {
		if it, ok := item.(peerLost); ok {
			r.lost.remove(it.peer)
		}
	}
}

func (r *Runtime) stepPeerLost(it peerLost) bool {
	r.lost.remove(it.peer)
	return r.step(env.BusEvent{Topic: env.TopicPeerUnreachable, Event: env.PeerUnreachable{Peer: it.peer}})
}
