package runtime

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
)

// NodeSpec is the composition of a production node: which machines it
// runs and how they are configured. cmd/rond builds it from configuration;
// tests build it directly. It mirrors sim/runner's cluster composition.
type NodeSpec struct {
	// Key is the node's identity.
	Key ed25519.PrivateKey
	// Replicas are the registry's raft voters (this node may be one). Empty
	// means the node runs no registry.
	Replicas []proto.NodeID
	// Peers are the DHT's bootstrap contacts and the overlay's static
	// peers. Empty: a node alone.
	Peers []proto.NodeID
	// StorageReplicas (R) and WriteQuorum (W); zero picks R = min(3,
	// 1+len(Peers)) and W = min(2, R), so a node alone stores with R=W=1.
	StorageReplicas, WriteQuorum int
	// ObjectBytes caps one object (0: storage.ObjectBytesMax).
	ObjectBytes int
	// AdminKeys may sign registry revocations (registry.Config.AdminKeys).
	// Every node of a cluster must list the same keys.
	AdminKeys []ed25519.PublicKey
	// RevocationPullInterval is registry.Config.RevocationPullInterval: how
	// often a non-replica pulls revocations (0: never, so it enforces none).
	RevocationPullInterval time.Duration
}

// Self is the node id of Key.
func (s NodeSpec) Self() proto.NodeID {
	return proto.NodeIDFromPublicKey(s.Key.Public().(ed25519.PublicKey))
}

func (s NodeSpec) withDefaults() NodeSpec {
	if s.StorageReplicas == 0 {
		s.StorageReplicas = min(storage.ReplicasDefault, 1+len(s.Peers))
	}
	if s.WriteQuorum == 0 {
		s.WriteQuorum = min(storage.WriteQuorumDefault, s.StorageReplicas)
	}
	s.Replicas = slices.Clone(s.Replicas)
	slices.SortFunc(s.Replicas, proto.NodeID.Compare)
	s.Replicas = slices.Compact(s.Replicas)
	self := s.Self()
	s.Peers = slices.DeleteFunc(slices.Clone(s.Peers), func(id proto.NodeID) bool { return id == self })
	slices.SortFunc(s.Peers, proto.NodeID.Compare)
	s.Peers = slices.Compact(s.Peers)
	return s
}

// Validate checks the spec, naming the offending setting.
func (s NodeSpec) Validate() error {
	if len(s.Key) != ed25519.PrivateKeySize {
		return errors.New("runtime: node spec: Key is not an Ed25519 private key")
	}
	for i, k := range s.AdminKeys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("runtime: node spec: AdminKeys[%d] is not an Ed25519 public key", i)
		}
	}
	s = s.withDefaults()
	if err := s.storageConfig(nil).Validate(); err != nil {
		return fmt.Errorf("runtime: node spec: %w", err)
	}
	return nil
}

func (s NodeSpec) storageConfig(d *dht.DHT) storage.Config {
	cfg := storage.Config{Replicas: s.StorageReplicas, WriteQuorum: s.WriteQuorum, ObjectBytes: s.ObjectBytes}
	if d != nil {
		cfg.DHT = d
	} else {
		cfg.Members = []proto.NodeID{s.Self()} // placeholder for Validate only
	}
	return cfg
}

// NewNode builds the machines: overlay (when there are peers), registry
// (when Replicas is set), dht, storage (placing objects through the dht),
// the audit log (records under "audit/" on the node's disk) and the
// revocations query service (revocations.go). It is Config.NewNode.
func (s NodeSpec) NewNode(e env.Env) *node.Node {
	s = s.withDefaults()
	var services []node.Service
	if len(s.Peers) > 0 {
		services = append(services, overlay.New(overlay.Config{Key: s.Key, Peers: s.Peers}))
	}
	var reg *registry.Registry
	if len(s.Replicas) > 0 {
		reg = registry.New(registry.Config{Key: s.Key, Replicas: s.Replicas, AdminKeys: s.AdminKeys,
			RevocationPullInterval: s.RevocationPullInterval})
		services = append(services, reg)
	}
	d := dht.New(dht.Config{Key: s.Key, Bootstrap: s.Peers})
	services = append(services, d, storage.New(s.storageConfig(d)), audit.New(), &revocations{reg: reg})
	return node.New(e, node.Config{Invariants: true}, services...)
}

// NodeReady is Config.ReadyCheck for NewNode's composition: storage has
// recovered and the registry (if any) has not failed.
func NodeReady(n *node.Node) bool {
	if st, ok := n.Service("storage").(*storage.Storage); ok && !st.Ready() {
		return false
	}
	if r, ok := n.Service(registry.ServiceName).(*registry.Registry); ok && r.Failed() {
		return false
	}
	return true
}

// NodeFailed is Config.FailedCheck for NewNode's composition: the
// registry replica stopped after a disk error.
func NodeFailed(n *node.Node) bool {
	r, ok := n.Service(registry.ServiceName).(*registry.Registry)
	return ok && r.Failed()
}
