package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// The storage tests run on envtest.Cluster: this file only names storage's
// side of it (static membership, white-box access to each node's machine,
// disk counters for the sweep, the placement ground truth). The network
// delivers at once and disks complete at once, so step runs the cluster
// until nothing is left at the current instant; timers need advance.

// hdisk is a node's envtest.Disk with the counters the sweep tests read.
type hdisk struct {
	*envtest.Disk
	gets int
	// keysOnlyScans counts keys-only scans; failKeysOnly fails the next
	// that many with an I/O error; chunkBytesScanned sums the chunk value
	// bytes scans returned (the orphan sweep must read none).
	keysOnlyScans     int
	failKeysOnly      int
	chunkBytesScanned int
	// checkedGets counts gets whose value the disk checked (DiskOp.Check)
	// and found intact; checkFailures those whose value failed it.
	checkedGets   int
	checkFailures int
	// chunkBytesRead sums the chunk value bytes gets returned.
	chunkBytesRead int
	// chunkPuts counts chunk values written by DiskPut.
	chunkPuts int
}

// watch installs the counters on the disk's hooks.
func (d *hdisk) watch() {
	d.Fault = func(op *env.DiskOp) error {
		if op.Kind == env.DiskScan && op.KeysOnly && d.failKeysOnly > 0 {
			d.failKeysOnly--
			return fmt.Errorf("hdisk: injected scan error: %w", env.ErrDiskIO)
		}
		return nil
	}
	d.Observe = func(op *env.DiskOp, res env.DiskResult) {
		switch {
		case op.Kind == env.DiskGet:
			d.gets++
			if strings.HasPrefix(string(op.Key), prefixChunk) {
				d.chunkBytesRead += len(res.Value)
			}
			if res.Checked {
				d.checkedGets++
			}
			if op.Check != nil && errors.Is(res.Err, env.ErrCorruption) {
				d.checkFailures++
			}
		case op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), prefixChunk):
			d.chunkPuts++
		case op.Kind == env.DiskScan && op.KeysOnly:
			d.keysOnlyScans++
		case op.Kind == env.DiskScan:
			for _, kv := range res.Pairs {
				if strings.HasPrefix(string(kv.Key), prefixChunk) {
					d.chunkBytesScanned += len(kv.Value)
				}
			}
		}
	}
}

type hnode struct {
	id   proto.NodeID
	st   *Storage // the current incarnation's
	disk *hdisk
}

// cluster is envtest.Cluster seen by storage's tests. loss, dup and cut
// (every frame to or from a node) apply from the next step on.
type cluster struct {
	t     testing.TB
	c     *envtest.Cluster
	nodes []*hnode
	cfg   Config
	loss  float64
	dup   float64
	cut   map[proto.NodeID]bool
	seed  uint64
}

func newCluster(t testing.TB, n int, seed uint64, cfg Config) *cluster {
	return newClusterDisk(t, n, seed, cfg, 0)
}

// newClusterDisk is newCluster with every disk completion delayed by
// latency.
func newClusterDisk(t testing.TB, n int, seed uint64, cfg Config, latency time.Duration) *cluster {
	return newClusterEnv(t, n, seed, cfg, latency, nil)
}

// newClusterEnv is newClusterDisk with each node's env passed through
// wrap (when set) before its machine gets it: a test's logger, say.
func newClusterEnv(t testing.TB, n int, seed uint64, cfg Config, latency time.Duration, wrap func(i int, e env.Env) env.Env) *cluster {
	c := &cluster{t: t, cut: map[proto.NodeID]bool{}, seed: seed}
	rand := env.NewRand(seed)
	ids := make([]proto.NodeID, n)
	for i := range ids {
		rand.Fill(ids[i][:])
		cfg.Members = append(cfg.Members, ids[i])
		c.nodes = append(c.nodes, &hnode{id: ids[i]})
	}
	c.cfg = cfg
	c.c = envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: seed, StartDown: true, DiskLatency: latency,
		NewNode: func(i int, e env.Env) *node.Node {
			h := c.nodes[i]
			h.st = New(c.cfg)
			if wrap != nil {
				e = wrap(i, e)
			}
			return node.New(e, node.Config{Invariants: true}, h.st, deepCheck{h})
		}})
	c.c.Drop = func(from, to int, _ []byte) bool { return c.cut[ids[from]] || c.cut[ids[to]] }
	for i, h := range c.nodes {
		h.disk = &hdisk{Disk: c.c.Members[i].Disk}
		h.disk.watch()
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.settle()
	for i := range c.nodes {
		if !c.c.RunUntil(time.Minute, c.nodes[i].st.Ready) {
			t.Fatalf("node %d: recovery did not finish", i)
		}
	}
	return c
}

// deepCheck runs storage's O(index) check after every step, whatever the
// build tags: the tests want it on every input.
type deepCheck struct{ h *hnode }

func (deepCheck) Name() string        { return "deep-check" }
func (deepCheck) Protocols() []uint16 { return nil }
func (deepCheck) Init(env.Env)        {}
func (deepCheck) Handle(env.Input)    {}
func (d deepCheck) CheckInvariants()  { d.h.st.index.check(true) }

// start (re)starts node i's machine over its disk; recovery runs on the
// next step.
func (c *cluster) start(i int) { c.c.Start(i) }

// crash stops node i, dropping its unsynced writes and pending work.
func (c *cluster) crash(i int) { c.c.Crash(i) }

// handle hands node h's storage machine one input now, directly (not
// through the node's routing, so that malformed frames reach it), then
// checks its invariants deeply.
func (c *cluster) handle(h *hnode, in env.Input) {
	envtest.Step(h.st, in)
	h.st.index.check(true)
}

