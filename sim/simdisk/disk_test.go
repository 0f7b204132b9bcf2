package simdisk

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

// workload runs a fixed mix of ops (drawn from its own seed, independent of
// the disk's) with every fault on, and returns a transcript of everything
// observable: latencies, results, errors, crash reports, the final state.
func workload(diskSeed uint64) string {
	ops := env.NewRand(12345)
	d := New(env.NewRand(diskSeed))
	d.SetFaults(Faults{
		LatencyJitter: 0.5, ReadErrorProb: 0.05, WriteErrorProb: 0.05, CorruptReadProb: 0.05,
		CorruptWriteProb: 0.05, TornWriteProb: 0.5, UnsyncedSurviveProb: 0.7,
	})
	var out strings.Builder
	for i := range 3000 {
		key := []byte(fmt.Sprintf("k%02d", ops.Intn(40)))
		value := make([]byte, 1+ops.Intn(16))
		ops.Fill(value)
		var op env.DiskOp
		switch ops.Intn(8) {
		case 0, 1:
			op = env.DiskOp{Kind: env.DiskPut, Key: key, Value: value}
		case 2:
			op = env.DiskOp{Kind: env.DiskDelete, Key: key}
		case 3:
			op = env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key, Value: value}, {Key: []byte("b"), Value: value}}}
		case 4:
			op = env.DiskOp{Kind: env.DiskSync}
		case 5:
			op = env.DiskOp{Kind: env.DiskScan, Prefix: []byte("k1"), Limit: 5}
		default:
			op = env.DiskOp{Kind: env.DiskGet, Key: key}
		}
		fmt.Fprintf(&out, "%d %v %+v\n", i, d.Latency(&op), d.Apply(&op))
		if ops.Intn(100) == 0 {
			fmt.Fprintf(&out, "crash %+v\n", d.Crash())
		}
	}
	snapshot := d.Snapshot()
	for _, k := range env.SortedKeys(snapshot) {
		fmt.Fprintf(&out, "%q=%x\n", k, snapshot[k])
	}
	fmt.Fprintf(&out, "%+v\n", d.Stats())
	return out.String()
}

func TestDeterminism(t *testing.T) {
	a, b := workload(42), workload(42)
	if a != b {
		t.Fatal("the same seed gave different transcripts")
	}
	for _, seed := range []uint64{1, 2, 43} {
		if workload(seed) == a {
			t.Fatalf("seed %d gave the same transcript as seed 42", seed)
		}
	}
	s := New(env.NewRand(0)).Stats()
	if s != (Stats{}) {
		t.Fatalf("a new disk has stats %+v", s)
	}
	// The workload must have exercised every fault, or the comparison
	// proves little.
	for _, want := range []string{"injected read error", "injected write error", "Torn:1", "CorruptReads:", "crash"} {
		if !strings.Contains(a, want) {
			t.Fatalf("the workload never produced %q", want)
		}
	}
}

// TestHealthyDiskDrawsNothing: with faults off and no jitter, the disk does
// not consume its random stream, so a healthy disk never shifts the draws
// of a stream it shares.
func TestHealthyDiskDrawsNothing(t *testing.T) {
	r := env.NewRand(77)
	d := New(r)
	for i := range 100 {
		op := put(fmt.Sprint(i), []byte("v"))
		d.Latency(op)
		mustApply(t, d, op)
		mustApply(t, d, get(fmt.Sprint(i)))
		mustApply(t, d, &env.DiskOp{Kind: env.DiskScan, Limit: 3})
	}
	d.Crash()
	if r.Uint64() != env.NewRand(77).Uint64() {
		t.Fatal("a healthy disk drew from its random stream")
	}
}

