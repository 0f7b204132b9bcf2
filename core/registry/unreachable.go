package registry

import (
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// Topics subscribes the registry to loss reports from the transport.
func (r *Registry) Topics() []string { return []string{env.TopicPeerUnreachable} }

// onBusEvent handles a bus event; only env.PeerUnreachable is expected.
func (r *Registry) onBusEvent(ev env.BusEvent) {
	if lost, ok := ev.Event.(env.PeerUnreachable); ok && ev.Topic == env.TopicPeerUnreachable {
		r.onPeerUnreachable(lost.Peer)
	}
}

// onPeerUnreachable tells raft that messages to peer were lost. Raft
// moves the peer's progress from replicate to probe, so the leader stops
// waiting for acknowledgements of appends that will never arrive (a full
// inflight window would otherwise silence the peer until the next
// heartbeat response) and resends from the peer's match index. A report
// for a non-replica, for this node, or before raft runs is ignored.
func (r *Registry) onPeerUnreachable(peer proto.NodeID) {
	if r.phase != phaseRunning || r.rn == nil || peer == r.self {
		return
	}
	for i, id := range r.cfg.Replicas {
		if id == peer {
			r.rn.ReportUnreachable(uint64(i + 1))
			return
		}
	}
}

var _ node.Subscriber = (*Registry)(nil)
