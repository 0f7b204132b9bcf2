package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/workload"
)

// FinalReadRoundsMax bounds the rounds of final reads of the content
// durability check (an object whose read failed is read again from
// another node in the next round).
const FinalReadRoundsMax = 3

// contentClients drive the scenario's content workload (put, get,
// range_get) through PUT /o and GET /o/{addr} and record it in the
// simulator's content history format; objects follow sim/workload's
// Content (bytes regenerated from a seed and a size, sizes log-uniform,
// puts of earlier objects once the count is reached).
type contentClients struct {
	clients *clients // the registry clients' HTTP client, start and cluster

	mu       sync.Mutex
	rand     *env.Rand // object draws, under mu
	objects  []workload.ContentObject
	byAddr   map[proto.Addr]int
	acked    []int
	ackedSet map[int]bool

	hmu     sync.Mutex
	history workload.History
}

func newContentClients(c *clients, rand *env.Rand) *contentClients {
	return &contentClients{clients: c, rand: rand, byAddr: map[proto.Addr]int{}, ackedSet: map[int]bool{}}
}

// object returns the workload object at addr (check.ContentObjects).
func (cc *contentClients) object(addr proto.Addr) (workload.ContentObject, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	i, ok := cc.byAddr[addr]
	if !ok {
		return workload.ContentObject{}, false
	}
	return cc.objects[i], true
}

// acknowledged lists the objects some put of which was acknowledged.
func (cc *contentClients) acknowledged() []workload.ContentObject {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := make([]workload.ContentObject, len(cc.acked))
	for k, i := range cc.acked {
		out[k] = cc.objects[i]
	}
	return out
}

// pickKind draws put, get or range_get; reads need an acknowledged object.
func (cc *contentClients) pickKind(rand *env.Rand) string {
	m := cc.clients.cfg.Mix
	x := rand.Float64() * (m.Put + m.Get + m.RangeGet)
	cc.mu.Lock()
	none := len(cc.acked) == 0
	cc.mu.Unlock()
	switch {
	case x < m.Put || none:
		return workload.OpPut
	case x < m.Put+m.Get:
		return workload.OpGet
	}
	return workload.OpRangeGet
}

// nextObject draws a new object while fewer than Objects.Count exist,
// else picks an existing one to put again.
func (cc *contentClients) nextObject() workload.ContentObject {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cfg := cc.clients.cfg.Objects
	if len(cc.objects) >= cfg.Count {
		return cc.objects[cc.rand.Intn(len(cc.objects))]
	}
	lo, hi := float64(max(cfg.SizeMinBytes, 1)), float64(max(cfg.SizeMaxBytes, cfg.SizeMinBytes, 1))
	size := int64(math.Exp(math.Log(lo) + cc.rand.Float64()*(math.Log(hi)-math.Log(lo))))
	o := workload.NewContentObject(cc.rand.Uint64(), int(min(max(size, int64(lo)), int64(hi))))
	if i, dup := cc.byAddr[o.Addr]; dup {
		return cc.objects[i]
	}
	cc.objects = append(cc.objects, o)
	cc.byAddr[o.Addr] = len(cc.objects) - 1
	return o
}

func (cc *contentClients) pickAcked(rand *env.Rand) workload.ContentObject {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.objects[cc.acked[rand.Intn(len(cc.acked))]]
}

func (cc *contentClients) ack(addr proto.Addr) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if i, ok := cc.byAddr[addr]; ok && !cc.ackedSet[i] {
		cc.ackedSet[i] = true
		cc.acked = append(cc.acked, i)
	}
}

// operate runs one content operation against node target and records it.
func (cc *contentClients) operate(ctx context.Context, client, target int, rand *env.Rand) {
	w := cc.clients
	op := &workload.Op{Client: client, Kind: cc.pickKind(rand), Node: target}
	var obj workload.ContentObject
	req := request{method: http.MethodGet}
	var rangeHeader string
	if op.Kind == workload.OpPut {
		obj = cc.nextObject()
		op.Input = map[string]any{"size": obj.Size, "seed": obj.Seed}
		req = request{method: http.MethodPut, path: "/o", body: obj.Bytes(), auth: true}
	} else {
		obj = cc.pickAcked(rand)
		var offset, length uint64
		if op.Kind == workload.OpRangeGet {
			offset = rand.Uint64n(uint64(obj.Size))
			length = 1 + rand.Uint64n(uint64(obj.Size)-offset)
			rangeHeader = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
		}
		op.Input = map[string]any{"addr": obj.Addr.String(), "offset": offset, "length": length}
		req.path = "/o/" + obj.Addr.String()
	}
	cc.hmu.Lock()
	op.Call = w.now()
	cc.history.Ops = append(cc.history.Ops, op)
	cc.hmu.Unlock()
	reqCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	output, unknown := cc.exchange(reqCtx, w.cluster.nodes[target], op, req, rangeHeader, obj)
	if !unknown {
		ret := w.now()
		op.Return, op.Output = &ret, output
	}
}