func TestStatsAndSnapshots(t *testing.T) {
	d := New(env.NewRand(11))
	mustApply(t, d, put("a", []byte("12345")))
	mustApply(t, d, put("bb", []byte("1")))
	mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
	mustApply(t, d, put("a", []byte("x")))
	mustApply(t, d, &env.DiskOp{Kind: env.DiskDelete, Key: []byte("bb")})
	mustApply(t, d, put("c", []byte("cc")))
	d.Apply(get(""))
	want := Stats{Keys: 2, Bytes: 1 + 1 + 1 + 2, UnsyncedWrites: 3, Reads: 1, Writes: 5, Syncs: 1, Errors: 1}
	if s := d.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	visible := map[string][]byte{"a": []byte("x"), "c": []byte("cc")}
	durable := map[string][]byte{"a": []byte("12345"), "bb": []byte("1")}
	if got := d.Snapshot(); !maps.EqualFunc(got, visible, bytes.Equal) {
		t.Fatalf("snapshot %q", got)
	}
	if got := d.DurableSnapshot(); !maps.EqualFunc(got, durable, bytes.Equal) {
		t.Fatalf("durable snapshot %q", got)
	}
	d.Snapshot()["a"][0] = 'z' // snapshots are copies
	d.Crash()
	if got := d.Snapshot(); !maps.EqualFunc(got, durable, bytes.Equal) {
		t.Fatalf("after a crash %q, want the durable snapshot %q", got, durable)
	}
	if s := d.Stats(); s.UnsyncedWrites != 0 || s.Bytes != 1+5+2+1 {
		t.Fatalf("stats after crash %+v", s)
	}
}

// TestIndexModel compares the block index with a sorted slice across
// random inserts, removals and seeks, including runs long enough to split
// and merge blocks.
func TestIndexModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var x keyIndex
		var model []string
		key := func(n int) string { return fmt.Sprintf("%05d", n) }
		insert := func(k string) {
			x.insert(k)
			if i, found := slices.BinarySearch(model, k); !found {
				model = slices.Insert(model, i, k)
			}
		}
		remove := func(k string) {
			x.remove(k)
			if i, found := slices.BinarySearch(model, k); found {
				model = slices.Delete(model, i, i+1)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"insert": func(rt *rapid.T) { insert(key(rapid.IntRange(0, 3000).Draw(rt, "key"))) },
			"remove": func(rt *rapid.T) { remove(key(rapid.IntRange(0, 3000).Draw(rt, "key"))) },
			"insertRun": func(rt *rapid.T) {
				from, n := rapid.IntRange(0, 3000).Draw(rt, "from"), rapid.IntRange(1, 700).Draw(rt, "n")
				for i := range n {
					insert(key(from + i))
				}
			},
			"removeRun": func(rt *rapid.T) {
				from, n := rapid.IntRange(0, 3000).Draw(rt, "from"), rapid.IntRange(1, 700).Draw(rt, "n")
				for i := range n {
					remove(key(from + i*rapid.IntRange(1, 2).Draw(rt, "stride")))
				}
			},
			"seek": func(rt *rapid.T) {
				start := key(rapid.IntRange(0, 3800).Draw(rt, "start"))
				i, _ := slices.BinarySearch(model, start)
				want := model[i:min(len(model), i+20)]
				var got []string
				for k := range x.from(start) {
					if len(got) == 20 {
						break
					}
					got = append(got, k)
				}
				if !slices.Equal(got, want) {
					rt.Fatalf("seek %q: %q, want %q", start, got, want)
				}
			},
			"": func(rt *rapid.T) {
				if err := x.verify(); err != nil {
					rt.Fatal(err)
				}
				if x.count != len(model) {
					rt.Fatalf("index counts %d keys, model %d", x.count, len(model))
				}
			},
		})
		if got := slices.Collect(x.from("")); !slices.Equal(got, model) {
			rt.Fatalf("full walk differs from the model")
		}
	})
}

