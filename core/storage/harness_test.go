package storage

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// hdisk is the harness disk: FIFO, with a durable state that a crash falls
// back to (every unsynced write is lost, the harshest prefix the disk
// contract allows).
type hdisk struct {
	durable map[string][]byte
	current map[string][]byte
	gets    int
	// keysOnlyScans counts keys-only scans; failKeysOnly fails the next
	// that many with an I/O error; chunkBytesScanned sums the chunk value
	// bytes scans returned (the orphan sweep must read none).
	keysOnlyScans     int
	failKeysOnly      int
	chunkBytesScanned int
}

func newDisk() *hdisk { return &hdisk{durable: map[string][]byte{}, current: map[string][]byte{}} }

func (d *hdisk) crash() { d.current = maps.Clone(d.durable) }

func (d *hdisk) exec(op *env.DiskOp) env.DiskResult {
	if err := op.Validate(); err != nil {
		return env.DiskResult{Err: err}
	}
	switch op.Kind {
	case env.DiskGet:
		d.gets++
		v, ok := d.current[string(op.Key)]
		return env.DiskResult{Found: ok, Value: bytes.Clone(v)}
	case env.DiskPut:
		d.current[string(op.Key)] = bytes.Clone(op.Value)
	case env.DiskDelete:
		delete(d.current, string(op.Key))
	case env.DiskBatch:
		for _, w := range op.Batch {
			if w.Delete {
				delete(d.current, string(w.Key))
			} else {
				d.current[string(w.Key)] = bytes.Clone(w.Value)
			}
		}
	case env.DiskSync:
		d.durable = maps.Clone(d.current)
	case env.DiskScan:
		return d.scan(op)
	}
	return env.DiskResult{}
}

func (d *hdisk) scan(op *env.DiskOp) env.DiskResult {
	if op.KeysOnly {
		d.keysOnlyScans++
		if d.failKeysOnly > 0 {
			d.failKeysOnly--
			return env.DiskResult{Err: fmt.Errorf("hdisk: injected scan error: %w", env.ErrDiskIO)}
		}
	}
	var res env.DiskResult
	for _, k := range env.SortedKeys(d.current) {
		if !bytes.HasPrefix([]byte(k), op.Prefix) || k < string(op.Start) {
			continue
		}
		if len(res.Pairs) == op.Limit {
			res.More = true
			break
		}
		kv := env.KV{Key: []byte(k)}
		if !op.KeysOnly {
			kv.Value = bytes.Clone(d.current[k])
			if strings.HasPrefix(k, prefixChunk) {
				d.chunkBytesScanned += len(kv.Value)
			}
		}
		res.Pairs = append(res.Pairs, kv)
	}
	return res
}

// henv is envtest's env with the harness disk behind Submit.
type henv struct {
	*envtest.Env
	pending []env.DiskDone
	nextOp  env.OpID
}

func (e *henv) Submit(op env.DiskOp) env.OpID {
	if op.Tag > node.TagMax {
		panic("disk tag exceeds node.TagMax")
	}
	e.nextOp++
	e.pending = append(e.pending, env.DiskDone{ID: e.nextOp, Op: op})
	return e.nextOp
}

func (e *henv) SetTimer(d time.Duration, tag uint64) env.TimerID {
	if tag > node.TagMax {
		panic("timer tag exceeds node.TagMax")
	}
	return e.Env.SetTimer(d, tag)
}

type hnode struct {
	id   proto.NodeID
	env  *henv
	st   *Storage
	disk *hdisk
	down bool
}

type frame struct {
	from, to proto.NodeID
	data     []byte
}

// cluster wires storage machines together: frames are delivered with
// seeded loss, duplication and reordering; disk ops complete in order.
type cluster struct {
	t       testing.TB
	rand    *env.Rand
	nodes   []*hnode
	byID    map[proto.NodeID]*hnode
	cfg     Config
	clock   env.Time
	loss    float64
	dup     float64
	cut     map[proto.NodeID]bool // nodes whose traffic is dropped
	nextReq env.RequestID
	seed    uint64
}

func newCluster(t testing.TB, n int, seed uint64, cfg Config) *cluster {
	c := &cluster{t: t, rand: env.NewRand(seed), byID: map[proto.NodeID]*hnode{}, cut: map[proto.NodeID]bool{}, seed: seed}
	for i := 0; i < n; i++ {
		var id proto.NodeID
		c.rand.Fill(id[:])
		cfg.Members = append(cfg.Members, id)
		h := &hnode{id: id, disk: newDisk()}
		c.nodes = append(c.nodes, h)
		c.byID[id] = h
	}
	c.cfg = cfg
	c.clock = envtest.New(proto.NodeID{}, 0).Clock
	for i := range c.nodes {
		c.start(i)
	}
	c.settle()
	return c
}

