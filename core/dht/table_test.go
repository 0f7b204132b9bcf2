package dht

import (
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

// tableModel is the brute-force model: per bucket, the contacts in
// recency order (least recently seen first) with their failure counts.
type tableModel struct {
	self    proto.NodeID
	k       int
	buckets map[int][]entry
}

func (m *tableModel) all() []proto.NodeID {
	var ids []proto.NodeID
	for _, b := range env.SortedKeys(m.buckets) {
		for _, e := range m.buckets[b] {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func (m *tableModel) index(id proto.NodeID) (int, int) {
	b := commonPrefixLen(m.self, id)
	for i, e := range m.buckets[b] {
		if e.id == id {
			return b, i
		}
	}
	return b, -1
}

func drawID(t *rapid.T, self proto.NodeID, known []proto.NodeID) proto.NodeID {
	if len(known) > 0 && rapid.Bool().Draw(t, "reuse") {
		return known[rapid.IntRange(0, len(known)-1).Draw(t, "which")]
	}
	// Bias toward shallow buckets so they fill, as in a real network.
	b := rapid.IntRange(0, 6).Draw(t, "bucket")
	tab := newTable(self, 1)
	return tab.randomIDInBucket(b, env.NewRand(rapid.Uint64().Draw(t, "seed")))
}

// TestTableProperties: under random inserts, removals and failures the
// table never holds more than k per bucket, agrees with the model on every
// insert outcome, and Closest equals a brute-force sort of the model.
func TestTableProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var self proto.NodeID
		copy(self[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "self"))
		k := rapid.IntRange(1, 4).Draw(t, "k")
		tab := newTable(self, k)
		model := &tableModel{self: self, k: k, buckets: map[int][]entry{}}
		t.Repeat(map[string]func(*rapid.T){
			"seen": func(t *rapid.T) {
				id := drawID(t, self, model.all())
				res, head := tab.seen(id)
				want, wantHead := model.seen(id)
				if res != want || head != wantHead {
					t.Fatalf("seen: got (%d, %s), model (%d, %s)", res, head.Short(), want, wantHead.Short())
				}
			},
			"remove": func(t *rapid.T) {
				id := drawID(t, self, model.all())
				b, i := model.index(id)
				if got := tab.remove(id); got != (i >= 0) {
					t.Fatalf("remove: got %v, model has it: %v", got, i >= 0)
				}
				if i >= 0 {
					model.buckets[b] = slices.Delete(model.buckets[b], i, i+1)
				}
			},
			"failed": func(t *rapid.T) {
				id := drawID(t, self, model.all())
				b, i := model.index(id)
				removed := false
				if i >= 0 {
					model.buckets[b][i].fails++
					if int(model.buckets[b][i].fails) >= ContactFailsMax {
						model.buckets[b] = slices.Delete(model.buckets[b], i, i+1)
						removed = true
					}
				}
				if got := tab.failed(id); got != removed {
					t.Fatalf("failed: removed %v, model %v", got, removed)
				}
			},
			"closest": func(t *rapid.T) {
				var target proto.NodeID
				if rapid.Bool().Draw(t, "near") {
					target = drawID(t, self, model.all())
				} else {
					copy(target[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "target"))
				}
				n := rapid.IntRange(0, 12).Draw(t, "n")
				got := tab.appendClosest(nil, target, n)
				want := model.all()
				slices.SortFunc(want, func(a, b proto.NodeID) int { return distanceCmp(&a, &b, &target) })
				want = want[:min(n, len(want))]
				if !equalIDs(got, want) {
					t.Fatalf("closest(%s, %d): got %d ids, want %d (or order differs)", target.Short(), n, len(got), len(want))
				}
			},
			"": func(t *rapid.T) {
				tab.check(true)
				if tab.size != len(model.all()) {
					t.Fatalf("size %d, model %d", tab.size, len(model.all()))
				}
				for b := range tab.buckets {
					if len(tab.buckets[b].entries) > k {
						t.Fatalf("bucket %d holds %d > k = %d", b, len(tab.buckets[b].entries), k)
					}
					if !slices.Equal(tab.buckets[b].entries, model.buckets[b]) && len(tab.buckets[b].entries)+len(model.buckets[b]) > 0 {
						t.Fatalf("bucket %d order differs from the model", b)
					}
				}
			},
		})
	})
}

func (m *tableModel) seen(id proto.NodeID) (insertResult, proto.NodeID) {
	if id == m.self {
		return insertSelf, proto.NodeID{}
	}
	b, i := m.index(id)
	if i >= 0 {
		m.buckets[b] = append(slices.Delete(m.buckets[b], i, i+1), entry{id: id})
		return insertUpdated, proto.NodeID{}
	}
	if len(m.buckets[b]) >= m.k {
		return insertFull, m.buckets[b][0].id
	}
	m.buckets[b] = append(m.buckets[b], entry{id: id})
	return insertAdded, proto.NodeID{}
}

// TestRandomIDInBucket: the generated id lies in the requested bucket.
func TestRandomIDInBucket(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var self proto.NodeID
		copy(self[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "self"))
		b := rapid.IntRange(0, BucketsCount-1).Draw(t, "b")
		tab := newTable(self, 1)
		id := tab.randomIDInBucket(b, env.NewRand(rapid.Uint64().Draw(t, "seed")))
		if got := commonPrefixLen(self, id); got != b {
			t.Fatalf("id in bucket %d, want %d", got, b)
		}
	})
}

