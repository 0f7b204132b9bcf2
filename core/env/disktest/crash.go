package disktest

import (
	"bytes"
	"fmt"
	"maps"

	"github.com/ron-network/ron/core/env"
)

// write is one put or delete, as the model sees it.
type write struct {
	key, value string
	del        bool
}

// applyWrites applies one write op to state.
func applyWrites(state map[string]string, op []write) {
	for _, w := range op {
		if w.del {
			delete(state, w.key)
		} else {
			state[w.key] = w.value
		}
	}
}

// checkPrefix reports "" when observed equals durable plus some prefix of
// the unsynced write ops, else a description of the mismatch.
func checkPrefix(observed, durable map[string]string, unsynced [][]write) string {
	state := maps.Clone(durable)
	if maps.Equal(observed, state) {
		return ""
	}
	for _, op := range unsynced {
		applyWrites(state, op)
		if maps.Equal(observed, state) {
			return ""
		}
	}
	return fmt.Sprintf("state after crash is not the durable state plus a prefix of the %d unsynced ops; against the durable state: %s; against every op applied: %s",
		len(unsynced), diffState(observed, durable), diffState(observed, state))
}

// submitWrite turns a model op into a disk op and runs it.
func (c *client) submitWrite(op []write) {
	c.t.Helper()
	if len(op) == 1 && !op[0].del {
		c.put(op[0].key, op[0].value)
		return
	}
	if len(op) == 1 {
		c.del(op[0].key)
		return
	}
	c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: diskWrites(op)})
}

func diskWrites(op []write) []env.DiskWrite {
	out := make([]env.DiskWrite, len(op))
	for i, w := range op {
		out[i] = env.DiskWrite{Key: []byte(w.key), Value: []byte(w.value), Delete: w.del}
	}
	return out
}

func testSyncedSurvivesCrash(c *client) {
	big := string(bytes.Repeat([]byte{0x00, 0xff, 0x5a}, 100_000))
	c.put("a", "1")
	c.put("b", "2")
	c.put("c", "3")
	c.put("big", big)
	c.put("bin\x00", "\x00\x01\x02")
	c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: diskWrites([]write{
		{key: "d", value: "4"}, {key: "e", value: "5"}, {key: "c", del: true}})})
	c.del("b")
	c.put("empty", "")
	c.sync()
	want := map[string]string{"a": "1", "big": big, "bin\x00": "\x00\x01\x02", "d": "4", "e": "5", "empty": ""}
	c.h.Crash()
	c.wantState(want)
	// The disk keeps working after a crash, and a second round is durable too.
	c.put("f", "6")
	c.del("a")
	c.sync()
	c.h.Crash()
	delete(want, "a")
	want["f"] = "6"
	c.wantState(want)
}

// testUnsyncedAfterCrash: unsynced ops may be lost, but only as a suffix,
// and never garbled or half-applied.
func testUnsyncedAfterCrash(c *client) {
	durable := map[string]string{"a": "a0", "b": "b0", "c": "c0"}
	for _, k := range env.SortedKeys(durable) {
		c.put(k, durable[k])
	}
	c.sync()
	unsynced := [][]write{
		{{key: "a", value: "a1"}},
		{{key: "b", del: true}},
		{{key: "c", value: "c1"}, {key: "n1", value: "n1"}, {key: "n2", value: "n2"}, {key: "a", del: true}},
		{{key: "n3", value: "n3"}},
		{{key: "a", value: "a2"}},
	}
	for _, op := range unsynced {
		c.submitWrite(op)
	}
	c.h.Crash()
	observed := c.state()
	if msg := checkPrefix(observed, durable, unsynced); msg != "" {
		c.t.Fatalf("%s", msg)
	}
	_, n1 := observed["n1"]
	_, n2 := observed["n2"]
	if n1 != n2 || n1 != (observed["c"] == "c1") {
		c.t.Fatalf("batch partially applied after crash: %v", observed)
	}
}

// testCrashRecoveredDurable: whatever a crash leaves is durable; a second
// crash without writes changes nothing.
func testCrashRecoveredDurable(c *client) {
	c.put("a", "1")
	c.sync()
	c.h.Crash() // nothing unsynced: nothing changes
	c.wantState(map[string]string{"a": "1"})
	for i := range 20 {
		c.put(fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	c.del("a")
	c.h.Crash()
	first := c.state()
	c.h.Crash()
	c.wantState(first)
}
