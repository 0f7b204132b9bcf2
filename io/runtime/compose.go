package runtime

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/core/storage"
)

// NodeSpec is what rond's configuration says about its node. Describe
// turns it into a core/stack description and NewNode builds the node from
// that, as the simulator builds its nodes: core/stack is the one
// composition.
type NodeSpec struct {
	// Key is the node's identity.
	Key ed25519.PrivateKey
	// Replicas are the registry's raft voters (this node may be one). Empty
	// means the node runs no registry.
	Replicas []proto.NodeID
	// Peers are the DHT's bootstrap contacts and the overlay's static
	// peers. Empty: a node alone.
	Peers []proto.NodeID
	// Members are further node ids of a closed membership (rond's
	// members setting), beside Peers and Replicas; see Membership.
	Members []proto.NodeID
	// OpenNetwork keeps the open DHT placement (rond's open_network):
	// storage places on the closest nodes of the routing table and the
	// DHT learns and serves every sender. Off (the default), a node with
	// peers runs a closed membership (Membership).
	OpenNetwork bool
	// ClosedAlone makes a node without peers run the closed membership
	// of itself alone, refusing every other node's storage and DHT
	// requests, instead of no membership (which serves any node, so that
	// a second node can join a first one that lists nobody). rond sets
	// it when its QUIC address is not loopback or a policy file governs
	// access: the peer protocol carries no token and does not consult the
	// policy, so a node alone would otherwise take any outsider's objects
	// and serve every object to any node reaching its QUIC port.
	ClosedAlone bool
	// RegistryVersionMax is registry.Config.VersionMax: the highest
	// registry cluster version this node reads, advertises (a replica) and
	// writes once the cluster is raised to it (0: registry.VersionBase).
	// rond sets registry.VersionQuota with cluster_name_quota. The
	// failpoint registry-version-max, when on, takes its place.
	RegistryVersionMax uint64
	// StorageReplicas (R) and WriteQuorum (W); zero picks R = min(3,
	// members) (min(3, 1+len(Peers)) on an open network) and W = min(2,
	// R), so a node alone stores with R=W=1.
	StorageReplicas, WriteQuorum int
	// ObjectBytes caps one object (0: storage.ObjectBytesMax).
	ObjectBytes int
	// HeldBytesMax bounds what peers push into the node
	// (storage.Config.HeldBytesMax; 0: none): rond sets a micronode's
	// memory_max.
	HeldBytesMax int64
	// AdminKeys may sign registry revocations (registry.Config.AdminKeys).
	// Every node of a cluster must list the same keys.
	AdminKeys []ed25519.PublicKey
	// RevocationPullInterval is registry.Config.RevocationPullInterval: how
	// often a non-replica pulls revocations (0: never, so it enforces none).
	RevocationPullInterval time.Duration
	// RepairOff and RepublishOff are the flags repair and republish off
	// (storage.Config.RepairOff, dht.Config.RepublishOff). rond builds
	// every NewNode, restarts included, with the flags' current state.
	RepairOff, RepublishOff bool
	// Audit is the audit log's retention (audit.Config: RetainBytes,
	// RetainAge; zero takes the defaults).
	Audit audit.Config
}

// Self is the node id of Key.
func (s NodeSpec) Self() proto.NodeID {
	return proto.NodeIDFromPublicKey(s.Key.Public().(ed25519.PublicKey))
}

// Describe is the node's core/stack description: every service runs
// (overlay when there are peers, registry when there are replicas, authz,
// dht, storage placing through the dht, and audit); the gateway asks
// authz's RevokedQuery and verifies tokens with its own keyring, so authz
// has no keys here.
func (s NodeSpec) Describe() stack.Description {
	self := s.Self()
	peers := slices.DeleteFunc(slices.Clone(s.Peers), func(id proto.NodeID) bool { return id == self })
	slices.SortFunc(peers, proto.NodeID.Compare)
	peers = slices.Compact(peers)
	members := s.Membership()
	r, w := s.StorageReplicas, s.WriteQuorum
	if r == 0 {
		r = min(storage.ReplicasDefault, 1+len(peers))
		if members != nil {
			r = min(storage.ReplicasDefault, len(members))
		}
	}
	if w == 0 {
		w = min(storage.WriteQuorumDefault, r)
	}
	return stack.Description{
		Key: s.Key, Peers: peers, Replicas: s.Replicas, Members: members,
		Registry: registry.Config{AdminKeys: s.AdminKeys, RevocationPullInterval: s.RevocationPullInterval, Bug: registryBug(),
			VersionMax: cmp.Or(registryVersionMax(), s.RegistryVersionMax), Members: members},
		DHT: dht.Config{Bootstrap: peers, Members: members, RepublishOff: s.RepublishOff},
		Storage: storage.Config{Members: members, Replicas: r, WriteQuorum: w, ObjectBytes: s.ObjectBytes,
			HeldBytesMax: s.HeldBytesMax, RepairOff: s.RepairOff},
		Audit: s.Audit,
	}
}

