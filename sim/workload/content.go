package workload

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim"
)

// Content operation kinds as written in histories.
const (
	OpPut      = "put"
	OpGet      = "get"
	OpRangeGet = "range_get"
	// OpSessionPut is the mix's name for a put streamed through an upload
	// session; its history entry is an OpPut whose input has "session"
	// (see sessionPut), so every check of puts judges it as one.
	OpSessionPut = "session_put"
)

// ContentObjectsMax bounds the distinct objects one content workload puts
// (the scenario's objects.count is validated against a bound of the same
// size; this one protects the workload when it is built in code).
const ContentObjectsMax = 100_000

// ContentConfig configures the content clients.
type ContentConfig struct {
	Clients       int
	RatePerSecond float64
	Timeout       time.Duration
	Start, Stop   time.Duration
	// Objects is how many distinct objects the clients put; once every one
	// was put, a put re-puts a random earlier object (an idempotent write).
	Objects int
	// Object sizes are drawn log-uniformly in [SizeMinBytes, SizeMaxBytes]:
	// every order of magnitude is exercised while the total stays small.
	SizeMinBytes, SizeMaxBytes int64
	// Weights of put, get, range_get and session_put (need not sum to
	// 1). A session put streams the object through an upload session in
	// pieces (see sessionPut).
	Put, Get, RangeGet, SessionPut float64
	// SessionAbandon is the share of session puts the client abandons
	// midway (0: none, and no draw is made).
	SessionAbandon float64
	// Path is how the clients reach the nodes (zero: straight to the
	// storage service).
	Path EdgePath
	// Pins is the share of puts sent with Pin (0: none, and no draw is
	// made). A pinned copy must outlive garbage collection on the node
	// that acknowledged it, placement node or not (Content.Pinned).
	Pins float64
	// Unpins is the share of operations that unpin a pinned put
	// acknowledged earlier (storage.Delete to the node that acknowledged
	// it; 0: none, and no draw is made). Half of the acknowledged unpins
	// are followed by the same client re-pinning the object on the same
	// node, so re-pins race that node's garbage collection.
	Unpins float64
	// OnIssue, when set, is called as op (index i of the history) about
	// object addr is sent: the simulator's checks observe the world at
	// the call with it. It must not draw, schedule or change the op.
	OnIssue func(i int, op *Op, addr proto.Addr)
}

// PinnedCopy is a pinned put a node acknowledged: that node must keep a
// local copy.
type PinnedCopy struct {
	Node int
	Addr proto.Addr
	Call time.Duration // when the put was sent
	At   time.Duration // when it was acknowledged
}

// Unpin is one unpin the workload sent: a storage.Delete of Addr to Node.
// Returned is false while (and if) no answer came; a pinned put it may
// have been ordered after is excused from the pins check (see
// PinRequired).
type Unpin struct {
	Node     int
	Addr     proto.Addr
	Call     time.Duration
	Return   time.Duration
	Returned bool
	Err      error
}

// PinRequired says whether pinned copy p must still be held at the end:
// yes unless some unpin of the same object on the same node may have
// taken effect after p, i.e. unless some unpin did not answer before p
// was sent (an unpin that never answered may take effect at any time).
func PinRequired(p PinnedCopy, unpins []Unpin) bool {
	for _, u := range unpins {
		if u.Node == p.Node && u.Addr == p.Addr && (!u.Returned || u.Return >= p.Call) {
			return false
		}
	}
	return true
}

// DurabilityRequired says whether the acknowledged object addr must be
// readable at the end, given when its acknowledged puts were sent (puts)
// and the unpins sent. An unpin is a Delete of the node's copy, placement
// node or not, so the workload itself may remove every copy: an object
// whose every placement node was unpinned late in the run is gone, as
// the storage design says. A put acknowledged by quorum placement nodes
// left a durable copy on each; a placement node never collects its own
// copy, so only an unpin on it removes that copy. The object is therefore
// required when, for some acknowledged put, the unpins of addr that may
// have taken effect after it (not answered before it was sent, as in
// PinRequired) reached fewer than quorum of its placement nodes: one node
// that acknowledged it still holds it. placed says whether node i is a
// placement node of addr (nil: every node counts, never less strict). An
// object with no acknowledged put listed is required.
func DurabilityRequired(addr proto.Addr, puts []time.Duration, unpins []Unpin, placed func(i int) bool, quorum int) bool {
	if len(puts) == 0 {
		return true
	}
	for _, call := range puts {
		hit := map[int]bool{}
		for _, u := range unpins {
			if u.Addr == addr && (placed == nil || placed(u.Node)) && (!u.Returned || u.Return >= call) {
				hit[u.Node] = true
			}
		}
		if len(hit) < quorum {
			return true
		}
	}
	return false
}

