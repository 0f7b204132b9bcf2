package disktest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// Harness drives one disk implementation.
type Harness interface {
	// Submit queues op and returns its id (never zero, never reused).
	Submit(op env.DiskOp) env.OpID
	// Drain completes every submitted op and returns the completions in
	// submission order.
	Drain() []env.DiskDone
	// Crash simulates a crash and reopens over the same storage; unsynced
	// writes may be lost. The suite calls it only with no op outstanding.
	Crash()
}

// Run runs every conformance test; newHarness returns a fresh empty disk
// each call.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(c *client)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"PutOverwrite", testPutOverwrite},
		{"Delete", testDelete},
		{"BatchMixed", testBatchMixed},
		{"BatchInvalidChangesNothing", testBatchInvalid},
		{"FIFOReadYourWrites", testFIFO},
		{"GetCheck", testGetCheck},
		{"GetPart", testGetPart},
		{"FIFOReadRuns", testFIFOReadRuns},
		{"ResultsOwnedByReceiver", testResultsOwned},
		{"ScanSemantics", testScanSemantics},
		{"ScanPaging", testScanPaging},
		{"ScanKeysOnly", testScanKeysOnly},
		{"ValidationErrors", testValidation},
		{"ValidationLimitsAccepted", testValidationLimits},
		{"SyncedSurvivesCrash", testSyncedSurvivesCrash},
		{"UnsyncedAfterCrash", testUnsyncedAfterCrash},
		{"CrashRecoveredStateIsDurable", testCrashRecoveredDurable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(&client{t: t, h: newHarness(t)})
		})
	}
	t.Run("Model", func(t *testing.T) { runModel(t, newHarness) })
}

// failer is the part of testing.TB (and of *rapid.T) the helpers use.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

// client wraps a harness with one-op-at-a-time helpers that fail the test
// on an unexpected outcome.
type client struct {
	t   failer
	h   Harness
	tag uint64
}

// do submits op alone, drains, checks the completion's identity and
// returns its result.
func (c *client) do(op env.DiskOp) env.DiskResult {
	c.t.Helper()
	c.tag++
	op.Tag = c.tag
	id := c.h.Submit(op)
	done := c.h.Drain()
	if len(done) != 1 {
		c.t.Fatalf("drain after one %s returned %d completions, want 1", op.Kind, len(done))
	}
	checkDone(c.t, done[0], id, op)
	return done[0].Result
}

// run tags ops from tagBase and submits them without draining in between,
// then drains and checks every completion's identity, in submission order.
func (c *client) run(ops []*env.DiskOp, tagBase uint64) ([]env.OpID, []env.DiskDone) {
	c.t.Helper()
	ids := make([]env.OpID, len(ops))
	for i, op := range ops {
		op.Tag = tagBase + uint64(i)
		ids[i] = c.h.Submit(*op)
	}
	done := c.h.Drain()
	if len(done) != len(ops) {
		c.t.Fatalf("drain returned %d completions for %d ops", len(done), len(ops))
	}
	for i, op := range ops {
		checkDone(c.t, done[i], ids[i], *op)
	}
	return ids, done
}

// ok is do for an op that must succeed.
func (c *client) ok(op env.DiskOp) env.DiskResult {
	c.t.Helper()
	res := c.do(op)
	if res.Err != nil {
		c.t.Fatalf("%s %q: unexpected error: %v", op.Kind, op.Key, res.Err)
	}
	return res
}

func (c *client) put(key, value string) {
	c.t.Helper()
	c.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: []byte(value)})
}

func (c *client) del(key string) {
	c.t.Helper()
	c.ok(env.DiskOp{Kind: env.DiskDelete, Key: []byte(key)})
}

func (c *client) sync() {
	c.t.Helper()
	c.ok(env.DiskOp{Kind: env.DiskSync})
}

// wantGet checks that key holds value (present) or is missing.
func (c *client) wantGet(key, value string, present bool) {
	c.t.Helper()
	res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte(key)})
	checkGet(c.t, key, res, value, present)
}

// state reads the whole store by paging through scans.
func (c *client) state() map[string]string {
	c.t.Helper()
	out := map[string]string{}
	var start []byte
	for {
		res := c.ok(env.DiskOp{Kind: env.DiskScan, Start: start, Limit: env.DiskScanLimitMax})
		for _, kv := range res.Pairs {
			out[string(kv.Key)] = string(kv.Value)
		}
		if !res.More {
			return out
		}
		start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	}
}