// Membership is the closed membership of the node: this node, its
// Replicas, its Peers and its Members, sorted and once each. Storage
// places objects on the closest of them (storage.Config.Members) and
// serves only them; the DHT learns and serves only them
// (dht.Config.Members); the registry serves forwards and revocation
// pulls only to them (registry.Config.Members); the overlay admits
// dynamic sessions only from them (overlay.Config.Members); rond's
// transport closes any other node's connection after its handshake
// (quicnet.Transport.SetMembers). Nil on an open network (OpenNetwork) and for a
// node alone (no other id listed), unless ClosedAlone: then it is the
// node itself, which serves no other node.
func (s NodeSpec) Membership() []proto.NodeID {
	if s.OpenNetwork {
		return nil
	}
	self := s.Self()
	ids := append([]proto.NodeID{self}, s.Replicas...)
	ids = append(ids, s.Peers...)
	ids = append(ids, s.Members...)
	slices.SortFunc(ids, proto.NodeID.Compare)
	ids = slices.Compact(ids)
	if len(ids) < 2 && !s.ClosedAlone {
		return nil
	}
	return ids
}

// Validate checks the spec, naming the offending setting.
func (s NodeSpec) Validate() error {
	if len(s.Key) != ed25519.PrivateKeySize {
		return errors.New("runtime: node spec: Key is not an Ed25519 private key")
	}
	if s.RegistryVersionMax > registry.VersionQuota {
		return fmt.Errorf("runtime: node spec: RegistryVersionMax %d: this build reads registry cluster versions up to %d",
			s.RegistryVersionMax, registry.VersionQuota)
	}
	if err := s.Describe().Validate(); err != nil {
		return fmt.Errorf("runtime: node spec: %w", err)
	}
	return nil
}

// NewNode builds the node Describe describes. It is Config.NewNode.
func (s NodeSpec) NewNode(e env.Env) *node.Node { return stack.New(e, s.Describe()) }

// NodeReady is Config.ReadyCheck for NewNode's composition: storage has
// recovered and the registry (if any) has not failed.
func NodeReady(n *node.Node) bool { return stack.Ready(n) }

// ReasonRegistryNoLeader is the reason NodeUnready (so Runtime's
// NotReadyReason, and /readyz's envelope) gives while the node's registry
// replica has known no raft leader for registry.NoLeaderGrace election
// timeouts, or, on a non-replica, while the replicas its ops reach have
// said for that long that they know none (registry.Registry.NoLeader):
// it is cut off from the registry quorum, or the quorum is gone, and
// every name op there fails at the registry's OpTimeout.
const ReasonRegistryNoLeader = "registry_no_leader"

// ReasonRegistryUnreachable is NodeUnready's reason on a registry
// non-replica that has heard no replica answer past its grace
// (registry.Registry.ReplicasSilent): cut off from every replica.
const ReasonRegistryUnreachable = "registry_unreachable"

// NodeUnready is Config.UnreadyCheck for NewNode's composition:
// ReasonRegistryNoLeader while the registry replica knows no leader past
// its grace, or a non-replica's ops reach only replicas that know none
// (registry.Registry.NoLeader; never on a single replica),
// ReasonRegistryUnreachable while a non-replica hears no replica.
func NodeUnready(n *node.Node) string {
	r := stack.RegistryOf(n)
	switch {
	case r == nil:
	case r.NoLeader():
		return ReasonRegistryNoLeader
	case r.ReplicasSilent():
		return ReasonRegistryUnreachable
	}
	return ""
}

// NodeFailed is Config.FailedCheck for NewNode's composition: the
// registry replica stopped after a disk error.
func NodeFailed(n *node.Node) bool {
	r := stack.RegistryOf(n)
	return r != nil && r.Failed()
}
