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

// The DHT's network tests run on envtest.Cluster: this file only names the
// DHT's side of it (keys, bootstrap from seeds, the ground truth, a trace
// hash of every frame sent).

// testLatencyMin and testLatencyMax bound a frame's one-way delay.
const (
	testLatencyMin = 5 * time.Millisecond
	testLatencyMax = 25 * time.Millisecond
)

type testNet struct {
	t        testing.TB
	c        *envtest.Cluster
	nodes    []*testNode
	hash     uint64 // FNV-1a over every frame sent, in order
	sent     int
	requests map[env.RequestID]int // request -> node index
}

type testNode struct {
	id  proto.NodeID
	key ed25519.PrivateKey
	dht *DHT // the current incarnation's
	m   *envtest.Member
}

// testKey derives node i's key deterministically from the test seed.
func testKey(seed uint64, i int) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	binary.BigEndian.PutUint64(s[:], seed)
	binary.BigEndian.PutUint64(s[8:], uint64(i))
	return ed25519.NewKeyFromSeed(s[:])
}

// newTestNet builds n nodes, all down until started; the first seeds
// nodes bootstrap from each other, the rest from the seeds. cfg is each
// node's config template.
func newTestNet(t testing.TB, seed uint64, n, seeds int, cfg Config) *testNet {
	net := &testNet{t: t, hash: fnv.New64a().Sum64(), requests: map[env.RequestID]int{}}
	ids := make([]proto.NodeID, n)
	for i := range ids {
		key := testKey(seed, i)
		ids[i] = proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
		net.nodes = append(net.nodes, &testNode{id: ids[i], key: key})
	}
	net.c = envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: seed, StartDown: true,
		Net: envtest.Net{LatencyMin: testLatencyMin, LatencyMax: testLatencyMax},
		NewNode: func(i int, e env.Env) *node.Node {
			c := cfg
			c.Key = net.nodes[i].key
			c.Bootstrap = slices.Clone(ids[:seeds])
			if i < seeds {
				c.Bootstrap = slices.Delete(c.Bootstrap, i, i+1)
			}
			net.nodes[i].dht = New(c)
			return node.New(e, node.Config{Invariants: true}, net.nodes[i].dht)
		}})
	net.c.Sent = net.trace
	for i, nd := range net.nodes {
		nd.m = net.c.Members[i]
	}
	return net
}

// trace folds one sent frame into the trace hash.
func (net *testNet) trace(_ int, to proto.NodeID, frame []byte) {
	net.sent++
	h := fnv.New64a()
	var prev [8]byte
	binary.BigEndian.PutUint64(prev[:], net.hash)
	h.Write(prev[:])
	h.Write(to[:])
	h.Write(frame)
	net.hash = h.Sum64()
}

// setLoss sets the share of frames lost from now on.
func (net *testNet) setLoss(loss float64) {
	net.c.SetNet(envtest.Net{LatencyMin: testLatencyMin, LatencyMax: testLatencyMax, Loss: loss})
}

func (net *testNet) start(i int) { net.c.Start(i) }

// crash takes node i down (a DHT keeps nothing on disk).
func (net *testNet) crash(i int) { net.c.Crash(i) }

func (net *testNet) up(i int) bool { return net.c.Members[i].Up }

// startAll starts every node, spaced by gap, then runs for settle.
func (net *testNet) startAll(gap, settle time.Duration) {
	for i := range net.nodes {
		net.start(i)
		net.run(gap)
	}
	net.run(settle)
}

func (net *testNet) run(d time.Duration) { net.c.RunFor(d) }

// request sends a client request to node i and returns its id.
func (net *testNet) request(i int, body any) env.RequestID {
	id := net.c.Request(i, ServiceName, body)
	net.requests[id] = i
	return id
}

// await runs until every listed request has a reply (at most limit) and
// returns the replies by request id.
func (net *testNet) await(ids []env.RequestID, limit time.Duration) map[env.RequestID]any {
	out := map[env.RequestID]any{}
	collect := func() bool {
		for _, id := range ids {
			if resp, ok := net.c.Members[net.requests[id]].Replies[id]; ok {
				out[id] = resp
			}
		}
		return len(out) == len(ids)
	}
	net.c.RunUntil(limit, collect)
	collect()
	return out
}

// trueClosest is the ground truth: the k up nodes closest to target.
func (net *testNet) trueClosest(target proto.NodeID, k int) []proto.NodeID {
	var ids []proto.NodeID
	for i, nd := range net.nodes {
		if net.up(i) {
			ids = append(ids, nd.id)
		}
	}
	slices.SortFunc(ids, func(a, b proto.NodeID) int { return distanceCmp(&a, &b, &target) })
	return ids[:min(k, len(ids))]
}

// metric sums a counter or gauge over every node.
func (net *testNet) metric(name, label string) float64 {
	total := 0.0
	for _, nd := range net.nodes {
		total += nd.m.Metrics.Values[envtest.Key(name, label)]
	}
	return total
}

// observations concatenates a histogram's observations over every node.
func (net *testNet) observations(name string) []float64 {
	var out []float64
	for _, nd := range net.nodes {
		out = append(out, nd.m.Metrics.Observations[envtest.Key(name, "")]...)
	}
	return out
}

func (net *testNet) checkDeep() {
	for i, nd := range net.nodes {
		if net.up(i) {
			nd.dht.checkDeep()
		}
	}
}
