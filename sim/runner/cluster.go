package runner

import (
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
)

// OverlayNodesMax is the largest cluster whose nodes keep overlay sessions
// with every other node (a full mesh: n*(n-1) sessions heartbeating).
// Larger clusters are DHT-scale scenarios, whose RPCs are datagrams.
const OverlayNodesMax = 64

// cluster composes the services of each node from the scenario.
type cluster struct {
	scn      *scenario.Scenario
	opts     Options
	w        *sim.World
	ids      []proto.NodeID
	replicas []proto.NodeID // sorted, as the registry requires
	// bootstrap[i] are the node indexes node i's DHT starts from (nil when
	// the scenario runs no DHT); drawn once, so a restart reuses them.
	bootstrap [][]int32
	// signatures is shared by every node's registry: the nodes run on one
	// goroutine, and a Set's signature is then verified once, not on each
	// replica (see registry.SignatureCache). The registry workload signs
	// through it too, so its signatures are known good from the start.
	signatures *registry.SignatureCache
	// tokens holds the capability keys when the scenario runs the token
	// workload (nil otherwise; see tokens.go).
	tokens *tokenKeys
}

func newCluster(s *scenario.Scenario, opts Options) *cluster {
	return &cluster{scn: s, opts: opts, signatures: registry.NewSignatureCache()}
}

// bind learns the world's identities; it runs before the first node is
// built (sim builds nodes when the run starts).
func (c *cluster) bind(w *sim.World) {
	c.w = w
	c.ids = make([]proto.NodeID, w.Nodes())
	for i := range c.ids {
		c.ids[i] = w.NodeID(i)
	}
	c.replicas = slices.Clone(c.ids[:c.scn.Nodes.RegistryReplicas])
	slices.SortFunc(c.replicas, proto.NodeID.Compare)
	if c.runsDHT() {
		c.bootstrap = drawBootstrap(len(c.ids), w.Rand("bootstrap"))
	}
	if c.runsTokens() {
		c.drawTokenKeys()
	}
}

// newNode is sim.Config.NewNode.
func (c *cluster) newNode(i int, e env.Env) *node.Node {
	key := c.w.NodeKey(i)
	var services []node.Service
	if len(c.ids) <= OverlayNodesMax && len(c.ids) > 1 {
		peers := make([]proto.NodeID, 0, len(c.ids)-1)
		for j, id := range c.ids {
			if j != i {
				peers = append(peers, id)
			}
		}
		services = append(services, overlay.New(overlay.Config{Key: key, Peers: peers}))
	}
	var reg *registry.Registry
	if len(c.replicas) > 0 {
		reg = registry.New(c.tokenConfig(registry.Config{Key: key, Replicas: c.replicas, Bug: c.opts.RegistryBug,
			Signatures: c.signatures}))
		services = append(services, reg)
	}
	if c.tokens != nil {
		services = append(services, c.newAuthz(reg))
	}
	if c.bootstrap != nil {
		services = append(services, c.newDHT(i, key))
	}
	if c.runsStorage() {
		services = append(services, c.newStorage(services))
	}
	return node.New(e, node.Config{Invariants: true}, services...)
}

// runsDHT reports whether the nodes run core/dht: when the workload looks
// nodes up. Composing it only then keeps the registry and overlay
// scenarios' traces unchanged.
func (c *cluster) runsDHT() bool {
	wl := c.scn.Workload
	return wl != nil && wl.Mix.Lookup > 0
}

func (c *cluster) bootstrapIDs(i int) []proto.NodeID {
	out := make([]proto.NodeID, len(c.bootstrap[i]))
	for k, j := range c.bootstrap[i] {
		out[k] = c.ids[j]
	}
	return out
}

// isReplica reports whether node i is a registry replica (n1..nR).
func (c *cluster) isReplica(i int) bool { return i < c.scn.Nodes.RegistryReplicas }

// registryOf returns node i's registry service, or nil (down, or none).
func (c *cluster) registryOf(i int) *registry.Registry {
	n := c.w.Node(i)
	if n == nil {
		return nil
	}
	r, _ := n.Service("registry").(*registry.Registry)
	return r
}

// overlayOf returns node i's overlay service, or nil.
func (c *cluster) overlayOf(i int) *overlay.Overlay {
	n := c.w.Node(i)
	if n == nil {
		return nil
	}
	o, _ := n.Service("overlay").(*overlay.Overlay)
	return o
}

// leader returns the up replica that believes it leads, or -1.
func (c *cluster) leader() int {
	for i := 0; i < c.scn.Nodes.RegistryReplicas; i++ {
		if r := c.registryOf(i); r != nil && r.IsLeader() {
			return i
		}
	}
	return -1
}