// repin is a client's next operation after an acknowledged unpin: a
// pinned put of the same object to the same node.
type repin struct {
	node int
	obj  int
}

// ContentObject is one object of the workload. Its bytes are not kept:
// they are the first Size bytes of env.NewRand(Seed), so the history (which
// records the seed) is enough to recompute them and their address.
type ContentObject struct {
	Addr proto.Addr
	Seed uint64
	Size int
}

// Bytes regenerates the object's bytes; the caller owns the slice.
func (o ContentObject) Bytes() []byte {
	data := make([]byte, o.Size)
	env.NewRand(o.Seed).Fill(data)
	return data
}

// NewContentObject draws nothing: it derives the object of seed and size.
func NewContentObject(seed uint64, size int) ContentObject {
	o := ContentObject{Seed: seed, Size: size}
	o.Addr = proto.AddrOf(o.Bytes())
	return o
}

// Content is the content workload: clients put objects and read back
// (whole or a byte range) objects whose put was acknowledged.
type Content struct {
	cfg     ContentConfig
	w       *sim.World
	rand    *env.Rand
	history *History
	// objects are every object a put was issued for, in order; byAddr
	// indexes them. acked lists, in acknowledgement order, the objects some
	// put of which was acknowledged; ackedSet dedups it.
	objects  []ContentObject
	byAddr   map[proto.Addr]int
	acked    []int
	ackedSet map[int]bool
	// pinned are the pinned puts acknowledged, in answer order.
	pinned []PinnedCopy
	// unpins are the unpins sent, in send order; repins are the clients'
	// pending re-pins.
	unpins []Unpin
	repins map[int]repin
}

// NewContent prepares cfg.Clients clients on w, drawing from the world's
// "content" stream (independent of the registry workload's). Start
// schedules them.
func NewContent(w *sim.World, cfg ContentConfig) *Content {
	cfg.Objects = min(max(cfg.Objects, 1), ContentObjectsMax)
	cfg.SizeMinBytes = max(cfg.SizeMinBytes, 1)
	cfg.SizeMaxBytes = max(cfg.SizeMaxBytes, cfg.SizeMinBytes)
	return &Content{
		cfg: cfg, w: w, rand: w.Rand("content"), history: &History{},
		byAddr: map[proto.Addr]int{}, ackedSet: map[int]bool{}, repins: map[int]repin{},
	}
}

// History is the recorded history (complete once the run is over).
func (c *Content) History() *History { return c.history }

// finisher returns finish, which records op's outcome (output; nil:
// unknown) once, at the simulated now, and issues client's next op after
// a think time (later calls do nothing), and over, whether finish ran.
func (c *Content) finisher(op *Op, client int) (finish func(output map[string]any), over func() bool) {
	done := false
	finish = func(output map[string]any) {
		if done {
			return
		}
		done = true
		if output != nil {
			ret := int64(c.w.Now())
			op.Return = &ret
			op.Output = output
		}
		c.w.After(c.think(), func() { c.issue(client) })
	}
	return finish, func() bool { return done }
}

// Object returns the workload's object at addr.
func (c *Content) Object(addr proto.Addr) (ContentObject, bool) {
	i, ok := c.byAddr[addr]
	if !ok {
		return ContentObject{}, false
	}
	return c.objects[i], true
}

// Objects is how many distinct objects a put was issued for.
func (c *Content) Objects() int { return len(c.objects) }

// Acknowledged returns the objects some put of which was acknowledged, in
// acknowledgement order. The caller owns the slice.
func (c *Content) Acknowledged() []ContentObject {
	out := make([]ContentObject, len(c.acked))
	for k, i := range c.acked {
		out[k] = c.objects[i]
	}
	return out
}

// Start schedules every client's first operation.
func (c *Content) Start() {
	if c.cfg.Clients == 0 || c.cfg.RatePerSecond <= 0 {
		return
	}
	for client := 0; client < c.cfg.Clients; client++ {
		c.w.At(c.cfg.Start+c.think(), func() { c.issue(client) })
	}
}

// think draws the pause before a client's next operation.
func (c *Content) think() time.Duration {
	mean := float64(c.cfg.Clients) / c.cfg.RatePerSecond
	return time.Duration(c.rand.ExpFloat64() * mean * float64(time.Second))
}

