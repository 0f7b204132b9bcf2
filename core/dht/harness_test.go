package dht

import (
	"crypto/ed25519"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// testNet is a small in-test network: N nodes on envtest envs whose clocks
// advance in lockstep by tick; frames are delivered after a seeded latency
// of 1..latencyTicksMax ticks, or lost with probability loss.
type testNet struct {
	t        testing.TB
	rand     *env.Rand // network decisions: loss and latency
	tick     time.Duration
	step     int
	ring     [][]delivery
	loss     float64
	nodes    []*testNode
	byID     map[proto.NodeID]int
	hash     uint64 // FNV-1a over every frame sent, in order
	sent     int
	nextReq  env.RequestID
	requests map[env.RequestID]int // request -> node index
}

type testNode struct {
	env  *envtest.Env
	node *node.Node
	dht  *DHT
	key  ed25519.PrivateKey
	up   bool
}

type delivery struct {
	from, to int
	frame    []byte
}

const latencyTicksMax = 5

// testKey derives node i's key deterministically from the test seed.
func testKey(seed uint64, i int) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	binary.BigEndian.PutUint64(s[:], seed)
	binary.BigEndian.PutUint64(s[8:], uint64(i))
	return ed25519.NewKeyFromSeed(s[:])
}

// newTestNet builds n nodes; the first seeds nodes bootstrap from each
// other, the rest from the seeds. cfg is each node's config template.
func newTestNet(t testing.TB, seed uint64, n, seeds int, cfg Config) *testNet {
	net := &testNet{
		t: t, rand: env.NewRand(seed).Derive("network"), tick: 5 * time.Millisecond,
		ring: make([][]delivery, latencyTicksMax+1), byID: map[proto.NodeID]int{},
		hash: fnv.New64a().Sum64(), requests: map[env.RequestID]int{},
	}
	keys := make([]ed25519.PrivateKey, n)
	ids := make([]proto.NodeID, n)
	for i := range keys {
		keys[i] = testKey(seed, i)
		ids[i] = proto.NodeIDFromPublicKey(keys[i].Public().(ed25519.PublicKey))
		net.byID[ids[i]] = i
	}
	for i := 0; i < n; i++ {
		c := cfg
		c.Key = keys[i]
		c.Bootstrap = slices.Clone(ids[:seeds])
		if i < seeds {
			c.Bootstrap = slices.Delete(c.Bootstrap, i, i+1)
		}
		d := New(c)
		e := envtest.New(ids[i], seed*1000003+uint64(i))
		net.nodes = append(net.nodes, &testNode{env: e, dht: d, key: keys[i],
			node: node.New(e, node.Config{Invariants: true}, d)})
	}
	return net
}

// start starts node i.
func (net *testNet) start(i int) {
	nd := net.nodes[i]
	nd.up = true
	nd.node.Step(env.Start{})
	net.collect(i)
}

// startAll starts every node, spaced by gap, then runs for settle.
func (net *testNet) startAll(gap, settle time.Duration) {
	for i := range net.nodes {
		net.start(i)
		net.run(gap)
	}
	net.run(settle)
}

// collect moves the frames node i sent into the network.
func (net *testNet) collect(i int) {
	for _, s := range net.nodes[i].env.TakeSent() {
		net.sent++
		h := fnv.New64a()
		var prev [8]byte
		binary.BigEndian.PutUint64(prev[:], net.hash)
		h.Write(prev[:])
		h.Write(s.To[:])
		h.Write(s.Frame)
		net.hash = h.Sum64()
		to, ok := net.byID[s.To]
		if !ok || net.rand.Bool(net.loss) {
			continue
		}
		lat := 1 + net.rand.Intn(latencyTicksMax)
		slot := (net.step + lat) % len(net.ring)
		net.ring[slot] = append(net.ring[slot], delivery{from: i, to: to, frame: s.Frame})
	}
}

// idleTicks is how many ticks run takes at once while no frame is in
// flight: timers then fire up to that late, which the env contract allows
// (never early), and idle stretches cost 20 times less.
const idleTicks = 20

// run advances the network by d: per tick, due timers of every up node fire
// first, then the frames due at this tick are delivered.
func (net *testNet) run(d time.Duration) {
	for steps := int(d / net.tick); steps > 0; steps-- {
		if steps >= idleTicks && net.idle() {
			net.step += idleTicks
			steps -= idleTicks - 1
			net.fire(idleTicks * net.tick)
			continue
		}
		net.step++
		slot := net.step % len(net.ring)
		due := net.ring[slot]
		net.ring[slot] = nil
		net.fire(net.tick)
		for _, m := range due {
			if nd := net.nodes[m.to]; nd.up {
				nd.node.Step(env.Message{From: net.nodes[m.from].env.ID, Frame: m.frame})
				net.collect(m.to)
			}
		}
	}
}

// fire advances every clock by d (up or down) and runs due timers.
func (net *testNet) fire(d time.Duration) {
	for i, nd := range net.nodes {
		ins := nd.env.Advance(d)
		if !nd.up {
			continue
		}
		for _, in := range ins {
			nd.node.Step(in)
			net.collect(i)
		}
	}
}

func (net *testNet) idle() bool {
	for _, slot := range net.ring {
		if len(slot) > 0 {
			return false
		}
	}
	return true
}

// request sends a client request to node i and returns its id.
func (net *testNet) request(i int, body any) env.RequestID {
	net.nextReq++
	net.requests[net.nextReq] = i
	net.nodes[i].node.Step(env.Request{ID: net.nextReq, Service: "dht", Body: body})
	net.collect(i)
	return net.nextReq
}

// await runs until every listed request has a reply (at most limit) and
// returns the replies by request id.
func (net *testNet) await(ids []env.RequestID, limit time.Duration) map[env.RequestID]any {
	out := map[env.RequestID]any{}
	for waited := time.Duration(0); ; waited += net.tick {
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			nd := net.nodes[net.requests[id]]
			for _, r := range nd.env.Replies {
				if r.ID == id {
					out[id] = r.Resp
				}
			}
		}
		if len(out) == len(ids) || waited >= limit {
			return out
		}
		net.run(net.tick)
	}
}

// trueClosest is the ground truth: the k up nodes closest to target.
func (net *testNet) trueClosest(target proto.NodeID, k int) []proto.NodeID {
	var ids []proto.NodeID
	for _, nd := range net.nodes {
		if nd.up {
			ids = append(ids, nd.env.ID)
		}
	}
	slices.SortFunc(ids, func(a, b proto.NodeID) int { return distanceCmp(&a, &b, &target) })
	return ids[:min(k, len(ids))]
}

// metric sums a counter or gauge over every node.
func (net *testNet) metric(name, label string) float64 {
	total := 0.0
	for _, nd := range net.nodes {
		total += nd.env.Recorder.Values[envtest.Key(name, label)]
	}
	return total
}

// observations concatenates a histogram's observations over every node.
func (net *testNet) observations(name string) []float64 {
	var out []float64
	for _, nd := range net.nodes {
		out = append(out, nd.env.Recorder.Observations[envtest.Key(name, "")]...)
	}
	return out
}

func (net *testNet) checkDeep() {
	for _, nd := range net.nodes {
		if nd.up {
			nd.dht.checkDeep()
		}
	}
}