func (c *cluster) applyNet() { c.c.SetNet(envtest.Net{Loss: c.loss, Duplicate: c.dup}) }

// step runs everything due now: frames, disk completions and what they
// cause, until nothing is left at this instant.
func (c *cluster) step() {
	c.applyNet()
	c.c.RunFor(0)
}

func (c *cluster) settle() { c.step() }

// advance runs the cluster for d.
func (c *cluster) advance(d time.Duration) {
	c.applyNet()
	c.c.RunFor(d)
}

// request sends body to node i and runs the cluster until it replies or
// limit passes, then finishes what is due at that instant; it returns the
// reply (nil if none).
func (c *cluster) request(i int, body any, limit time.Duration) any {
	c.applyNet()
	resp, _ := c.c.Await(i, c.c.Request(i, ServiceName, body), limit)
	c.c.RunFor(0)
	return resp
}

func (c *cluster) put(i int, data []byte, pin bool) PutResult {
	c.t.Helper()
	r, ok := c.request(i, Put{Data: data, Pin: pin}, time.Minute).(PutResult)
	if !ok {
		c.t.Fatalf("put on node %d: no PutResult", i)
	}
	return r
}

func (c *cluster) get(i int, addr proto.Addr, offset, length uint64) GetResult {
	c.t.Helper()
	r, ok := c.request(i, Get{Addr: addr, Offset: offset, Length: length}, time.Minute).(GetResult)
	if !ok {
		c.t.Fatalf("get on node %d: no GetResult", i)
	}
	return r
}

// rotChunk flips bits (mask) of byte at of chunk i of data, stored as the
// object addr, on the disk of its first placement node (of 3), and
// returns that node, the chunk and its disk key.
func (c *cluster) rotChunk(addr proto.Addr, data []byte, i, at int, mask byte) (int, proto.Addr, string) {
	victim := c.placed(addr, 3)[0]
	_, man := Split(data, ChunkBytesMin)
	chunk := man.Chunks[i].Addr
	key := string(diskKey(prefixChunk, chunk))
	bad := bytes.Clone(c.nodes[victim].disk.State()[key])
	bad[at] ^= mask
	c.nodes[victim].disk.Plant(key, bad)
	return victim, chunk, key
}

// damagedObject puts a four-chunk object through node 0, rots its chunk i
// on its first placement node (rotChunk) and has a node outside the
// placement fetch that chunk there, so the victim finds it corrupt at its
// known offset and marks it damaged. It returns the object's bytes, its
// address, the victim, the chunk, its disk key and its offset.
func (c *cluster) damagedObject(i int) (data []byte, addr proto.Addr, victim int, chunk proto.Addr, key string, off uint64) {
	c.t.Helper()
	data = randomData(11, 4*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		c.t.Fatal(res.Err)
	}
	c.advance(time.Second)
	victim, chunk, key = c.rotChunk(res.Addr, data, i, 100, 0x40)
	off = uint64(i * ChunkBytesMin)
	peer := c.notPlaced(res.Addr, 3)[0]
	if rep := c.askChunk(peer, victim, chunk, off); rep.status != statusCorrupt {
		c.t.Fatalf("FetchChunk of the rotten chunk: status %d, want statusCorrupt", rep.status)
	}
	return data, res.Addr, victim, chunk, key, off
}

// placed returns the indexes of addr's placement nodes, computed here
// independently of the machine: sort by XOR distance.
func (c *cluster) placed(addr proto.Addr, r int) []int {
	idx := make([]int, len(c.nodes))
	for i := range idx {
		idx[i] = i
	}
	less := func(a, b int) bool {
		for k := 0; k < proto.IDBytes; k++ {
			da, db := c.nodes[a].id[k]^addr[k], c.nodes[b].id[k]^addr[k]
			if da != db {
				return da < db
			}
		}
		return false
	}
	for i := 1; i < len(idx); i++ { // insertion sort: tiny clusters
		for j := i; j > 0 && less(idx[j], idx[j-1]); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx[:min(r, len(idx))]
}

func (c *cluster) notPlaced(addr proto.Addr, r int) []int {
	in := map[int]bool{}
	for _, i := range c.placed(addr, r) {
		in[i] = true
	}
	var out []int
	for i := range c.nodes {
		if !in[i] {
			out = append(out, i)
		}
	}
	return out
}

// durableCopy reports whether node i's durable disk state holds addr whole:
// its manifest and every chunk, each verifying.
func (c *cluster) durableCopy(i int, addr proto.Addr) bool {
	return holdsCopy(c.nodes[i].disk.Durable(), addr)
}

func holdsCopy(state map[string][]byte, addr proto.Addr) bool {
	sealed, ok := state[string(diskKey(prefixManifest, addr))]
	if !ok {
		return false
	}
	raw, err := env.Unseal(sealed)
	if err != nil {
		return false
	}
	m, err := DecodeManifest(raw)
	if err != nil || m.checkFor(addr) != nil {
		return false
	}
	for i, ch := range m.Chunks {
		if b, ok := state[string(diskKey(prefixChunk, ch.Addr))]; !ok || !chunkMatches(ch.Addr, m.chunkOffset(i), b) {
			return false
		}
	}
	return true
}

func (c *cluster) metric(i int, name, label string) float64 {
	return c.c.Members[i].Metrics.Values[envtest.Key(name, label)]
}

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	env.NewRand(seed).Fill(b)
	return b
}

func (c *cluster) String() string {
	return fmt.Sprintf("cluster(seed=%d, nodes=%d)", c.seed, len(c.nodes))
}
