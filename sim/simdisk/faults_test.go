package simdisk

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

func put(key string, value []byte) *env.DiskOp {
	return &env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: value}
}

func get(key string) *env.DiskOp { return &env.DiskOp{Kind: env.DiskGet, Key: []byte(key)} }

func mustApply(t *testing.T, d *Disk, op *env.DiskOp) env.DiskResult {
	t.Helper()
	res := d.Apply(op)
	if res.Err != nil {
		t.Fatalf("%s %q: %v", op.Kind, op.Key, res.Err)
	}
	return res
}

// withinBinomial fails unless count is within 6 standard deviations of the
// mean of a binomial(n, p): a false alarm has odds below one in 10^8.
func withinBinomial(t *testing.T, what string, count, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	slack := 6 * math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(count)-mean) > slack {
		t.Fatalf("%s: %d of %d, want %.0f ± %.0f", what, count, n, mean, slack)
	}
}

func hammingDistance(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

func TestReadErrorRate(t *testing.T) {
	d := New(env.NewRand(1))
	mustApply(t, d, put("k", []byte("value")))
	d.SetFaults(Faults{ReadErrorProb: 0.1})
	const n = 20000
	failures := 0
	for i := range n {
		op := get("k")
		if i%2 == 1 {
			op = &env.DiskOp{Kind: env.DiskScan, Limit: 10}
		}
		res := d.Apply(op)
		if res.Err != nil {
			if !errors.Is(res.Err, env.ErrDiskIO) || res.Found || len(res.Pairs) > 0 {
				t.Fatalf("failed read: err %v found=%v pairs=%d", res.Err, res.Found, len(res.Pairs))
			}
			failures++
			continue
		}
		if op.Kind == env.DiskGet && string(res.Value) != "value" || op.Kind == env.DiskScan && len(res.Pairs) != 1 {
			t.Fatalf("successful read returned wrong data: %+v", res)
		}
	}
	withinBinomial(t, "read errors", failures, n, 0.1)
	if s := d.Stats(); s.Errors != uint64(failures) || s.Reads != n {
		t.Fatalf("stats %+v, want %d errors of %d reads", s, failures, n)
	}
}

// TestWriteErrorsChangeNothing: a failed put, delete or batch leaves no
// trace, and the error rate matches the configuration.
func TestWriteErrorsChangeNothing(t *testing.T) {
	d := New(env.NewRand(2))
	d.SetFaults(Faults{WriteErrorProb: 0.2})
	want := map[string][]byte{}
	const n = 12000
	failures := 0
	for i := range n {
		key := fmt.Sprintf("k%d", i%500)
		var op *env.DiskOp
		switch i % 3 {
		case 0:
			op = put(key, []byte(fmt.Sprint(i)))
		case 1:
			op = &env.DiskOp{Kind: env.DiskDelete, Key: []byte(key)}
		default:
			op = &env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
				{Key: []byte(key), Value: []byte(fmt.Sprint(i))},
				{Key: []byte(key + "/b"), Value: []byte("b")},
			}}
		}
		unsynced := d.Stats().UnsyncedWrites
		if res := d.Apply(op); res.Err != nil {
			if !errors.Is(res.Err, env.ErrDiskIO) {
				t.Fatalf("write failed with %v, want env.ErrDiskIO", res.Err)
			}
			if d.Stats().UnsyncedWrites != unsynced {
				t.Fatal("a failed write entered the unsynced log")
			}
			failures++
			continue
		}
		applyModel(want, op)
	}
	withinBinomial(t, "write errors", failures, n, 0.2)
	if got := d.Snapshot(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("store differs from the successful writes: %d keys, want %d", len(got), len(want))
	}
}

func applyModel(state map[string][]byte, op *env.DiskOp) {
	switch op.Kind {
	case env.DiskPut:
		state[string(op.Key)] = op.Value
	case env.DiskDelete:
		delete(state, string(op.Key))
	case env.DiskBatch:
		for _, w := range op.Batch {
			if w.Delete {
				delete(state, string(w.Key))
			} else {
				state[string(w.Key)] = w.Value
			}
		}
	}
}

