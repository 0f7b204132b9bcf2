package runner

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/core/storage"
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
	// hellos is shared by every node's overlay likewise: a HELLO's
	// signature, made by one node of the world, is not verified again by
	// its receiver (see overlay.HelloSignatures).
	hellos *overlay.HelloSignatures
	// tokens holds the capability keys when the scenario runs the token
	// workload (nil otherwise; see tokens.go).
	tokens *tokenKeys
	// key is node i's identity when the cluster is composed outside a
	// world (ComposeNode); nil: the world's.
	key func(i int) ed25519.PrivateKey
	// versionMax[i] is node i's registry VersionMax once an upgrade or
	// downgrade swapped its build (swapBuild); absent: the base build.
	versionMax map[int]uint64
	// swaps maps the index of a crash's sim.FaultRecord to the swap
	// (upgrade, downgrade) it was, so a recorded run replays it.
	swaps map[int]string
	// corruptFrom counts the corruption each node counted by the node
	// whose bytes failed ({counter, source} indexes; storage's
	// CorruptionFrom), for the liar_corruption check.
	corruptFrom map[[2]int]int
	// failures are the registry replicas that failed themselves, in
	// order (registry.Config.Failed), for the quorum model (quorum.go).
	failures []replicaFailure
}

func newCluster(s *scenario.Scenario, opts Options) *cluster {
	return &cluster{scn: s, opts: opts, signatures: registry.NewSignatureCache(), hellos: overlay.NewHelloSignatures()}
}

// bind learns the world's identities; it runs before the first node is
// built (sim builds nodes when the run starts).
func (c *cluster) bind(w *sim.World) {
	c.w = w
	ids := make([]proto.NodeID, w.Nodes())
	for i := range ids {
		ids[i] = w.NodeID(i)
	}
	c.bindIDs(ids, w.Rand)
}

// bindIDs learns the node ids and draws what the cluster draws once
// (bootstrap contacts, token keys) from the named streams of streams.
func (c *cluster) bindIDs(ids []proto.NodeID, streams func(purpose string) *env.Rand) {
	c.ids = ids
	c.replicas = slices.Clone(c.ids[:c.scn.Nodes.RegistryReplicas])
	slices.SortFunc(c.replicas, proto.NodeID.Compare)
	if c.runsDHT() {
		c.bootstrap = drawBootstrap(len(c.ids), streams("bootstrap"))
	}
	if c.runsTokens() || c.runsEdge() {
		c.drawTokenKeys(streams("tokens/keys"))
	}
}

// ComposeNode builds node i of scenario s with keys as the nodes'
// identities, exactly as a run composes it (newNode), outside a world:
// for the test that holds the simulator's composition to rond's
// (stack_parity_test.go at the repository root). Streams are seeded from
// opts.Seed.
func ComposeNode(s *scenario.Scenario, opts Options, keys []ed25519.PrivateKey, i int, e env.Env) *node.Node {
	return composeOutside(s, opts, keys).newNode(i, e)
}

// DescribeNode is the description ComposeNode builds node i from.
func DescribeNode(s *scenario.Scenario, opts Options, keys []ed25519.PrivateKey, i int) stack.Description {
	return composeOutside(s, opts, keys).describe(i, keys[i])
}

// composeOutside is a cluster bound to keys instead of a world.
func composeOutside(s *scenario.Scenario, opts Options, keys []ed25519.PrivateKey) *cluster {
	c := newCluster(s, opts)
	ids := make([]proto.NodeID, len(keys))
	for j, k := range keys {
		ids[j] = proto.NodeIDFromPublicKey(k.Public().(ed25519.PublicKey))
	}
	root := env.NewRand(opts.Seed)
	c.bindIDs(ids, root.Derive)
	c.key = func(j int) ed25519.PrivateKey { return keys[j] }
	return c
}

// newNode is sim.Config.NewNode: node i as core/stack composes it from
// describe(i).
func (c *cluster) newNode(i int, e env.Env) *node.Node {
	key := c.key
	if key == nil {
		key = c.w.NodeKey
	}
	return stack.New(e, c.describe(i, key(i)))
}