// BenchmarkTable100k feeds the 100,000 ids of a network through one node's
// table (as a node would learn them) and reports the heap the filled table
// keeps, per node.
func BenchmarkTable100k(b *testing.B) {
	const networkIDs = 100_000
	r := env.NewRand(1)
	ids := make([]proto.NodeID, networkIDs)
	for i := range ids {
		r.Fill(ids[i][:])
	}
	tables := make([]*table, 0, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var self proto.NodeID
		r.Fill(self[:])
		t := newTable(self, KDefault)
		for _, id := range ids {
			t.seen(id)
		}
		tables = append(tables, &t)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/node")
	b.ReportMetric(float64(tables[0].size), "contacts/node")
	runtime.KeepAlive(tables)
	runtime.KeepAlive(ids) // so only the tables differ between the readings
}

// TestClosestTiesAndLongRuns: appendClosest orders contacts whose distances
// to the target share their first 64 bits (the ranking key ties and the
// rest of the id decides), and returns runs longer than KMax.
func TestClosestTiesAndLongRuns(t *testing.T) {
	r := env.NewRand(5)
	var self, target proto.NodeID // self is zero: bucket b is the ids with b leading zero bits
	target[0] = 0x80
	r.Fill(target[1:])
	tab := newTable(self, 2*KMax)
	var all []proto.NodeID
	for i := 0; i < 2*KMax; i++ {
		id := target // same first 64 bits as the target, so every key is 0
		r.Fill(id[8:])
		all = append(all, id)
	}
	for b := 1; b < 4; b++ {
		for i := 0; i < KMax/2; i++ {
			all = append(all, tab.randomIDInBucket(b, r))
		}
	}
	for _, id := range all {
		if res, _ := tab.seen(id); res != insertAdded {
			t.Fatalf("seen(%s) = %v, want added", id.Short(), res)
		}
	}
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b proto.NodeID) int { return distanceCmp(&a, &b, &target) })
	for _, n := range []int{1, KDefault, KMax + 1, 3 * KMax, len(all) + 5} {
		got := tab.appendClosest(nil, target, n)
		if !equalIDs(got, want[:min(n, len(want))]) {
			t.Errorf("closest(n = %d): got %d ids, want the first %d of the brute-force order", n, len(got), min(n, len(want)))
		}
	}
}

// BenchmarkClosest measures answering FIND_NODE from a 100k-network table.
func BenchmarkClosest(b *testing.B) {
	r := env.NewRand(2)
	var self proto.NodeID
	r.Fill(self[:])
	t := newTable(self, KDefault)
	for i := 0; i < 100_000; i++ {
		var id proto.NodeID
		r.Fill(id[:])
		t.seen(id)
	}
	var buf [KMax]proto.NodeID
	targets := make([]proto.NodeID, 1024)
	for i := range targets {
		r.Fill(targets[i][:])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t.appendClosest(buf[:0], targets[i%len(targets)], KDefault)
	}
}

// nullEnv is the smallest env.Env: it drops sends, never fires timers and
// discards metrics, so a benchmark measures the machine alone.
type nullEnv struct {
	id     proto.NodeID
	rand   *env.Rand
	timers env.TimerID
}

func (e *nullEnv) Self() proto.NodeID                         { return e.id }
func (e *nullEnv) Now() env.Time                              { return 1 }
func (e *nullEnv) Rand() *env.Rand                            { return e.rand }
func (e *nullEnv) Send(proto.NodeID, []byte)                  {}
func (e *nullEnv) SetTimer(time.Duration, uint64) env.TimerID { e.timers++; return e.timers }
func (e *nullEnv) CancelTimer(env.TimerID)                    {}
func (e *nullEnv) Submit(env.DiskOp) env.OpID                 { return 1 }
func (e *nullEnv) Reply(env.RequestID, any)                   {}
func (e *nullEnv) Publish(string, any)                        {}
func (e *nullEnv) Metrics() env.Metrics                       { return nullMetrics{} }
func (e *nullEnv) Log() *slog.Logger                          { return slog.New(slog.DiscardHandler) }

type nullMetrics struct{}

func (nullMetrics) Add(string, string, float64)     {}
func (nullMetrics) Set(string, string, float64)     {}
func (nullMetrics) Observe(string, string, float64) {}

// BenchmarkNode100k is BenchmarkTable100k for a whole started DHT machine:
// its 100k ids arrive as senders of valid messages (learn), so full
// buckets run ping-before-evict as they would in the network.
func BenchmarkNode100k(b *testing.B) {
	r := env.NewRand(3)
	ids := make([]proto.NodeID, 100_000)
	for i := range ids {
		r.Fill(ids[i][:])
	}
	machines := make([]*DHT, 0, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := New(Config{Key: testKey(4, i)})
		d.Init(&nullEnv{id: d.Self(), rand: env.NewRand(uint64(i))})
		envtest.Step(d, env.Start{})
		for _, id := range ids {
			d.learn(id)
		}
		machines = append(machines, d)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/node")
	runtime.KeepAlive(machines)
	runtime.KeepAlive(ids)
}