// TestFailedSyncMakesNothingDurable: a sync that fails leaves its writes
// unsynced, so a crash loses them; a later successful sync keeps them.
func TestFailedSyncMakesNothingDurable(t *testing.T) {
	d := New(env.NewRand(3))
	mustApply(t, d, put("a", []byte("1")))
	d.SetFaults(Faults{WriteErrorProb: 1})
	if res := d.Apply(&env.DiskOp{Kind: env.DiskSync}); !errors.Is(res.Err, env.ErrDiskIO) {
		t.Fatalf("sync under WriteErrorProb=1: %v", res.Err)
	}
	d.SetFaults(Faults{})
	if r := d.Crash(); r.Unsynced != 1 || r.Survived != 0 {
		t.Fatalf("crash report %+v, want 1 unsynced, 0 survived", r)
	}
	if len(d.Snapshot()) != 0 {
		t.Fatal("a write survived a crash after its sync failed")
	}
	mustApply(t, d, put("a", []byte("2")))
	mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
	d.Crash()
	if v := d.Snapshot()["a"]; string(v) != "2" {
		t.Fatalf("after a good sync and a crash a = %q", v)
	}
}

func TestCorruptRead(t *testing.T) {
	d := New(env.NewRand(4))
	sealed := env.Seal([]byte("registry hard state"))
	mustApply(t, d, put("k", bytes.Clone(sealed)))
	mustApply(t, d, put("empty", nil))
	mustApply(t, d, put("other", []byte("other value")))
	d.SetFaults(Faults{CorruptReadProb: 1})
	for range 50 {
		res := mustApply(t, d, get("k"))
		if hammingDistance(res.Value, sealed) != 1 {
			t.Fatalf("corrupt read %x differs from %x in other than one bit", res.Value, sealed)
		}
		if _, err := env.Unseal(res.Value); !errors.Is(err, env.ErrCorruption) {
			t.Fatalf("Unseal accepted a corrupt read: %v", err)
		}
	}
	if res := mustApply(t, d, get("empty")); !res.Found || len(res.Value) != 0 {
		t.Fatalf("an empty value cannot be corrupted, got %q", res.Value)
	}
	scan := mustApply(t, d, &env.DiskOp{Kind: env.DiskScan, Limit: 10})
	flipped := 0
	for _, kv := range scan.Pairs {
		stored := d.values[string(kv.Key)]
		switch hammingDistance(kv.Value, stored) {
		case 0:
		case 1:
			flipped++
		default:
			t.Fatalf("scan value of %q differs by more than one bit", kv.Key)
		}
	}
	if flipped != 1 {
		t.Fatalf("a corrupt scan flipped %d values, want 1", flipped)
	}
	keys := mustApply(t, d, &env.DiskOp{Kind: env.DiskScan, Limit: 10, KeysOnly: true})
	if len(keys.Pairs) != 3 || string(keys.Pairs[0].Key) != "empty" || string(keys.Pairs[1].Key) != "k" || string(keys.Pairs[2].Key) != "other" {
		t.Fatalf("keys-only scan under corrupt reads: %v", keys.Pairs)
	}
	for _, kv := range keys.Pairs {
		if kv.Value != nil {
			t.Fatalf("keys-only scan returned a value for %q", kv.Key)
		}
	}
	d.SetFaults(Faults{})
	if res := mustApply(t, d, get("k")); !bytes.Equal(res.Value, sealed) {
		t.Fatal("corrupt reads damaged the stored value")
	}
	if s := d.Stats(); s.CorruptReads != 51 || s.Errors != 0 {
		t.Fatalf("stats %+v, want 51 corrupt reads (none by the keys-only scan) and no errors", s)
	}
}

func TestCorruptWrite(t *testing.T) {
	d := New(env.NewRand(5))
	d.SetFaults(Faults{CorruptWriteProb: 1})
	sealed := env.Seal([]byte("chunk bytes"))
	op := put("k", bytes.Clone(sealed))
	mustApply(t, d, op)
	if !bytes.Equal(op.Value, sealed) {
		t.Fatal("a corrupt write changed the submitter's slice")
	}
	batch := &env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
		{Key: []byte("b1"), Value: bytes.Clone(sealed)},
		{Key: []byte("b2"), Delete: true},
		{Key: []byte("b3"), Value: bytes.Clone(sealed)},
		{Key: []byte("b4"), Value: nil},
	}}
	mustApply(t, d, batch)
	d.SetFaults(Faults{})
	mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
	d.Crash()
	for range 3 { // the flip persists: every read sees the same bytes
		res := mustApply(t, d, get("k"))
		if hammingDistance(res.Value, sealed) != 1 {
			t.Fatalf("stored value %x is not %x with one bit flipped", res.Value, sealed)
		}
		if _, err := env.Unseal(res.Value); !errors.Is(err, env.ErrCorruption) {
			t.Fatalf("Unseal accepted a corrupt write: %v", err)
		}
	}
	distance := hammingDistance(d.values["b1"], sealed) + hammingDistance(d.values["b3"], sealed)
	if distance != 1 || len(d.values["b4"]) != 0 {
		t.Fatalf("a corrupt batch flipped %d bits over its values, want 1", distance)
	}
	if s := d.Stats(); s.CorruptWrites != 2 {
		t.Fatalf("stats count %d corrupt writes, want 2", s.CorruptWrites)
	}
}