// wantState checks that the store holds exactly want.
func (c *client) wantState(want map[string]string) {
	c.t.Helper()
	if diff := diffState(c.state(), want); diff != "" {
		c.t.Fatalf("store differs from expectation: %s", diff)
	}
}

func checkDone(t failer, done env.DiskDone, id env.OpID, op env.DiskOp) {
	t.Helper()
	if done.ID != id || id == 0 {
		t.Fatalf("completion has id %d, submit returned %d (must be equal and non-zero)", done.ID, id)
	}
	if done.Op.Kind != op.Kind || done.Op.Tag != op.Tag {
		t.Fatalf("completion echoes %s tag %d, submitted %s tag %d", done.Op.Kind, done.Op.Tag, op.Kind, op.Tag)
	}
}

func checkGet(t failer, key string, res env.DiskResult, value string, present bool) {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("get %q: %v", key, res.Err)
	}
	if res.Found != present {
		t.Fatalf("get %q: found=%v, want %v", key, res.Found, present)
	}
	if present && string(res.Value) != value {
		t.Fatalf("get %q = %q, want %q", key, res.Value, value)
	}
	if !present && len(res.Value) != 0 {
		t.Fatalf("get %q: missing key returned value %q", key, res.Value)
	}
}

// diffState describes the first differences between got and want, or "".
func diffState(got, want map[string]string) string {
	var diffs []string
	for _, k := range env.SortedKeys(want) {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q missing (want %q)", k, want[k]))
		} else if g != want[k] {
			diffs = append(diffs, fmt.Sprintf("%q = %q, want %q", k, g, want[k]))
		}
	}
	for _, k := range env.SortedKeys(got) {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q = %q unexpected", k, got[k]))
		}
	}
	if len(diffs) > 8 {
		diffs = append(diffs[:8], fmt.Sprintf("and %d more", len(diffs)-8))
	}
	return strings.Join(diffs, "; ")
}

func testGetMissing(c *client) {
	c.wantGet("missing", "", false)
	c.put("a", "1")
	c.wantGet("b", "", false)
	c.wantGet("a\x00", "", false)
}

func testPutGet(c *client) {
	c.put("k", "value")
	c.wantGet("k", "value", true)
	c.put("empty", "")
	c.wantGet("empty", "", true) // an empty value is present, not missing
	binary := "\x00\xff\x01\x80"
	c.put(binary, binary)
	c.wantGet(binary, binary, true)
	c.wantState(map[string]string{"k": "value", "empty": "", binary: binary})
}

func testPutOverwrite(c *client) {
	c.put("k", "first value, longer")
	c.put("k", "second")
	c.wantGet("k", "second", true)
	c.put("k", "")
	c.wantGet("k", "", true)
	c.wantState(map[string]string{"k": ""})
}

func testDelete(c *client) {
	c.put("a", "1")
	c.put("b", "2")
	c.del("a")
	c.wantGet("a", "", false)
	c.del("a")       // again: deleting a missing key succeeds
	c.del("missing") // never existed
	c.wantState(map[string]string{"b": "2"})
	c.put("a", "3") // a deleted key can be written again
	c.wantState(map[string]string{"a": "3", "b": "2"})
}

func testBatchMixed(c *client) {
	c.put("a", "old-a")
	c.put("b", "old-b")
	c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
		{Key: []byte("c"), Value: []byte("new-c")},
		{Key: []byte("a"), Delete: true},
		{Key: []byte("b"), Value: []byte("new-b")},
		{Key: []byte("d"), Value: []byte("d1")},
		{Key: []byte("d"), Delete: true}, // later write to the same key wins
		{Key: []byte("e"), Delete: true},
		{Key: []byte("e"), Value: []byte("e1")},
		{Key: []byte("f"), Value: []byte("f1")},
		{Key: []byte("f"), Value: []byte("f2")},
		{Key: []byte("missing"), Delete: true},
	}})
	c.wantState(map[string]string{"b": "new-b", "c": "new-c", "e": "e1", "f": "f2"})
	c.ok(env.DiskOp{Kind: env.DiskBatch}) // an empty batch is valid and changes nothing
	c.wantState(map[string]string{"b": "new-b", "c": "new-c", "e": "e1", "f": "f2"})
}