// describe is node i's description. What is the simulator's own (the
// deliberate bugs, the shared signature caches, static storage membership,
// staggered DHT joins, the token workload's keys) is configuration here;
// which services run is core/stack's.
func (c *cluster) describe(i int, key ed25519.PrivateKey) stack.Description {
	d := stack.Description{Key: key, Replicas: c.replicas, Off: c.off()}
	if len(c.ids) <= OverlayNodesMax && len(c.ids) > 1 {
		d.Peers = c.ids
	}
	d.Registry = registry.Config{Bug: c.opts.RegistryBug, Signatures: c.signatures, VersionMax: c.versionMax[i]}
	d.Registry.Failed = func(error, bool) {
		c.failures = append(c.failures, replicaFailure{Node: i, At: c.w.Now()})
	}
	if c.tokens != nil {
		d.Registry.AdminKeys = []ed25519.PublicKey{c.tokens.admin.Public().(ed25519.PublicKey)}
		d.Registry.RevocationPullInterval = registry.RevocationPullIntervalDefault
		d.Authz.Keys = c.tokens
	}
	if c.bootstrap != nil {
		d.DHT.Bootstrap = c.bootstrapIDs(i)
		d.DHTJoinAt = c.joinAt(i)
	}
	d.Storage = storage.Config{
		Replicas: StorageReplicas, WriteQuorum: StorageWriteQuorum,
		BugServeUnverified: c.opts.StorageBug == StorageBugServeUnverified,
		BugAckBeforeSync:   c.opts.StorageBug == StorageBugAckBeforeSync,
		BugIgnorePins:      c.opts.StorageBug == StorageBugIgnorePins,
		BugRepinLost:       c.opts.StorageBug == StorageBugRepinLost,
		RepairOff:          c.opts.RepairOff,
		CorruptionFrom: func(src proto.NodeID) {
			if c.corruptFrom == nil {
				c.corruptFrom = map[[2]int]int{}
			}
			c.corruptFrom[[2]int{i, slices.Index(c.ids, src)}]++
		},
	}
	d.Audit = c.scn.Audit.Config()
	d.DHT.RepublishOff = c.opts.RepublishOff
	d.DHT.Bug = c.opts.CoreBugs.DHT
	d.OverlayBug = c.opts.CoreBugs.Overlay
	d.OverlaySignatures = c.hellos
	// Clusters small enough for a full overlay mesh place content by
	// static membership (announcing through the DHT when it runs); larger
	// ones place through the DHT.
	//
	// The registry's membership is then every node of the world, as
	// rond's is its closed membership: no node of a run is refused, so
	// traces are those of an open registry, and the parity test compares
	// the field. Larger worlds leave it open (a set of every node in every
	// node would cost their square in memory). The overlay's membership
	// (Description.Members) is the same set, for the same reasons: no node
	// of a run is a stranger, so its sessions are those of an open overlay.
	if c.staticPlacement() {
		d.Storage.Members = c.ids
		d.Registry.Members = c.ids
		d.Members = c.ids
	}
	return d
}

// swapBuild records the build a crashed node restarts on: an upgrade
// restarts it on a build whose registry reads the test-only
// registry.VersionTest, a downgrade on the base build (swap "" is a plain
// crash: the same build). The simulator runs one binary, so the two
// builds differ only in what their registries read and advertise; that is
// enough to run the cluster version gate (core/registry, clusterversion.go)
// through a rolling upgrade: the cluster version rises once the last
// replica is upgraded, never before.
//
// record is the index of the crash's sim.FaultRecord (the recorder
// writes the crash back as the swap it was).
func (c *cluster) swapBuild(i int, swap string, record int) {
	if swap != "" {
		if c.swaps == nil {
			c.swaps = map[int]string{}
		}
		c.swaps[record] = swap
	}
	switch swap {
	case scenario.KindUpgrade:
		if c.versionMax == nil {
			c.versionMax = map[int]uint64{}
		}
		c.versionMax[i] = registry.VersionTest
	case scenario.KindDowngrade:
		delete(c.versionMax, i)
	}
}

// off is the scenario's nodes.off, or when the file does not say, the
// optional services its workload does not use: dht without lookups,
// storage without puts or reads (audit runs). Keeping them off keeps the
// registry and overlay scenarios' traces what they were before the nodes
// were composed in one place.
func (c *cluster) off() stack.Optional {
	if c.scn.Nodes.OffGiven {
		return c.scn.Nodes.Off
	}
	var off stack.Optional
	wl := c.scn.Workload
	if wl == nil || wl.Mix.Lookup == 0 {
		off |= stack.DHT
	}
	if wl == nil || (!wl.Mix.UsesContent() && !c.runsEdgeClients()) {
		off |= stack.Storage // edge clients put and read content
	}
	return off
}

// checkOff refuses a nodes.off that turns off a service the workload needs.
func (c *cluster) checkOff() error {
	wl, off := c.scn.Workload, c.off()
	switch {
	case wl == nil:
	case wl.Mix.Lookup > 0 && off.Has(stack.DHT):
		return fmt.Errorf("nodes.off lists dht but the workload looks nodes up")
	case wl.Mix.UsesContent() && off.Has(stack.Storage):
		return fmt.Errorf("nodes.off lists storage but the workload puts or reads content")
	}
	return nil
}

// runsDHT reports whether the nodes run core/dht.
func (c *cluster) runsDHT() bool { return !c.off().Has(stack.DHT) }

// staticPlacement reports whether the nodes place content by static
// membership (Storage.Members: every node's view is c.ids), so that
// check.Placement names an object's placement nodes.
func (c *cluster) staticPlacement() bool { return !c.runsDHT() || len(c.ids) <= OverlayNodesMax }

// runsStorage reports whether the nodes run core/storage.
func (c *cluster) runsStorage() bool { return !c.off().Has(stack.Storage) }

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
func (c *cluster) registryOf(i int) *registry.Registry { return stack.RegistryOf(c.w.Node(i)) }

// overlayOf returns node i's overlay service, or nil.
func (c *cluster) overlayOf(i int) *overlay.Overlay { return stack.OverlayOf(c.w.Node(i)) }

// leader returns the up replica that believes it leads, or -1.
func (c *cluster) leader() int {
	for i := 0; i < c.scn.Nodes.RegistryReplicas; i++ {
		if r := c.registryOf(i); r != nil && r.IsLeader() {
			return i
		}
	}
	return -1
}