// TestLargeStoreScan loads 100k keys in a scrambled order, deletes every
// third, and checks a scan against the expectation computed from the key
// arithmetic. With the invariants tag every op walks the whole index, so
// the store is smaller there.
func TestLargeStoreScan(t *testing.T) {
	n := 100_000
	if env.InvariantsDeep {
		n = 4_000
	}
	d := New(env.NewRand(12))
	for i := range n {
		k := (i * 7919) % n // 7919 is prime and divides neither size: a permutation
		mustApply(t, d, put(fmt.Sprintf("obj/%06d", k), []byte{byte(k)}))
	}
	for k := 0; k < n; k += 3 {
		mustApply(t, d, &env.DiskOp{Kind: env.DiskDelete, Key: []byte(fmt.Sprintf("obj/%06d", k))})
	}
	if err := d.verify(); err != nil {
		t.Fatal(err)
	}
	if blocks := len(d.index.blocks); blocks < n/2/indexBlockKeysMax {
		t.Fatalf("%d keys sit in %d index blocks: splits are not happening", n, blocks)
	}
	from := n/2 + 50
	prefix := fmt.Sprintf("obj/%04d", from/100)
	res := mustApply(t, d, &env.DiskOp{Kind: env.DiskScan, Prefix: []byte(prefix), Start: []byte(fmt.Sprintf("obj/%06d", from)), Limit: 10})
	var want []string
	for k := from; len(want) < 10; k++ {
		if k%3 != 0 {
			want = append(want, fmt.Sprintf("obj/%06d", k))
		}
	}
	if !res.More || !slices.EqualFunc(res.Pairs, want, func(kv env.KV, k string) bool { return string(kv.Key) == k }) {
		t.Fatalf("scan returned %d pairs more=%v, want %q", len(res.Pairs), res.More, want)
	}
	if s := d.Stats(); s.Keys != n-(n+2)/3 {
		t.Fatalf("%d keys, want %d", s.Keys, n-(n+2)/3)
	}
}

func BenchmarkApplyPut(b *testing.B) {
	d := New(env.NewRand(1))
	value := make([]byte, 128)
	keys := make([][]byte, 100_000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key/%08d", (i*7919)%len(keys)))
	}
	for i := 0; b.Loop(); i++ {
		d.Apply(&env.DiskOp{Kind: env.DiskPut, Key: keys[i%len(keys)], Value: value})
		if i%1000 == 999 {
			d.Apply(&env.DiskOp{Kind: env.DiskSync})
		}
	}
}

func BenchmarkApplyGet(b *testing.B) {
	d := New(env.NewRand(1))
	keys := make([][]byte, 100_000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key/%08d", i))
		d.Apply(&env.DiskOp{Kind: env.DiskPut, Key: keys[i], Value: make([]byte, 128)})
	}
	d.Apply(&env.DiskOp{Kind: env.DiskSync})
	for i := 0; b.Loop(); i++ {
		d.Apply(&env.DiskOp{Kind: env.DiskGet, Key: keys[(i*7919)%len(keys)]})
	}
}

func BenchmarkApplyScan(b *testing.B) {
	d := New(env.NewRand(1))
	for i := range 100_000 {
		d.Apply(&env.DiskOp{Kind: env.DiskPut, Key: []byte(fmt.Sprintf("key/%08d", i)), Value: make([]byte, 32)})
	}
	for i := 0; b.Loop(); i++ {
		start := []byte(fmt.Sprintf("key/%08d", (i*7919)%100_000))
		d.Apply(&env.DiskOp{Kind: env.DiskScan, Prefix: []byte("key/"), Start: start, Limit: 16})
	}
}

// Wipe erases synced and unsynced keys alike, keeps the counters, and
// leaves a disk that works (and crashes) like a new one.
func TestWipeErasesEverything(t *testing.T) {
	d := New(env.NewRand(13))
	mustApply(t, d, put("a", []byte("12345")))
	mustApply(t, d, &env.DiskOp{Kind: env.DiskSync})
	mustApply(t, d, put("b", []byte("1")))
	d.Wipe()
	if got := d.Snapshot(); len(got) != 0 {
		t.Fatalf("snapshot after a wipe %q, want empty", got)
	}
	if got := d.DurableSnapshot(); len(got) != 0 {
		t.Fatalf("durable snapshot after a wipe %q, want empty", got)
	}
	if s := d.Stats(); s.Keys != 0 || s.Bytes != 0 || s.UnsyncedWrites != 0 || s.Writes != 2 || s.Syncs != 1 {
		t.Fatalf("stats after a wipe %+v", s)
	}
	if r := d.Apply(get("a")); r.Found {
		t.Fatal("a wiped key was found")
	}
	mustApply(t, d, put("c", []byte("cc")))
	d.Crash()
	if got := d.Snapshot(); len(got) != 0 {
		t.Fatalf("an unsynced write after the wipe survived a crash: %q", got)
	}
}