func testBatchInvalid(c *client) {
	c.put("a", "1")
	before := c.state()
	invalid := [][]env.DiskWrite{
		{{Key: []byte("b"), Value: []byte("2")}, {Key: nil, Value: []byte("x")}},
		{{Key: []byte("a"), Delete: true}, {Key: []byte("c"), Value: make([]byte, env.DiskValueBytesMax+1)}},
		{{Key: []byte("d"), Value: []byte("4")}, {Key: make([]byte, env.DiskKeyBytesMax+1), Delete: true}},
		make([]env.DiskWrite, env.DiskBatchWritesMax+1),
	}
	for i := range invalid[3] {
		invalid[3][i] = env.DiskWrite{Key: fmt.Appendf(nil, "big%05d", i), Value: []byte("v")}
	}
	for i, batch := range invalid {
		res := c.do(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
		if !errors.Is(res.Err, env.ErrDiskInvalid) {
			c.t.Fatalf("invalid batch %d: err %v, want one wrapping env.ErrDiskInvalid", i, res.Err)
		}
		c.wantState(before)
	}
}

// testFIFO submits a run of ops without draining in between: they must
// complete in submission order and each must see the earlier writes.
func testFIFO(c *client) {
	type step struct {
		op      env.DiskOp
		check   func(env.DiskResult) string
		wantGet *string // for gets: nil = missing
	}
	str := func(s string) *string { return &s }
	get := func(key string) env.DiskOp { return env.DiskOp{Kind: env.DiskGet, Key: []byte(key)} }
	steps := []step{
		{op: get("k")},
		{op: env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("1")}},
		{op: get("k"), wantGet: str("1")},
		{op: env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("2")}},
		{op: get("k"), wantGet: str("2")},
		{op: env.DiskOp{Kind: env.DiskDelete, Key: []byte("k")}},
		{op: get("k")},
		{op: env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
			{Key: []byte("k"), Value: []byte("3")}, {Key: []byte("k2"), Value: []byte("4")}}}},
		{op: get("k"), wantGet: str("3")},
		{op: env.DiskOp{Kind: env.DiskSync}},
		{op: env.DiskOp{Kind: env.DiskScan, Prefix: []byte("k"), Limit: 10}, check: func(r env.DiskResult) string {
			if len(r.Pairs) != 2 || string(r.Pairs[0].Key) != "k" || string(r.Pairs[1].Value) != "4" || r.More {
				return fmt.Sprintf("scan sees %v more=%v, want [k=3 k2=4]", r.Pairs, r.More)
			}
			return ""
		}},
		{op: env.DiskOp{Kind: env.DiskGet, Key: nil}, check: func(r env.DiskResult) string {
			if !errors.Is(r.Err, env.ErrDiskInvalid) {
				return fmt.Sprintf("invalid get in a run: err %v", r.Err)
			}
			return ""
		}},
		{op: get("k2"), wantGet: str("4")}, // an invalid op does not disturb the queue
	}
	ops := make([]*env.DiskOp, len(steps))
	for i := range steps {
		ops[i] = &steps[i].op
	}
	ids, done := c.run(ops, 1000)
	seen := map[env.OpID]bool{}
	for i, s := range steps {
		if seen[ids[i]] {
			c.t.Fatalf("op id %d reused", ids[i])
		}
		seen[ids[i]] = true
		switch {
		case s.check != nil:
			if msg := s.check(done[i].Result); msg != "" {
				c.t.Fatalf("step %d: %s", i, msg)
			}
		case s.op.Kind == env.DiskGet:
			value, present := "", s.wantGet != nil
			if present {
				value = *s.wantGet
			}
			checkGet(c.t, string(s.op.Key), done[i].Result, value, present)
		case done[i].Result.Err != nil:
			c.t.Fatalf("step %d (%s): %v", i, s.op.Kind, done[i].Result.Err)
		}
	}
}

func testResultsOwned(c *client) {
	c.put("a", "alpha")
	c.put("b", "beta")
	res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")})
	clear(res.Value)
	scan := c.ok(env.DiskOp{Kind: env.DiskScan, Limit: 10})
	for _, kv := range scan.Pairs {
		clear(kv.Key)
		clear(kv.Value)
	}
	c.wantState(map[string]string{"a": "alpha", "b": "beta"})
}