// pickKind draws an operation; reads need an acknowledged object, so
// until there is one every operation is a put.
func (c *Content) pickKind() string {
	total := c.cfg.Put + c.cfg.Get + c.cfg.RangeGet + c.cfg.SessionPut
	x := c.rand.Float64() * total
	switch {
	case x >= total-c.cfg.SessionPut && c.cfg.SessionPut > 0:
		return OpSessionPut
	case len(c.acked) == 0 || x < c.cfg.Put:
		return OpPut
	case x < c.cfg.Put+c.cfg.Get:
		return OpGet
	}
	return OpRangeGet
}

// pickNode draws an up node, or -1 when every node is down.
func (c *Content) pickNode() int {
	n := c.w.Nodes()
	start := c.rand.Intn(n)
	for k := 0; k < n; k++ {
		if i := (start + k) % n; c.w.Up(i) {
			return i
		}
	}
	return -1
}

func (c *Content) issue(client int) {
	if c.w.Now() >= c.cfg.Stop {
		return
	}
	if c.cfg.Unpins > 0 && len(c.pinned) > 0 && c.rand.Bool(c.cfg.Unpins) {
		c.unpin(client)
		return
	}
	rp, repinning := c.repins[client]
	delete(c.repins, client)
	target := c.pickNode()
	if repinning && c.w.Up(rp.node) {
		target = rp.node
	} else {
		repinning = false
	}
	if target < 0 {
		c.w.After(c.think(), func() { c.issue(client) })
		return
	}
	op := &Op{Client: client, Kind: c.pickKind(), Call: int64(c.w.Now()), Node: target}
	if op.Kind == OpSessionPut && !repinning {
		c.sessionPut(client, op)
		return
	}
	var body any
	var obj int
	if repinning {
		op.Kind, obj = OpPut, rp.obj
		o := c.objects[obj]
		op.Input = map[string]any{"size": o.Size, "seed": o.Seed, "pin": true}
		body = storage.Put{Data: o.Bytes(), Pin: true}
	} else {
		body, obj = c.build(op)
	}
	c.history.Ops = append(c.history.Ops, op)
	if c.cfg.OnIssue != nil {
		c.cfg.OnIssue(len(c.history.Ops)-1, op, c.objects[obj].Addr)
	}
	finish, over := c.finisher(op, client)
	call := EdgeCall{Node: target, Op: auth.OpRead, Service: "storage", Body: body}
	refused := func(e admission.Refusal) any {
		err := fmt.Errorf("%w: %w", storage.ErrUnavailable, edgeRefusal(e))
		if op.Kind == OpPut {
			return storage.PutResult{Err: err}
		}
		return storage.GetResult{Err: err}
	}
	if put, ok := body.(storage.Put); ok {
		o := c.objects[obj]
		call.Write, call.Authenticated, call.Op, call.Resource, call.Bytes = true, true, auth.OpWrite, o.Addr.String(), int64(len(put.Data))
	} else {
		call.Resource = c.objects[obj].Addr.String()
	}
	c.cfg.Path.send(c.w, call, client, refused, func(resp any) {
		if !over() { // a reply after the client gave up stays unknown
			finish(c.outcome(op, obj, resp))
		}
	})
	c.w.After(c.cfg.Timeout, func() { finish(nil) })
}

// build fills op.Input and returns the request body and the object the
// operation is about (an index into c.objects).
func (c *Content) build(op *Op) (any, int) {
	if op.Kind == OpPut {
		i := c.nextObject()
		o := c.objects[i]
		op.Input = map[string]any{"size": o.Size, "seed": o.Seed}
		if c.cfg.Pins > 0 && c.rand.Bool(c.cfg.Pins) {
			op.Input["pin"] = true
			return storage.Put{Data: o.Bytes(), Pin: true}, i
		}
		return storage.Put{Data: o.Bytes()}, i
	}
	i := c.acked[c.rand.Intn(len(c.acked))]
	o := c.objects[i]
	var offset, length uint64
	if op.Kind == OpRangeGet {
		offset = c.rand.Uint64n(uint64(o.Size))
		length = 1 + c.rand.Uint64n(uint64(o.Size)-offset)
	}
	op.Input = map[string]any{"addr": o.Addr.String(), "offset": offset, "length": length}
	return storage.Get{Addr: o.Addr, Offset: offset, Length: length}, i
}

// nextObject draws a new object while fewer than cfg.Objects exist, else
// picks an existing one to put again.
func (c *Content) nextObject() int {
	if len(c.objects) >= c.cfg.Objects {
		return c.rand.Intn(len(c.objects))
	}
	o := NewContentObject(c.rand.Uint64(), c.drawSize())
	if i, dup := c.byAddr[o.Addr]; dup {
		return i // the same seed and size twice: the same object
	}
	c.objects = append(c.objects, o)
	c.byAddr[o.Addr] = len(c.objects) - 1
	return len(c.objects) - 1
}

