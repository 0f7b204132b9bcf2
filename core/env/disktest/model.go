package disktest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

// modelPendingMax bounds the ops the model leaves outstanding before it
// drains on its own, so a long run of submits stays cheap to check.
const modelPendingMax = 64

// Key and value domains of the model test: few keys, chosen to share
// prefixes, so that overwrites, deletes of present keys and prefix scans
// are frequent.
var (
	modelKeys     = []string{"a", "ab", "abc", "b", "ba", "c\x00", "c\xff"}
	modelPrefixes = []string{"", "a", "ab", "b", "c", "d"}
	modelStarts   = []string{"", "a", "ab", "abd", "b", "c", "c\x00", "z"}
)

// model is the reference the disk is compared with. It applies each op at
// submission: with FIFO completion, an op's result must equal the model's
// answer at the moment it was submitted.
//
// durable is the state at the last sync, unsynced the write ops since then
// (oldest first), current the visible state. After a crash the disk's
// state must be durable plus a prefix of unsynced; the model then adopts
// what it observes as both durable and current.
type model struct {
	h        Harness
	durable  map[string]string
	current  map[string]string
	unsynced [][]write
	pending  []expectation
	tag      uint64
}

// expectation is a submitted op and the check of its result.
type expectation struct {
	id    env.OpID
	op    env.DiskOp
	check func(env.DiskResult) string
}

func runModel(t *testing.T, newHarness func(t *testing.T) Harness) {
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{h: newHarness(t), durable: map[string]string{}, current: map[string]string{}}
		rt.Repeat(map[string]func(*rapid.T){
			"put":    m.actionPut,
			"delete": m.actionDelete,
			"batch":  m.actionBatch,
			"get":    m.actionGet,
			"scan":   m.actionScan,
			"sync":   m.actionSync,
			"drain":  m.drain,
			"crash":  m.actionCrash,
		})
		m.drain(rt)
		if diff := diffState(m.readAll(rt), m.current); diff != "" {
			rt.Fatalf("final state differs from the model: %s", diff)
		}
	})
}

func (m *model) submit(rt *rapid.T, op env.DiskOp, check func(env.DiskResult) string) {
	if len(m.pending) >= modelPendingMax {
		m.drain(rt)
	}
	m.tag++
	op.Tag = m.tag
	id := m.h.Submit(op)
	m.pending = append(m.pending, expectation{id: id, op: op, check: check})
}

// drain completes every pending op and checks each against the model.
func (m *model) drain(rt *rapid.T) {
	done := m.h.Drain()
	if len(done) != len(m.pending) {
		rt.Fatalf("drain returned %d completions for %d ops", len(done), len(m.pending))
	}
	for i, e := range m.pending {
		checkDone(rt, done[i], e.id, e.op)
		if msg := e.check(done[i].Result); msg != "" {
			rt.Fatalf("op %d of the drain (%s %q): %s", i, e.op.Kind, e.op.Key, msg)
		}
	}
	m.pending = m.pending[:0]
}

func succeeded(res env.DiskResult) string {
	if res.Err != nil {
		return fmt.Sprintf("unexpected error: %v", res.Err)
	}
	return ""
}

func drawValue(rt *rapid.T, label string) string {
	return string(rapid.SliceOfN(rapid.Byte(), 0, 6).Draw(rt, label))
}

func (m *model) write(rt *rapid.T, op []write) {
	applyWrites(m.current, op)
	m.unsynced = append(m.unsynced, op)
	if len(op) == 1 && !op[0].del {
		m.submit(rt, env.DiskOp{Kind: env.DiskPut, Key: []byte(op[0].key), Value: []byte(op[0].value)}, succeeded)
		return
	}
	if len(op) == 1 {
		m.submit(rt, env.DiskOp{Kind: env.DiskDelete, Key: []byte(op[0].key)}, succeeded)
		return
	}
	m.submit(rt, env.DiskOp{Kind: env.DiskBatch, Batch: diskWrites(op)}, succeeded)
}

func (m *model) actionPut(rt *rapid.T) {
	key := rapid.SampledFrom(modelKeys).Draw(rt, "key")
	m.write(rt, []write{{key: key, value: drawValue(rt, "value")}})
}