// testGetPart: a get with Offset and Length returns that part of the
// value, runs its Check on the part, reads into Into when it fits, and
// refuses a part beyond the value (ErrDiskInvalid, the key found) or an
// offset without a length; a part on another kind is invalid. Values of
// several sizes (a large one lives in io/pebbledisk's side segments).
func testGetPart(c *client) {
	for _, size := range []int{5, 100 << 10} {
		value := make([]byte, size)
		for i := range value {
			value[i] = byte(i*7 + i>>8)
		}
		c.put("v", string(value))
		for _, p := range [][2]int{{0, size}, {1, size - 1}, {size / 2, 1}, {size - 1, 1}, {size / 3, size / 3}} {
			var seen []byte
			into := make([]byte, 0, p[1])
			res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("v"), Offset: uint64(p[0]), Length: uint64(p[1]), Into: into,
				Check: func(v []byte) error { seen = bytes.Clone(v); return nil }})
			want := value[p[0] : p[0]+p[1]]
			if !res.Found || !bytes.Equal(res.Value, want) {
				c.t.Fatalf("%d bytes: part %d+%d: found=%v, %d bytes, equal %v", size, p[0], p[1], res.Found, len(res.Value), bytes.Equal(res.Value, want))
			}
			if !res.Checked || !bytes.Equal(seen, want) {
				c.t.Fatalf("%d bytes: part %d+%d: checked=%v, the check saw %d bytes, not the part", size, p[0], p[1], res.Checked, len(seen))
			}
		}
		for _, p := range [][2]int{{size, 1}, {0, size + 1}, {size - 1, 2}} {
			res := c.do(env.DiskOp{Kind: env.DiskGet, Key: []byte("v"), Offset: uint64(p[0]), Length: uint64(p[1])})
			if !errors.Is(res.Err, env.ErrDiskInvalid) || !res.Found || res.Value != nil {
				c.t.Fatalf("%d bytes: part %d+%d beyond the value: found=%v err %v, %d bytes", size, p[0], p[1], res.Found, res.Err, len(res.Value))
			}
		}
		res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("missing"), Offset: 1, Length: 1})
		if res.Found || res.Value != nil {
			c.t.Fatalf("part of a missing key: found=%v", res.Found)
		}
	}
	for _, op := range []env.DiskOp{
		{Kind: env.DiskGet, Key: []byte("v"), Offset: 1},
		{Kind: env.DiskGet, Key: []byte("v"), Offset: 1 << 62, Length: 1 << 62},
		{Kind: env.DiskGet, Key: []byte("v"), Length: env.DiskValueBytesMax + 1},
		{Kind: env.DiskPut, Key: []byte("v"), Value: []byte("x"), Length: 1},
		{Kind: env.DiskScan, Prefix: []byte("v"), Limit: 1, Offset: 1, Length: 1},
	} {
		if res := c.do(op); !errors.Is(res.Err, env.ErrDiskInvalid) {
			c.t.Fatalf("%s with part %d+%d: err %v, want ErrDiskInvalid", op.Kind, op.Offset, op.Length, res.Err)
		}
	}
	c.wantState(map[string]string{"v": string(func() []byte {
		v := make([]byte, 100<<10)
		for i := range v {
			v[i] = byte(i*7 + i>>8)
		}
		return v
	}())})
}

func slicesEqualStrings(got []env.KV, want []string) bool {
	return slices.EqualFunc(got, want, func(kv env.KV, k string) bool { return string(kv.Key) == k })
}