// start (re)creates node i's machine over its disk and runs recovery.
func (c *cluster) start(i int) {
	h := c.nodes[i]
	e := envtest.New(h.id, c.seed*1000+uint64(i)+c.rand.Uint64()%1000)
	e.Clock = c.clock
	h.env = &henv{Env: e}
	h.st = New(c.cfg)
	h.st.Init(h.env)
	h.down = false
	c.handle(h, env.Start{})
}

func (c *cluster) handle(h *hnode, in env.Input) {
	envtest.Step(h.st, in)
	h.st.index.check(true)
}

// crash stops node i, dropping its unsynced writes and pending work.
func (c *cluster) crash(i int) {
	h := c.nodes[i]
	h.down = true
	h.env.pending = nil
	h.env.Sent = nil
	h.disk.crash()
}

// step delivers frames and completes disk ops until nothing is pending.
func (c *cluster) step() {
	for round := 0; round < 10000; round++ {
		progress := false
		var frames []frame
		for _, h := range c.nodes {
			for _, s := range h.env.TakeSent() {
				frames = append(frames, frame{from: h.id, to: s.To, data: s.Frame})
			}
		}
		// Reorder: a seeded shuffle of this round's frames.
		for i := len(frames) - 1; i > 0; i-- {
			j := c.rand.Intn(i + 1)
			frames[i], frames[j] = frames[j], frames[i]
		}
		for _, f := range frames {
			progress = true
			c.deliver(f)
			if c.rand.Bool(c.dup) {
				c.deliver(frame{from: f.from, to: f.to, data: bytes.Clone(f.data)})
			}
		}
		for _, h := range c.nodes {
			ops := h.env.pending
			h.env.pending = nil
			for _, d := range ops {
				progress = true
				if h.down {
					break
				}
				d.Result = h.disk.exec(&d.Op)
				c.handle(h, d)
			}
		}
		if !progress {
			return
		}
	}
	c.t.Fatalf("cluster did not quiesce")
}

func (c *cluster) deliver(f frame) {
	to := c.byID[f.to]
	if to == nil || to.down || c.byID[f.from].down || c.cut[f.to] || c.cut[f.from] || c.rand.Bool(c.loss) {
		return
	}
	c.handle(to, env.Message{From: f.from, Frame: f.data})
}

// advance moves every clock forward by d in steps of tick, firing timers.
func (c *cluster) advance(d time.Duration) {
	const tick = time.Millisecond
	for elapsed := time.Duration(0); elapsed < d; elapsed += tick {
		c.clock = c.clock.Add(tick)
		for _, h := range c.nodes {
			if h.down {
				continue
			}
			for _, in := range h.env.Advance(c.clock.Sub(h.env.Clock)) {
				c.handle(h, in)
			}
		}
		c.step()
	}
}

func (c *cluster) settle() { c.step() }

// request sends body to node i and runs the cluster until it replies or
// limit passes; it returns the reply (nil if none).
func (c *cluster) request(i int, body any, limit time.Duration) any {
	h := c.nodes[i]
	c.nextReq++
	id := c.nextReq
	c.handle(h, env.Request{ID: id, Service: "storage", Body: body})
	c.step()
	for waited := time.Duration(0); ; waited += 5 * time.Millisecond {
		for _, r := range h.env.Replies {
			if r.ID == id {
				return r.Resp
			}
		}
		if waited >= limit {
			return nil
		}
		c.advance(5 * time.Millisecond)
	}
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
	return holdsCopy(c.nodes[i].disk.durable, addr)
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
	if err != nil {
		return false
	}
	for _, ch := range m.Chunks {
		if b, ok := state[string(diskKey(prefixChunk, ch.Addr))]; !ok || proto.AddrOf(b) != ch.Addr {
			return false
		}
	}
	return true
}

func (c *cluster) metric(i int, name, label string) float64 {
	return c.nodes[i].env.Recorder.Values[envtest.Key(name, label)]
}

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	env.NewRand(seed).Fill(b)
	return b
}

func (c *cluster) String() string {
	return fmt.Sprintf("cluster(seed=%d, nodes=%d)", c.seed, len(c.nodes))
}