func (m *model) actionDelete(rt *rapid.T) {
	m.write(rt, []write{{key: rapid.SampledFrom(modelKeys).Draw(rt, "key"), del: true}})
}

func (m *model) actionBatch(rt *rapid.T) {
	n := rapid.IntRange(2, 5).Draw(rt, "writes") // 1 would be a plain put or delete
	op := make([]write, n)
	for i := range op {
		op[i].key = rapid.SampledFrom(modelKeys).Draw(rt, "key")
		op[i].del = rapid.Bool().Draw(rt, "delete")
		if !op[i].del {
			op[i].value = drawValue(rt, "value")
		}
	}
	m.write(rt, op)
}

func (m *model) actionGet(rt *rapid.T) {
	key := rapid.SampledFrom(modelKeys).Draw(rt, "key")
	value, present := m.current[key]
	m.submit(rt, env.DiskOp{Kind: env.DiskGet, Key: []byte(key)}, func(res env.DiskResult) string {
		switch {
		case res.Err != nil:
			return fmt.Sprintf("unexpected error: %v", res.Err)
		case res.Found != present:
			return fmt.Sprintf("found=%v, model says %v", res.Found, present)
		case present && string(res.Value) != value:
			return fmt.Sprintf("value %q, model says %q", res.Value, value)
		}
		return ""
	})
}

func (m *model) actionScan(rt *rapid.T) {
	prefix := rapid.SampledFrom(modelPrefixes).Draw(rt, "prefix")
	start := rapid.SampledFrom(modelStarts).Draw(rt, "start")
	limit := rapid.IntRange(1, 4).Draw(rt, "limit")
	keysOnly := rapid.Bool().Draw(rt, "keysOnly")
	var want []string
	more := false
	for _, k := range env.SortedKeys(m.current) {
		if !strings.HasPrefix(k, prefix) || k < start {
			continue
		}
		if len(want) == limit {
			more = true
			break
		}
		want = append(want, k)
	}
	values := maps.Clone(m.current)
	op := env.DiskOp{Kind: env.DiskScan, Prefix: []byte(prefix), Start: []byte(start), Limit: limit, KeysOnly: keysOnly}
	m.submit(rt, op, func(res env.DiskResult) string {
		if res.Err != nil {
			return fmt.Sprintf("unexpected error: %v", res.Err)
		}
		if !slicesEqualStrings(res.Pairs, want) || res.More != more {
			return fmt.Sprintf("scan prefix=%q start=%q limit=%d keysOnly=%v: %s more=%v, model says %q more=%v",
				prefix, start, limit, keysOnly, pairKeys(res.Pairs), res.More, want, more)
		}
		for _, kv := range res.Pairs {
			if keysOnly && kv.Value != nil {
				return fmt.Sprintf("keys-only scan returned value %q for %q", kv.Value, kv.Key)
			}
			if !keysOnly && string(kv.Value) != values[string(kv.Key)] {
				return fmt.Sprintf("scan value of %q = %q, model says %q", kv.Key, kv.Value, values[string(kv.Key)])
			}
		}
		return ""
	})
}

func (m *model) actionSync(rt *rapid.T) {
	m.submit(rt, env.DiskOp{Kind: env.DiskSync}, succeeded)
	m.durable = maps.Clone(m.current)
	m.unsynced = nil
}

func (m *model) actionCrash(rt *rapid.T) {
	m.drain(rt)
	m.h.Crash()
	observed := m.readAll(rt)
	if msg := checkPrefix(observed, m.durable, m.unsynced); msg != "" {
		rt.Fatalf("%s", msg)
	}
	m.durable = observed
	m.current = maps.Clone(observed)
	m.unsynced = nil
}

// readAll reads the whole store (the model's key space fits one scan).
func (m *model) readAll(rt *rapid.T) map[string]string {
	c := &client{t: rt, h: m.h, tag: 1 << 62}
	state := c.state()
	for _, k := range env.SortedKeys(state) {
		if !slices.Contains(modelKeys, k) {
			rt.Fatalf("store holds key %q, which the model never wrote", k)
		}
	}
	return state
}
