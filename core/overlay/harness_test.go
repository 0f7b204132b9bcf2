package overlay

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

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
	env   *envtest.Env
	node  *node.Node
	ov    *Overlay
	probe *probe
}

// fataler is what the harness needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// packet is a frame in flight.
type packet struct {
	from, to int
	frame    []byte
	at       time.Duration // delivery time, since the cluster started
	seq      uint64        // tie-break: transmission order
}

// cluster is the in-test network: nodes whose clocks advance together in
// steps of quantum, and a seeded network that loses, duplicates, delays and
// reorders frames and drops frames across cut links.
type cluster struct {
	t       fataler
	nodes   []*testNode
	index   map[proto.NodeID]int
	net     *env.Rand
	now     time.Duration
	quantum time.Duration

	latencyMin, latencyMax time.Duration
	loss, dup, reorder     float64
	cut                    map[[2]int]bool // directed links that drop everything

	inflight []packet
	seq      uint64
	// onTransmit, if set, sees every frame handed to the network.
	onTransmit func(from, to int, frame []byte)
}

// newCluster builds n fully meshed nodes n1..nn; tweak may adjust each
// node's config.
func newCluster(t fataler, n int, seed uint64, tweak func(*Config)) *cluster {
	c := &cluster{
		t: t, index: map[proto.NodeID]int{}, net: env.NewRand(seed).Derive("network"),
		quantum: 5 * time.Millisecond, latencyMin: 5 * time.Millisecond, latencyMax: 15 * time.Millisecond,
		cut: map[[2]int]bool{},
	}
	var ids []proto.NodeID
	for i := 1; i <= n; i++ {
		key := keyFor(fmt.Sprintf("n%d", i))
		ids = append(ids, idOf(key))
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i+1)
		key := keyFor(name)
		cfg := Config{Key: key, Peers: ids}
		if tweak != nil {
			tweak(&cfg)
		}
		ov := New(cfg)
		pr := &probe{}
		e := envtest.New(ids[i], seed*1000+uint64(i))
		nd := node.New(e, node.Config{Invariants: true}, ov, pr)
		c.nodes = append(c.nodes, &testNode{name: name, id: ids[i], key: key, env: e, node: nd, ov: ov, probe: pr})
		c.index[ids[i]] = i
	}
	return c
}

// start delivers Start to every node.
func (c *cluster) start() {
	for i, n := range c.nodes {
		n.node.Step(env.Start{})
		c.collect(i)
	}
}

// step advances every clock by one quantum, fires due timers and delivers
// due frames.
func (c *cluster) step() {
	c.now += c.quantum
	for i, n := range c.nodes {
		for _, in := range n.env.Advance(c.quantum) {
			n.node.Step(in)
		}
		c.collect(i)
	}
	c.deliverDue()
}

// run steps for d of virtual time, calling each (if non-nil) after every step.
func (c *cluster) run(d time.Duration, each func()) {
	for end := c.now + d; c.now < end; {
		c.step()
		if each != nil {
			each()
		}
	}
}

// runUntil steps until cond holds or limit passes; it reports success.
func (c *cluster) runUntil(limit time.Duration, cond func() bool) bool {
	for end := c.now + limit; c.now < end; {
		if cond() {
			return true
		}
		c.step()
	}
	return cond()
}

func (c *cluster) collect(from int) {
	for _, s := range c.nodes[from].env.TakeSent() {
		c.transmit(from, s)
	}
}

func (c *cluster) transmit(from int, s envtest.Sent) {
	to, ok := c.index[s.To]
	if !ok {
		c.t.Fatalf("node %d sent to unknown node %s", from, s.To.Short())
	}
	if c.onTransmit != nil {
		c.onTransmit(from, to, s.Frame)
	}
	if c.cut[[2]int{from, to}] || c.net.Bool(c.loss) {
		return
	}
	copies := 1
	if c.net.Bool(c.dup) {
		copies = 2
	}
	for range copies {
		delay := c.latencyMin
		if span := c.latencyMax - c.latencyMin; span > 0 {
			delay += time.Duration(c.net.Uint64n(uint64(span) + 1))
		}
		if c.net.Bool(c.reorder) {
			delay += time.Duration(c.net.Uint64n(uint64(3*c.latencyMax) + 1))
		}
		c.seq++
		c.inflight = append(c.inflight, packet{from: from, to: to, frame: bytes.Clone(s.Frame), at: c.now + delay, seq: c.seq})
	}
}

// deliverDue delivers every frame due by now, in (time, transmission) order.
func (c *cluster) deliverDue() {
	slices.SortFunc(c.inflight, func(a, b packet) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	n := 0
	for n < len(c.inflight) && c.inflight[n].at <= c.now {
		n++
	}
	due := slices.Clone(c.inflight[:n])
	c.inflight = slices.Delete(c.inflight, 0, n)
	for _, p := range due {
		c.nodes[p.to].node.Step(env.Message{From: c.nodes[p.from].id, Frame: p.frame})
		c.collect(p.to)
	}
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