func TestFull(t *testing.T) {
	d := New(env.NewRand(6))
	mustApply(t, d, put("a", []byte("1")))
	d.SetFaults(Faults{Full: true})
	writes := []*env.DiskOp{
		put("b", []byte("2")),
		put("a", []byte("3")),
		{Kind: env.DiskDelete, Key: []byte("a")},
		{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: []byte("c"), Value: []byte("4")}}},
	}
	for _, op := range writes {
		if res := d.Apply(op); !errors.Is(res.Err, env.ErrDiskFull) {
			t.Fatalf("%s on a full disk: err %v, want env.ErrDiskFull", op.Kind, res.Err)
		}
	}
	if res := mustApply(t, d, get("a")); string(res.Value) != "1" {
		t.Fatalf("read on a full disk = %q", res.Value)
	}
	mustApply(t, d, &env.DiskOp{Kind: env.DiskScan, Limit: 1})
	mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
	d.Crash()
	if got := d.Snapshot(); len(got) != 1 || string(got["a"]) != "1" {
		t.Fatalf("a full disk changed its contents: %q", got)
	}
	d.SetFaults(Faults{})
	mustApply(t, d, put("b", []byte("2")))
}

// TestTornWrite: the last surviving unsynced put is torn so that Unseal
// rejects it; earlier survivors and synced values are intact. Many seeds
// cover both tearing modes (truncate and garble).
func TestTornWrite(t *testing.T) {
	truncated, garbled := 0, 0
	for seed := range uint64(200) {
		d := New(env.NewRand(seed))
		synced := env.Seal([]byte("synced"))
		mustApply(t, d, put("s", bytes.Clone(synced)))
		mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
		d.SetFaults(Faults{TornWriteProb: 1, UnsyncedSurviveProb: 1})
		first := env.Seal(bytes.Repeat([]byte("first "), 1+int(seed%7)))
		last := env.Seal(bytes.Repeat([]byte("last "), 1+int(seed%300)))
		mustApply(t, d, put("first", bytes.Clone(first)))
		mustApply(t, d, put("last", bytes.Clone(last)))
		report := d.Crash()
		if report != (CrashReport{Unsynced: 2, Survived: 2, Torn: 1}) {
			t.Fatalf("seed %d: crash report %+v", seed, report)
		}
		got := d.Snapshot()
		if !bytes.Equal(got["s"], synced) || !bytes.Equal(got["first"], first) {
			t.Fatalf("seed %d: tearing damaged a value other than the last write", seed)
		}
		if _, err := env.Unseal(got["last"]); !errors.Is(err, env.ErrCorruption) {
			t.Fatalf("seed %d: Unseal accepted torn value %x: %v", seed, got["last"], err)
		}
		if len(got["last"]) < len(last) {
			truncated++
		} else {
			garbled++
		}
	}
	if truncated < 50 || garbled < 50 {
		t.Fatalf("tearing modes unbalanced over 200 crashes: %d truncated, %d garbled", truncated, garbled)
	}
}

// TestTornWriteTargets: a delete cannot be torn; in a batch the torn value
// is the last put whose key the batch does not write again.
func TestTornWriteTargets(t *testing.T) {
	d := New(env.NewRand(8))
	d.SetFaults(Faults{TornWriteProb: 1, UnsyncedSurviveProb: 1})
	mustApply(t, d, put("a", []byte("aaaa")))
	mustApply(t, d, &env.DiskOp{Kind: env.DiskDelete, Key: []byte("a")})
	if r := d.Crash(); r.Torn != 0 || r.Survived != 2 {
		t.Fatalf("crash after a delete: %+v, want 2 survivors, none torn", r)
	}
	mustApply(t, d, &env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
		{Key: []byte("x"), Value: []byte("xxxx")},
		{Key: []byte("y"), Value: []byte("yyyy")},
		{Key: []byte("z"), Value: []byte("zzzz")},
		{Key: []byte("z"), Delete: true},
		{Key: []byte("w"), Delete: true},
	}})
	if r := d.Crash(); r.Torn != 1 {
		t.Fatalf("crash after a batch: %+v, want one torn", r)
	}
	got := d.Snapshot()
	if string(got["x"]) != "xxxx" || string(got["y"]) == "yyyy" || len(got) != 2 {
		t.Fatalf("torn batch state %q: want y torn, x intact, z deleted", got)
	}
}