// exchange runs one content request and maps the answer to an output
// (unknown: the client cannot know whether a put took effect).
func (cc *contentClients) exchange(ctx context.Context, n *node, op *workload.Op, req request, rangeHeader string, obj workload.ContentObject) (map[string]any, bool) {
	hr, err := http.NewRequestWithContext(ctx, req.method, n.url()+req.path, strings.NewReader(string(req.body)))
	if err != nil {
		return map[string]any{"ok": false, "error": "error: " + err.Error()}, false
	}
	if req.auth {
		hr.Header.Set("Authorization", "Bearer "+n.bearer())
	}
	if rangeHeader != "" {
		hr.Header.Set("Range", rangeHeader)
	}
	resp, err := cc.clients.httpFor(op.Client, op.Node).Do(hr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return map[string]any{"ok": false, "error": "unavailable"}, false
		}
		return nil, true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(obj.Size)+ResponseBytesMax))
	if err != nil {
		return nil, true // cut off mid-body: a read says nothing, a put may have landed
	}
	switch {
	case op.Kind == workload.OpPut && resp.StatusCode == http.StatusCreated:
		var res struct {
			Addr string `json:"addr"`
			Size uint64 `json:"size"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			return map[string]any{"ok": false, "error": "error: bad put reply: " + err.Error()}, false
		}
		if res.Addr == obj.Addr.String() {
			cc.ack(obj.Addr)
		}
		return map[string]any{"ok": true, "addr": res.Addr, "size": res.Size}, false
	case op.Kind != workload.OpPut && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent):
		size := uint64(len(body))
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			if _, total, ok := strings.Cut(cr, "/"); ok {
				size, _ = strconv.ParseUint(total, 10, 64)
			}
		}
		return map[string]any{"ok": true, "addr": proto.AddrOf(body).String(), "size": size, "length": len(body)}, false
	}
	var env envelope
	_ = json.Unmarshal(body, &env)
	if env.Code == "UNKNOWN_OUTCOME" {
		return nil, true
	}
	return map[string]any{"ok": false, "error": contentErrorCode(resp.StatusCode, env)}, false
}

// contentErrorCode maps an envelope to sim/workload's content error codes.
func contentErrorCode(status int, env envelope) string {
	switch {
	case env.Code == "NOT_FOUND":
		return "not_found"
	case env.Code == "TOO_LARGE":
		return "too_large"
	case env.Code == "BAD_RANGE":
		return "range"
	case env.Code == "BAD_REQUEST" || env.Code == "BAD_ADDRESS":
		return "bad_request"
	case strings.Contains(env.Message, "corrupt"):
		return "corruption"
	case env.Code == "UNAVAILABLE" || env.Code == "OVERLOADED" || env.Code == "OVER_QUOTA":
		return "unavailable"
	}
	return fmt.Sprintf("error: %d %s %s", status, env.Code, env.Message)
}

// History is the content history; call it once the clients stopped.
func (cc *contentClients) History() *workload.History {
	cc.hmu.Lock()
	defer cc.hmu.Unlock()
	return &cc.history
}

// checkIntegrity runs check.Integrity on the content history.
func (r *run) checkIntegrity() check.Result {
	return check.Integrity(r.content.History(), r.content.object)
}

// checkContentDurability reads every acknowledged object back whole from
// up nodes, in up to FinalReadRoundsMax rounds, and hands the reads to
// check.ContentDurability.
func (r *run) checkContentDurability() check.Result {
	acked := r.content.acknowledged()
	reads := map[proto.Addr]check.FinalRead{}
	pending := acked
	rand := env.NewRand(r.opts.Seed).Derive("final reads")
	for round := 0; round < FinalReadRoundsMax && len(pending) > 0; round++ {
		var failed []workload.ContentObject
		for _, o := range pending {
			rd := r.finalRead(o, r.c.pickUp(rand))
			reads[o.Addr] = rd
			if !rd.Answer || rd.Err != "" {
				failed = append(failed, o)
			}
		}
		pending = failed
	}
	return check.ContentDurability(acked, reads)
}

func (r *run) finalRead(o workload.ContentObject, i int) check.FinalRead {
	rd := check.FinalRead{Object: o, Node: max(i, 0)}
	if i < 0 {
		return rd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*FinalReadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.c.nodes[i].url()+"/o/"+o.Addr.String(), nil)
	if err != nil {
		return rd
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rd
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(o.Size)+ResponseBytesMax))
	if err != nil {
		return rd
	}
	rd.Answer = true
	if resp.StatusCode != http.StatusOK {
		var env envelope
		_ = json.Unmarshal(body, &env)
		rd.Err = contentErrorCode(resp.StatusCode, env)
		return rd
	}
	rd.Addr, rd.Length = proto.AddrOf(body), len(body)
	return rd
}

// contentStats counts the content history as runner's ContentStats does.
func (cc *contentClients) stats() *runner.ContentStats {
	st := &runner.ContentStats{}
	for _, op := range cc.History().Ops {
		switch op.Kind {
		case workload.OpPut:
			st.Puts++
		case workload.OpGet:
			st.Gets++
		case workload.OpRangeGet:
			st.RangeGets++
		}
		switch {
		case op.Unknown():
			st.OpsUnknown++
		case op.Output["ok"] != true:
			if op.Output["error"] == "corruption" && op.Kind != workload.OpPut {
				st.CorruptGets++
			}
		default:
			st.OpsOK++
			if op.Kind == workload.OpPut {
				st.BytesPut += uint64(op.Input["size"].(int))
			} else if n, ok := op.Output["length"].(int); ok {
				st.BytesRead += uint64(n)
			}
		}
	}
	cc.mu.Lock()
	st.Objects, st.Acknowledged = len(cc.objects), len(cc.acked)
	cc.mu.Unlock()
	return st
}
