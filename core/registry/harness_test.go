package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// hDisk is the harness's disk: it survives restarts, keeps unsynced writes
// apart so that a crash can drop them, and can corrupt a stored value or
// fail operations.
type hDisk struct {
	durable  map[string][]byte
	volatile map[string][]byte // nil value: a delete not yet synced
	failNext bool
}

func newDisk() *hDisk {
	return &hDisk{durable: map[string][]byte{}, volatile: map[string][]byte{}}
}

func (d *hDisk) get(k string) ([]byte, bool) {
	if v, ok := d.volatile[k]; ok {
		return v, v != nil
	}
	v, ok := d.durable[k]
	return v, ok
}

func (d *hDisk) put(k string, v []byte) {
	if v == nil {
		v = []byte{}
	}
	d.volatile[k] = bytes.Clone(v)
}

func (d *hDisk) sync() {
	for _, k := range env.SortedKeys(d.volatile) {
		if v := d.volatile[k]; v == nil {
			delete(d.durable, k)
		} else {
			d.durable[k] = v
		}
	}
	d.volatile = map[string][]byte{}
}

// crash drops every write not yet synced.
func (d *hDisk) crash() { d.volatile = map[string][]byte{} }

// corrupt flips one bit of the stored value of key.
func (d *hDisk) corrupt(key string) {
	d.sync()
	v := d.durable[key]
	v[len(v)/2] ^= 0x10
}

func (d *hDisk) keys(prefix string) []string {
	var out []string
	for k := range d.durable {
		if _, shadowed := d.volatile[k]; !shadowed && strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	for k, v := range d.volatile {
		if v != nil && strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (d *hDisk) execute(op *env.DiskOp) env.DiskResult {
	if err := op.Validate(); err != nil {
		return env.DiskResult{Err: err}
	}
	if d.failNext {
		d.failNext = false
		return env.DiskResult{Err: env.ErrDiskIO}
	}
	switch op.Kind {
	case env.DiskGet:
		v, ok := d.get(string(op.Key))
		return env.DiskResult{Found: ok, Value: bytes.Clone(v)}
	case env.DiskPut:
		d.put(string(op.Key), op.Value)
	case env.DiskDelete:
		d.volatile[string(op.Key)] = nil
	case env.DiskBatch:
		for _, w := range op.Batch {
			if w.Delete {
				d.volatile[string(w.Key)] = nil
			} else {
				d.put(string(w.Key), w.Value)
			}
		}
	case env.DiskSync:
		d.sync()
	case env.DiskScan:
		var res env.DiskResult
		for _, k := range d.keys(string(op.Prefix)) {
			if k < string(op.Start) {
				continue
			}
			if len(res.Pairs) == op.Limit {
				res.More = true
				break
			}
			v, _ := d.get(k)
			res.Pairs = append(res.Pairs, env.KV{Key: []byte(k), Value: bytes.Clone(v)})
		}
		return res
	}
	return env.DiskResult{}
}

// hEnv is envtest's env with the harness disk in place of its own.
type hEnv struct {
	*envtest.Env
	disk    *hDisk
	pending []env.DiskDone
	nextOp  env.OpID
}

func (e *hEnv) Submit(op env.DiskOp) env.OpID {
	e.nextOp++
	e.pending = append(e.pending, env.DiskDone{ID: e.nextOp, Op: op})
	return e.nextOp
}

func (e *hEnv) completeDisk() []env.Input {
	ops := e.pending
	e.pending = nil
	out := make([]env.Input, 0, len(ops))
	for _, d := range ops {
		d.Result = e.disk.execute(&d.Op)
		out = append(out, d)
	}
	return out
}

type tnode struct {
	id   proto.NodeID
	key  ed25519.PrivateKey
	env  *hEnv
	node *node.Node
	reg  *Registry
	down bool
}

type inflightFrame struct {
	from, to proto.NodeID
	frame    []byte
}

// cluster drives registry nodes by hand: each round completes disk ops,
// delivers the frames sent in the previous round (unless cut), and advances
// every clock by one millisecond.
type cluster struct {
	t        testing.TB
	nodes    []*tnode
	replicas []proto.NodeID
	cfg      Config
	frames   []inflightFrame
	cut      func(from, to proto.NodeID, frame []byte) bool
	nextReq  env.RequestID
	seed     uint64
}

func testKey(i int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, uint64(i)+1)
	return ed25519.NewKeyFromSeed(seed)
}

// newCluster builds replicas replica nodes followed by clients non-replica
// nodes and starts them all.
func newCluster(t testing.TB, replicas, clients int, cfg Config) *cluster {
	c := &cluster{t: t, cfg: cfg, seed: 1}
	for i := 0; i < replicas+clients; i++ {
		key := testKey(i)
		c.nodes = append(c.nodes, &tnode{id: proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey)), key: key})
	}
	for i := 0; i < replicas; i++ {
		c.replicas = append(c.replicas, c.nodes[i].id)
	}
	slices.SortFunc(c.replicas, proto.NodeID.Compare)
	for _, n := range c.nodes {
		c.boot(n, newDisk(), 0)
	}
	return c
}