// TestUnsyncedSurvivePrefix: survivors are exactly a prefix of the unsynced
// ops, and the prefix length follows the geometric law of the probability.
func TestUnsyncedSurvivePrefix(t *testing.T) {
	const ops, trials = 10, 4000
	lengths := make([]int, ops+1)
	for trial := range uint64(trials) {
		d := New(env.NewRand(trial))
		mustApply(t, d, put("base", []byte("durable")))
		mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
		d.SetFaults(Faults{UnsyncedSurviveProb: 0.5})
		for i := range ops {
			mustApply(t, d, put(fmt.Sprintf("k%d", i), []byte("v")))
		}
		report := d.Crash()
		lengths[report.Survived]++
		want := map[string][]byte{"base": []byte("durable")}
		for i := range report.Survived {
			want[fmt.Sprintf("k%d", i)] = []byte("v")
		}
		if got := d.Snapshot(); !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("trial %d: %d survivors but state %q", trial, report.Survived, got)
		}
	}
	// P(k survivors) = 0.5^(k+1) for k < ops.
	for k := range 3 {
		withinBinomial(t, fmt.Sprintf("crashes keeping %d ops", k), lengths[k], trials, math.Pow(0.5, float64(k+1)))
	}
	for _, p := range []float64{0, 1} {
		d := New(env.NewRand(9))
		d.SetFaults(Faults{UnsyncedSurviveProb: p})
		for i := range ops {
			mustApply(t, d, put(fmt.Sprintf("k%d", i), []byte("v")))
		}
		if r := d.Crash(); r.Survived != int(p)*ops || len(d.Snapshot()) != r.Survived {
			t.Fatalf("UnsyncedSurviveProb=%v: report %+v, %d keys", p, r, len(d.Snapshot()))
		}
	}
}

func TestLatency(t *testing.T) {
	d := New(env.NewRand(10))
	put, sync := put("k", nil), &env.DiskOp{Kind: env.DiskSync}
	if got := d.Latency(put); got != LatencyDefault {
		t.Fatalf("default latency %v, want %v", got, LatencyDefault)
	}
	if got := d.Latency(sync); got != SyncLatencyFactor*LatencyDefault {
		t.Fatalf("default sync latency %v", got)
	}
	d.SetFaults(Faults{Latency: time.Millisecond, LatencyJitter: 0.25})
	var sum time.Duration
	const n = 10000
	for range n {
		got := d.Latency(put)
		if got < 750*time.Microsecond || got > 1250*time.Microsecond {
			t.Fatalf("jittered latency %v outside [0.75ms, 1.25ms]", got)
		}
		sum += got
	}
	// The mean of n uniform draws over ±0.25ms has a standard error of
	// 0.25ms/sqrt(3n) ≈ 1.4µs; allow 10µs.
	if mean := sum / n; mean < 990*time.Microsecond || mean > 1010*time.Microsecond {
		t.Fatalf("mean latency %v, want about 1ms", mean)
	}
}

func TestFaultsValidate(t *testing.T) {
	bad := []Faults{
		{Latency: -1},
		{LatencyJitter: 1.5},
		{ReadErrorProb: -0.1},
		{WriteErrorProb: math.NaN()},
		{CorruptReadProb: 2},
		{CorruptWriteProb: -1},
		{TornWriteProb: 1.01},
		{UnsyncedSurviveProb: math.Inf(1)},
	}
	for _, f := range bad {
		if f.Validate() == nil {
			t.Fatalf("Validate accepted %+v", f)
		}
	}
	good := Faults{Latency: time.Second, LatencyJitter: 1, ReadErrorProb: 1, TornWriteProb: 0.5, Full: true}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SetFaults accepted an invalid configuration")
		}
	}()
	New(env.NewRand(1)).SetFaults(bad[0])
}