// drawSize draws log-uniformly in [SizeMinBytes, SizeMaxBytes].
func (c *Content) drawSize() int {
	lo, hi := float64(c.cfg.SizeMinBytes), float64(c.cfg.SizeMaxBytes)
	size := int64(math.Exp(math.Log(lo) + c.rand.Float64()*(math.Log(hi)-math.Log(lo))))
	return int(min(max(size, c.cfg.SizeMinBytes), c.cfg.SizeMaxBytes))
}

// outcome maps a storage reply to a history output; nil means the outcome
// is unknown. An acknowledged put marks its object acknowledged.
func (c *Content) outcome(op *Op, obj int, resp any) map[string]any {
	switch res := resp.(type) {
	case storage.PutResult:
		if errors.Is(res.Err, storage.ErrUnknownOutcome) {
			return nil
		}
		if res.Err != nil {
			return map[string]any{"ok": false, "error": ContentErrorCode(res.Err)}
		}
		if op.Input["pin"] != nil && res.Addr == c.objects[obj].Addr {
			c.pinned = append(c.pinned, PinnedCopy{Node: op.Node, Addr: res.Addr, Call: time.Duration(op.Call), At: c.w.Now()})
		}
		if res.Addr == c.objects[obj].Addr && !c.ackedSet[obj] {
			c.ackedSet[obj] = true
			c.acked = append(c.acked, obj)
		}
		return map[string]any{"ok": true, "addr": res.Addr.String(), "size": res.Size}
	case storage.GetResult:
		if res.Err != nil {
			return map[string]any{"ok": false, "error": ContentErrorCode(res.Err)}
		}
		return map[string]any{"ok": true, "addr": proto.AddrOf(res.Data).String(), "size": res.Size, "length": len(res.Data)}
	}
	return map[string]any{"ok": false, "error": fmt.Sprintf("unexpected reply %T", resp)}
}

// Pinned returns the pinned puts acknowledged so far.
func (c *Content) Pinned() []PinnedCopy { return c.pinned }

// Unpins returns the unpins sent so far.
func (c *Content) Unpins() []Unpin { return c.unpins }

// unpin sends a Delete of a random acknowledged pinned copy to the node
// that holds it (when that node is up), and on success draws whether the
// client re-pins it next. Unpins are not history operations: the content
// checks' model has no delete; the pins and durability checks read them
// from Unpins (PinRequired, DurabilityRequired).
func (c *Content) unpin(client int) {
	p := c.pinned[c.rand.Intn(len(c.pinned))]
	next := func() { c.w.After(c.think(), func() { c.issue(client) }) }
	if !c.w.Up(p.Node) {
		next()
		return
	}
	k := len(c.unpins)
	c.unpins = append(c.unpins, Unpin{Node: p.Node, Addr: p.Addr, Call: c.w.Now()})
	done := false
	finish := func(err error, answered bool) {
		if done {
			return
		}
		done = true
		if answered {
			u := &c.unpins[k]
			u.Return, u.Returned, u.Err = c.w.Now(), true, err
			if err == nil && c.rand.Bool(0.5) {
				c.repins[client] = repin{node: p.Node, obj: c.byAddr[p.Addr]}
			}
		}
		next()
	}
	call := EdgeCall{Node: p.Node, Op: auth.OpDelete, Service: "storage", Body: storage.Delete{Addr: p.Addr},
		Write: true, Authenticated: true, Resource: p.Addr.String()}
	refused := func(e admission.Refusal) any {
		return storage.DeleteResult{Err: fmt.Errorf("%w: %w", storage.ErrUnavailable, edgeRefusal(e))}
	}
	c.cfg.Path.send(c.w, call, client, refused, func(resp any) {
		res, ok := resp.(storage.DeleteResult)
		if !ok {
			res.Err = fmt.Errorf("unexpected reply %T", resp)
		}
		finish(res.Err, true)
	})
	c.w.After(c.cfg.Timeout, func() { finish(nil, false) })
}

// ContentErrorCode is the history's stable error string for a storage
// error.
func ContentErrorCode(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{storage.ErrNotFound, "not_found"}, {storage.ErrCorruption, "corruption"}, {storage.ErrTooLarge, "too_large"},
		{storage.ErrRange, "range"}, {storage.ErrUnavailable, "unavailable"}, {storage.ErrUnknownOutcome, "unknown_outcome"},
		{storage.ErrBadRequest, "bad_request"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "error: " + err.Error()
}
