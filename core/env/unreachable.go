package env

import "github.com/ron-network/ron/core/proto"

// TopicPeerUnreachable is the bus topic on which the owner of a node (the
// runtime in production) reports that frames sent to a peer were lost: a
// connection failed with frames queued or in flight, or the peer could not
// be reached at all. It arrives as a BusEvent input whose Event is a
// PeerUnreachable. Machines that keep per-peer send state (raft's
// replication window) use it to resend at once instead of waiting for a
// timeout. It is advisory: the peer may be back a moment later, and a
// node is never told about every loss (the simulator never emits it).
const TopicPeerUnreachable = "env.peer_unreachable"

// PeerUnreachable is the event of TopicPeerUnreachable.
type PeerUnreachable struct {
	Peer proto.NodeID
}
