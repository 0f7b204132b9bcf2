package overlay

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// The overlay's cluster tests run on envtest.Cluster: this file only names
// the overlay's side of it (keys by name, a probe service recording bus
// events and application frames, directed cuts, session views).

// testKeys memoises keyFor (tests here do not run in parallel).
var testKeys = map[string]ed25519.PrivateKey{}

// keyFor derives a test node's key from its name.
func keyFor(name string) ed25519.PrivateKey {
	if k, ok := testKeys[name]; ok {
		return k
	}
	seed := sha256.Sum256([]byte("overlay-test/" + name))
	k := ed25519.NewKeyFromSeed(seed[:])
	testKeys[name] = k
	return k
}

func idOf(key ed25519.PrivateKey) proto.NodeID {
	return proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
}

// probe is a second service on each test node: it records the overlay's bus
// events and the application frames (app proto DHT) it receives.
type probe struct {
	events   []PeerEvent
	received []env.Message
}

func (p *probe) Name() string        { return "probe" }
func (p *probe) Protocols() []uint16 { return []uint16{oap.ProtoDHT} }
func (p *probe) Topics() []string    { return []string{TopicPeer} }
func (p *probe) Init(env.Env)        {}
func (p *probe) Handle(in env.Input) {
	switch in := in.(type) {
	case env.BusEvent:
		p.events = append(p.events, in.Event.(PeerEvent))
	case env.Message:
		p.received = append(p.received, in)
	}
}

// testNode is one node of a cluster: an overlay and a probe behind a
// node.Node (so tags are stamped and invariants run as in the simulator).
type testNode struct {
	name  string
	id    proto.NodeID
	key   ed25519.PrivateKey
	env   memberView
	ov    *Overlay
	probe *probe
}

// memberView is what tests read of a member's env.
type memberView struct{ Recorder *envtest.Metrics }

// fataler is what the fixture needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// cluster is envtest.Cluster seen by the overlay's tests. Tests set the
// network fields directly; they apply to the frames sent from the next
// step on. run checks in every quantum.
type cluster struct {
	t       fataler
	c       *envtest.Cluster
	nodes   []*testNode
	index   map[proto.NodeID]int
	quantum time.Duration

	latencyMin, latencyMax time.Duration
	loss, dup, reorder     float64
	cut                    map[[2]int]bool // directed links that drop everything

	// onTransmit, if set, sees every frame handed to the network.
	onTransmit func(from, to int, frame []byte)
}

// newCluster builds n fully meshed nodes n1..nn, not yet started; tweak
// may adjust each node's config.
func newCluster(t fataler, n int, seed uint64, tweak func(*Config)) *cluster {
	c := &cluster{
		t: t, index: map[proto.NodeID]int{}, quantum: 5 * time.Millisecond,
		latencyMin: 5 * time.Millisecond, latencyMax: 15 * time.Millisecond, cut: map[[2]int]bool{},
	}
	var ids []proto.NodeID
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		key := keyFor(name)
		ids = append(ids, idOf(key))
		c.nodes = append(c.nodes, &testNode{name: name, id: ids[i-1], key: key})
		c.index[ids[i-1]] = i - 1
	}
	c.c = envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: seed, StartDown: true,
		NewNode: func(i int, e env.Env) *node.Node {
			cfg := Config{Key: c.nodes[i].key, Peers: ids}
			if tweak != nil {
				tweak(&cfg)
			}
			nd := c.nodes[i]
			nd.ov, nd.probe = New(cfg), &probe{}
			return node.New(e, node.Config{Invariants: true}, nd.ov, nd.probe)
		}})
	c.c.Drop = func(from, to int, _ []byte) bool { return c.cut[[2]int{from, to}] }
	c.c.Sent = func(from int, to proto.NodeID, frame []byte) {
		j, ok := c.index[to]
		if !ok {
			c.t.Fatalf("node %d sent to unknown node %s", from, to.Short())
		}
		if c.onTransmit != nil {
			c.onTransmit(from, j, frame)
		}
	}
	for i, nd := range c.nodes {
		nd.env = memberView{Recorder: c.c.Members[i].Metrics}
	}
	c.applyNet()
	return c
}

// applyNet hands the network fields to the cluster.
func (c *cluster) applyNet() {
	c.c.SetNet(envtest.Net{LatencyMin: c.latencyMin, LatencyMax: c.latencyMax,
		Loss: c.loss, Duplicate: c.dup, Reorder: c.reorder})
}

// start starts every node.
func (c *cluster) start() {
	c.applyNet()
	for i := range c.nodes {
		c.c.Start(i)
	}
}

// now is the virtual time since the start.
func (c *cluster) now() time.Duration { return c.c.Now }

// step runs one quantum.
func (c *cluster) step() {
	c.applyNet()
	c.c.RunFor(c.quantum)
}

// run steps for d of virtual time, calling each (if non-nil) after every step.
func (c *cluster) run(d time.Duration, each func()) {
	for end := c.now() + d; c.now() < end; {
		c.step()
		if each != nil {
			each()
		}
	}
}

// runUntil steps until cond holds or limit passes; it reports success.
func (c *cluster) runUntil(limit time.Duration, cond func() bool) bool {
	for end := c.now() + limit; c.now() < end; {
		if cond() {
			return true
		}
		c.step()
	}
	return cond()
}

// partition cuts every link between group and the other nodes, both ways.
func (c *cluster) partition(group ...int) {
	in := map[int]bool{}
	for _, g := range group {
		in[g] = true
	}
	for a := range c.nodes {
		for b := range c.nodes {
			if in[a] != in[b] {
				c.cut[[2]int{a, b}] = true
			}
		}
	}
}

func (c *cluster) heal() { c.cut = map[[2]int]bool{} }

// allActive reports whether every session of every node is Active.
func (c *cluster) allActive() bool {
	for _, n := range c.nodes {
		for _, s := range n.ov.Sessions() {
			if s.State != StateActive {
				return false
			}
		}
	}
	return true
}

// session returns node a's view of node b.
func (c *cluster) session(a, b int) SessionInfo {
	for _, s := range c.nodes[a].ov.Sessions() {
		if s.Peer == c.nodes[b].id {
			return s
		}
	}
	c.t.Fatalf("%s has no session with %s", c.nodes[a].name, c.nodes[b].name)
	return SessionInfo{}
}

// metric reads a counter or gauge of node i.
func (c *cluster) metric(i int, name, label string) float64 {
	return c.nodes[i].env.Recorder.Values[envtest.Key(name, label)]
}

// appFrame is an application frame (app proto DHT) numbered seq.
func appFrame(seq uint64) []byte {
	return oap.MustEncode(&oap.Frame{Header: oap.Header{AppProto: oap.ProtoDHT, Flags: oap.FlagEVENT, CorrID: seq}})
}
