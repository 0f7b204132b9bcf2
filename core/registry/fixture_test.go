package registry

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// The registry's tests run on envtest.Cluster: this file only names the
// registry's side of it (which nodes are replicas, how to reach a node's
// Registry, request/await in Result terms).

// testNet is the tests' network: every frame arrives after a millisecond;
// a disk op completes after half of one, so a crash can find ops in
// flight.
var testNet = envtest.Net{LatencyMin: time.Millisecond, LatencyMax: time.Millisecond}

const testDiskLatency = 500 * time.Microsecond

// tnode is a test's view of one member.
type tnode struct {
	id   proto.NodeID
	key  ed25519.PrivateKey
	node *node.Node // nil while down
	reg  *Registry  // the current incarnation's
	env  memberView
}

// memberView is what tests read of a member's env.
type memberView struct {
	disk     *envtest.Disk
	Recorder *envtest.Metrics
}

type cluster struct {
	t        testing.TB
	c        *envtest.Cluster
	nodes    []*tnode
	replicas []proto.NodeID
	cfg      Config
	// cut, when set, drops the frames it returns true for.
	cut func(from, to proto.NodeID, frame []byte) bool
	// observe, when set, sees every frame sent that is not dropped.
	observe func(to proto.NodeID, frame []byte)
	// versionMax, when set, is node i's Config.VersionMax at its next
	// start (the build it runs: an upgrade is a crash, a new value and a
	// restart).
	versionMax map[int]uint64
}

func testKey(i int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, uint64(i)+1)
	return ed25519.NewKeyFromSeed(seed)
}

// newCluster builds replicas replica nodes followed by clients non-replica
// nodes and starts them all.
func newCluster(t testing.TB, replicas, clients int, cfg Config) *cluster {
	return newClusterVersions(t, replicas, clients, cfg, nil)
}

// newClusterVersions is newCluster with node i starting on
// Config.VersionMax = versionMax[i] (absent: cfg's).
func newClusterVersions(t testing.TB, replicas, clients int, cfg Config, versionMax map[int]uint64) *cluster {
	c := &cluster{t: t, cfg: cfg, versionMax: maps.Clone(versionMax)}
	if c.versionMax == nil {
		c.versionMax = map[int]uint64{}
	}
	ids := make([]proto.NodeID, replicas+clients)
	for i := range ids {
		key := testKey(i)
		ids[i] = proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
		c.nodes = append(c.nodes, &tnode{id: ids[i], key: key})
	}
	c.replicas = slices.Clone(ids[:replicas])
	slices.SortFunc(c.replicas, proto.NodeID.Compare)
	c.c = envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: 1, Net: testNet, DiskLatency: testDiskLatency,
		NewNode: func(i int, e env.Env) *node.Node {
			cfg := c.cfg
			cfg.Key, cfg.Replicas = c.nodes[i].key, c.replicas
			if v, ok := c.versionMax[i]; ok {
				cfg.VersionMax = v
			}
			n := c.nodes[i]
			n.reg = New(cfg)
			return node.New(e, node.Config{Invariants: true}, n.reg)
		}})
	c.installDrop()
	c.refresh()
	return c
}

// refresh points the tnodes at their members' current incarnations.
func (c *cluster) refresh() {
	for i, m := range c.c.Members {
		n := c.nodes[i]
		n.node, n.env = m.Node, memberView{disk: m.Disk, Recorder: m.Metrics}
	}
}

func (c *cluster) down(i int) bool { return !c.c.Members[i].Up }

// round runs one millisecond.
func (c *cluster) round() { c.c.RunFor(time.Millisecond) }

func (c *cluster) run(d time.Duration) { c.c.RunFor(d) }

// leader returns the index of the single leader, running until there is
// one (or failing after limit).
func (c *cluster) leader(limit time.Duration) int {
	c.t.Helper()
	leader := -1
	single := func() bool {
		leader = -1
		for i, n := range c.nodes {
			if c.down(i) || !n.reg.IsLeader() {
				continue
			}
			if leader >= 0 {
				return false
			}
			leader = i
		}
		return leader >= 0
	}
	if !c.c.RunUntil(limit, single) {
		c.t.Fatalf("no single leader after %v", limit)
	}
	return leader
}

// submit sends a request to node i and returns its id.
func (c *cluster) submit(i int, body any) env.RequestID {
	return c.c.Request(i, ServiceName, body)
}

// await runs until node i replied to id (or limit passes).
func (c *cluster) await(i int, id env.RequestID, limit time.Duration) (Result, bool) {
	resp, ok := c.c.Await(i, id, limit)
	if !ok {
		return Result{}, false
	}
	return resp.(Result), true
}

// do submits and awaits one op, failing the test if no reply comes within
// the op timeout plus slack.
func (c *cluster) do(i int, body any) Result {
	c.t.Helper()
	res, ok := c.await(i, c.submit(i, body), c.opTimeout()+time.Second)
	if !ok {
		c.t.Fatalf("node %d: no reply to %T", i, body)
	}
	return res
}

func (c *cluster) opTimeout() time.Duration { return c.cfg.withDefaults().OpTimeout }

// crash stops node i, dropping its unsynced writes, and returns its disk.
func (c *cluster) crash(i int) *envtest.Disk {
	c.c.Crash(i)
	c.refresh()
	return c.c.Members[i].Disk
}

func (c *cluster) restart(i int) {
	c.c.Restart(i)
	c.refresh()
}

// converged reports whether every running replica has the same applied
// index, state hash and chain hash.
func (c *cluster) converged() bool {
	var first *Registry
	for i, n := range c.nodes {
		if c.down(i) || n.reg.replica < 0 || n.reg.Failed() {
			continue
		}
		if first == nil {
			first = n.reg
			continue
		}
		if n.reg.AppliedIndex() != first.AppliedIndex() || n.reg.StateHash() != first.StateHash() || n.reg.ChainHash() != first.ChainHash() {
			return false
		}
	}
	return true
}

func (c *cluster) awaitConverged(limit time.Duration) {
	c.t.Helper()
	if c.c.RunUntil(limit, c.converged) {
		return
	}
	for i, n := range c.nodes {
		if n.reg.replica >= 0 {
			c.t.Logf("node %d: applied %d state %x chain %x", i, n.reg.AppliedIndex(), n.reg.StateHash(), n.reg.ChainHash())
		}
	}
	c.t.Fatalf("replicas did not converge within %v", limit)
}

// isolate cuts every link to and from node i.
func (c *cluster) isolate(i int) { c.c.Isolate(i) }

func (c *cluster) heal() {
	c.c.HealAll()
	c.cut = nil
	c.installDrop()
}

// installDrop routes the cluster's Drop hook through cut and observe.
func (c *cluster) installDrop() {
	c.c.Drop = func(from, to int, frame []byte) bool {
		if c.cut != nil && c.cut(c.nodes[from].id, c.nodes[to].id, frame) {
			return true
		}
		if c.observe != nil {
			c.observe(c.nodes[to].id, frame)
		}
		return false
	}
}

func (c *cluster) metric(i int, name, label string) float64 {
	return c.nodes[i].env.Recorder.Values[envtest.Key(name, label)]
}

// owner is a name owner's key pair for tests.
type owner struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newOwner(i int) owner {
	k := testKey(1000 + i)
	return owner{pub: k.Public().(ed25519.PublicKey), priv: k}
}

func (o owner) set(name string, target proto.Addr, seq uint64) Set {
	return Set{Name: name, Target: target, Seq: seq, Owner: o.pub, Sig: ed25519.Sign(o.priv, SetSigningBytes(name, target, seq))}
}

func errIs(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}