func (c *cluster) boot(n *tnode, disk *hDisk, clock env.Time) {
	c.seed++
	e := &hEnv{Env: envtest.New(n.id, c.seed), disk: disk}
	if clock != 0 {
		e.Clock = clock
	}
	cfg := c.cfg
	cfg.Key, cfg.Replicas = n.key, c.replicas
	n.env, n.reg, n.down = e, New(cfg), false
	n.node = node.New(e, node.Config{Invariants: true}, n.reg)
	n.node.Step(env.Start{})
}

func (c *cluster) byID(id proto.NodeID) *tnode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

func (c *cluster) round() {
	for _, n := range c.nodes {
		if n.down {
			continue
		}
		for _, in := range n.env.completeDisk() {
			n.node.Step(in)
		}
		for _, s := range n.env.TakeSent() {
			c.frames = append(c.frames, inflightFrame{from: n.id, to: s.To, frame: s.Frame})
		}
	}
	frames := c.frames
	c.frames = nil
	for _, f := range frames {
		to := c.byID(f.to)
		if to == nil || to.down || c.byID(f.from).down || (c.cut != nil && c.cut(f.from, f.to, f.frame)) {
			continue
		}
		to.node.Step(env.Message{From: f.from, Frame: f.frame})
	}
	for _, n := range c.nodes {
		if n.down {
			continue
		}
		for _, in := range n.env.Advance(time.Millisecond) {
			n.node.Step(in)
		}
	}
}

func (c *cluster) run(d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Millisecond {
		c.round()
	}
}

// leader returns the index of the single leader, running rounds until
// there is one (or failing after limit).
func (c *cluster) leader(limit time.Duration) int {
	c.t.Helper()
	for waited := time.Duration(0); waited < limit; waited += time.Millisecond {
		var leaders []int
		for i, n := range c.nodes {
			if !n.down && n.reg.IsLeader() {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		c.round()
	}
	c.t.Fatalf("no single leader after %v", limit)
	return -1
}

// submit sends a request to node i and returns its id.
func (c *cluster) submit(i int, body any) env.RequestID {
	c.nextReq++
	c.nodes[i].node.Step(env.Request{ID: c.nextReq, Service: ServiceName, Body: body})
	return c.nextReq
}

// await runs rounds until node i replied to id (or limit passes).
func (c *cluster) await(i int, id env.RequestID, limit time.Duration) (Result, bool) {
	for waited := time.Duration(0); ; waited += time.Millisecond {
		for _, r := range c.nodes[i].env.Replies {
			if r.ID == id {
				return r.Resp.(Result), true
			}
		}
		if waited >= limit {
			return Result{}, false
		}
		c.round()
	}
}

// do submits and awaits one op, failing the test if no reply comes within
// the op timeout plus slack.
func (c *cluster) do(i int, body any) Result {
	c.t.Helper()
	id := c.submit(i, body)
	res, ok := c.await(i, id, c.opTimeout()+time.Second)
	if !ok {
		c.t.Fatalf("node %d: no reply to %T", i, body)
	}
	return res
}

func (c *cluster) opTimeout() time.Duration { return c.cfg.withDefaults().OpTimeout }

// crash stops node i, dropping its unsynced writes.
func (c *cluster) crash(i int) *hDisk {
	n := c.nodes[i]
	n.down = true
	n.env.disk.crash()
	return n.env.disk
}

func (c *cluster) restart(i int) {
	n := c.nodes[i]
	c.boot(n, n.env.disk, n.env.Clock)
}

// converged reports whether every running replica has the same applied
// index, state hash and chain hash.
func (c *cluster) converged() bool {
	var first *Registry
	for _, n := range c.nodes {
		if n.down || n.reg.replica < 0 || n.reg.Failed() {
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
	for waited := time.Duration(0); waited < limit; waited += time.Millisecond {
		if c.converged() {
			return
		}
		c.round()
	}
	for i, n := range c.nodes {
		if n.reg.replica >= 0 {
			c.t.Logf("node %d: applied %d state %x chain %x", i, n.reg.AppliedIndex(), n.reg.StateHash(), n.reg.ChainHash())
		}
	}
	c.t.Fatalf("replicas did not converge within %v", limit)
}

// isolate cuts every link to and from node i.
func (c *cluster) isolate(i int) {
	id := c.nodes[i].id
	c.cut = func(from, to proto.NodeID, _ []byte) bool { return from == id || to == id }
}

func (c *cluster) heal() { c.cut = nil }

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