// testGetCheck: a get's Check runs on the value read; an intact value is
// returned Checked, a failing one is corruption without the value; a
// missing key is not checked. Values of several sizes (a disk may keep
// large ones apart, as io/pebbledisk's side files do).
func testGetCheck(c *client) {
	for _, size := range []int{5, 100 << 10} {
		good := strings.Repeat("g", size)
		bad := strings.Repeat("b", size)
		c.put("good", good)
		c.put("bad", bad)
		// Each op gets its own check and counter: a disk may run the
		// checks of a run of gets in parallel.
		checkCounting := func(ran *int) func([]byte) error {
			return func(v []byte) error {
				*ran++
				if string(v) != good {
					return errors.New("disktest: not the good value")
				}
				return nil
			}
		}
		var ran [3]int
		res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("good"), Check: checkCounting(&ran[0])})
		if !res.Found || !res.Checked || string(res.Value) != good || ran[0] != 1 {
			c.t.Fatalf("%d bytes: checked get of an intact value: found=%v checked=%v %d bytes, check ran %d times", size, res.Found, res.Checked, len(res.Value), ran[0])
		}
		res = c.do(env.DiskOp{Kind: env.DiskGet, Key: []byte("bad"), Check: checkCounting(&ran[1])})
		if !errors.Is(res.Err, env.ErrCorruption) || res.Value != nil || res.Checked || ran[1] != 1 {
			c.t.Fatalf("%d bytes: checked get of a bad value: err %v, %d bytes, checked=%v, check ran %d times", size, res.Err, len(res.Value), res.Checked, ran[1])
		}
		res = c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("missing"), Check: checkCounting(&ran[2])})
		if res.Found || res.Checked || ran[2] != 0 {
			c.t.Fatalf("checked get of a missing key: found=%v checked=%v, check ran %d times", res.Found, res.Checked, ran[2])
		}
		// The same run without draining in between, after a write.
		c.put("good", good)
		ran = [3]int{}
		ids := []env.OpID{
			c.h.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("bad"), Check: checkCounting(&ran[0])}),
			c.h.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("good"), Check: checkCounting(&ran[1])}),
			c.h.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("missing"), Check: checkCounting(&ran[2])}),
		}
		done := c.h.Drain()
		if len(done) != 3 || done[0].ID != ids[0] || done[1].ID != ids[1] || done[2].ID != ids[2] {
			c.t.Fatalf("checked gets in a run: %d completions, out of order or wrong ids", len(done))
		}
		if ran != [3]int{1, 1, 0} {
			c.t.Fatalf("checks of a run of gets ran %v times, want [1 1 0]", ran)
		}
		if r := done[0].Result; !errors.Is(r.Err, env.ErrCorruption) || r.Value != nil {
			c.t.Fatalf("checked get of a bad value in a run: err %v, %d bytes", r.Err, len(r.Value))
		}
		if r := done[1].Result; r.Err != nil || !r.Checked || string(r.Value) != good {
			c.t.Fatalf("checked get of a good value in a run: err %v checked=%v", r.Err, r.Checked)
		}
		if r := done[2].Result; r.Err != nil || r.Found || r.Checked {
			c.t.Fatalf("checked get of a missing key in a run: %+v", r)
		}
	}
}

// testFIFOReadRuns submits, without draining, runs of gets (a disk may run
// consecutive gets in parallel) between writes of the same keys, small
// and large values: every get must see exactly the writes submitted
// before it, and completions come in submission order.
func testFIFOReadRuns(c *client) {
	keys := []string{"a", "b", "c"}
	value := func(key string, round int) string {
		v := fmt.Sprintf("%s%d|", key, round)
		if key == "c" {
			v = strings.Repeat(v, (100<<10)/len(v)+1) // large: a side file in io/pebbledisk
		}
		return v
	}
	type step struct {
		op   env.DiskOp
		want *string // gets: nil = missing
	}
	var steps []step
	latest := map[string]string{}
	for round := 0; round < 12; round++ {
		for i := 0; i < 2+round%5; i++ { // a run of gets
			key := keys[(round+i)%len(keys)]
			s := step{op: env.DiskOp{Kind: env.DiskGet, Key: []byte(key)}}
			if v, ok := latest[key]; ok {
				s.want = &v
				want := v
				s.op.Check = func(got []byte) error {
					if string(got) != want {
						return errors.New("disktest: get saw another write than the latest before it")
					}
					return nil
				}
			}
			steps = append(steps, s)
		}
		key := keys[round%len(keys)]
		switch round % 4 {
		case 3:
			steps = append(steps, step{op: env.DiskOp{Kind: env.DiskDelete, Key: []byte(key)}})
			delete(latest, key)
		case 2:
			steps = append(steps, step{op: env.DiskOp{Kind: env.DiskSync}})
		default:
			v := value(key, round)
			steps = append(steps, step{op: env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: []byte(v)}})
			latest[key] = v
		}
	}
	ops := make([]*env.DiskOp, len(steps))
	for i := range steps {
		ops[i] = &steps[i].op
	}
	_, done := c.run(ops, 2000)
	for i, s := range steps {
		if s.op.Kind != env.DiskGet {
			if err := done[i].Result.Err; err != nil {
				c.t.Fatalf("step %d (%s): %v", i, s.op.Kind, err)
			}
			continue
		}
		value, present := "", s.want != nil
		if present {
			value = *s.want
		}
		checkGet(c.t, string(s.op.Key), done[i].Result, value, present)
		if done[i].Result.Checked != present {
			c.t.Fatalf("step %d: get of %q checked=%v, want %v", i, s.op.Key, done[i].Result.Checked, present)
		}
	}
}
