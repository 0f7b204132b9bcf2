package sim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/simdisk"
)

const ms = time.Millisecond

func TestAtRunsInTimeThenSchedulingOrder(t *testing.T) {
	h := newHarness(t, Config{Seed: 1, Nodes: 1}, nil)
	w := h.w
	var got []string
	note := func(s string, at time.Duration) func() {
		return func() {
			if w.Now() != at {
				t.Errorf("%s ran at %v, want %v", s, w.Now(), at)
			}
			got = append(got, s)
		}
	}
	w.At(20*ms, note("c", 20*ms))
	w.At(10*ms, note("a", 10*ms))
	w.At(10*ms, note("b", 10*ms))
	w.At(5*ms, func() {
		got = append(got, "x")
		w.At(10*ms, note("d", 10*ms)) // same time as a and b, scheduled later
		w.After(0, note("e", 5*ms))   // now, after x
		w.At(time.Millisecond, note("f", 5*ms))
	})
	h.run(30 * ms)
	want := "x e f a b d c"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("order %q, want %q", s, want)
	}
	if w.Now() != 30*ms {
		t.Fatalf("Now after RunUntil = %v, want 30ms", w.Now())
	}
}

func TestTimersFireAtDeadlineInDeadlineThenArmingOrder(t *testing.T) {
	durations := []time.Duration{30 * ms, 10 * ms, 10 * ms, 20 * ms, 0}
	h := newHarness(t, Config{Seed: 1, Nodes: 1}, func(p *probe) {
		p.onStart = func(p *probe) {
			for i, d := range durations {
				p.e.SetTimer(d, uint64(i))
			}
		}
	})
	h.run(time.Second)
	p := h.probes[0]
	var tags []uint64
	for _, f := range p.timers {
		tags = append(tags, f.tag)
		if want := Epoch.Add(durations[f.tag]); f.at != want {
			t.Errorf("timer %d fired at %v, want %v", f.tag, f.at.Sub(Epoch), want.Sub(Epoch))
		}
	}
	if got, want := tags, []uint64{4, 1, 2, 3, 0}; !equalSlices(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

func TestCancelTimerIsExactAndStaleIDsAreIgnored(t *testing.T) {
	var first, second env.TimerID
	h := newHarness(t, Config{Seed: 1, Nodes: 1}, func(p *probe) {
		p.onStart = func(p *probe) {
			first = p.e.SetTimer(10*ms, 1)
			second = p.e.SetTimer(20*ms, 2)
			p.e.CancelTimer(first)
		}
		p.onTimer = func(p *probe, f env.TimerFired) {
			if f.Tag != 2 {
				return
			}
			if f.ID != second {
				t.Errorf("TimerFired.ID = %d, want %d", f.ID, second)
			}
			third := p.e.SetTimer(5*ms, 3) // likely reuses a freed slot
			if third == first || third == second {
				t.Errorf("timer id %d reused", third)
			}
			p.e.CancelTimer(second) // fired: no-op
			p.e.CancelTimer(first)  // cancelled long ago: no-op
		}
	})
	h.run(time.Second)
	var tags []uint64
	for _, f := range h.probes[0].timers {
		tags = append(tags, f.tag)
	}
	if !equalSlices(tags, []uint64{2, 3}) {
		t.Fatalf("fired %v, want [2 3]", tags)
	}
}

func TestMessagesWithEqualLatencyArriveInSendOrder(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 2, Network: NetworkConfig{LatencyP50: 5 * ms}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			if p.idx == 0 {
				for c := uint64(1); c <= 5; c++ {
					p.send(1, c)
				}
			}
		}
	})
	h.run(time.Second)
	got := h.probes[1].messages
	if len(got) != 5 {
		t.Fatalf("received %d, want 5", len(got))
	}
	for k, m := range got {
		if m.corrID != uint64(k+1) || m.at != Epoch.Add(5*ms) || h.from(m) != 0 {
			t.Fatalf("message %d: corr %d at %v from %d", k, m.corrID, m.at.Sub(Epoch), h.from(m))
		}
	}
}

func TestDiskCompletesFIFOWithJitteredLatency(t *testing.T) {
	const ops = 50
	cfg := Config{Seed: 3, Nodes: 1, Disk: simdisk.Faults{Latency: ms, LatencyJitter: 0.9}}
	var doneAt []time.Duration
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			for k := 0; k < ops; k++ {
				p.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte{byte(k)}, Value: []byte("v"), Tag: uint64(k)})
			}
		}
		p.onDisk = func(p *probe, d env.DiskDone) { doneAt = append(doneAt, p.world().Now()) }
	})
	h.run(time.Second)
	p := h.probes[0]
	if len(p.disks) != ops {
		t.Fatalf("%d completions, want %d", len(p.disks), ops)
	}
	for k, d := range p.disks {
		if d.Op.Tag != uint64(k) || d.ID != env.OpID(k+1) || d.Result.Err != nil {
			t.Fatalf("completion %d: id %d tag %d err %v", k, d.ID, d.Op.Tag, d.Result.Err)
		}
		if k > 0 && doneAt[k] < doneAt[k-1] {
			t.Fatalf("completion %d at %v before its predecessor at %v", k, doneAt[k], doneAt[k-1])
		}
	}
	// Every op was submitted at 0 with a service time in [0.1ms, 1.9ms].
	if doneAt[0] < ms/10 || doneAt[ops-1] > 19*ms/10 {
		t.Fatalf("completions span %v..%v, outside the jittered latency", doneAt[0], doneAt[ops-1])
	}
}

// chatty is a workload that touches every event kind and every stream:
// random timers, random peers, disk writes and syncs, replies.
func chatty(p *probe) {
	arm := func(p *probe) { p.e.SetTimer(time.Duration(p.e.Rand().Intn(10_000_000)), 1) }
	p.onStart = arm
	p.onTimer = func(p *probe, _ env.TimerFired) {
		chattyTick(p)
		arm(p)
	}
	p.onMessage = func(p *probe, m env.Message) {
		if p.e.Rand().Bool(0.5) {
			p.e.Send(m.From, ping(7, p.e.Now(), 0))
		}
	}
}

// chattyTick sends a frame to a random node and writes to the disk.
func chattyTick(p *probe) {
	r := p.e.Rand()
	to := r.Intn(p.world().Nodes())
	p.e.Send(p.world().NodeID(to), ping(r.Uint64(), p.e.Now(), r.Intn(64)))
	key := []byte{byte(r.Intn(8))}
	p.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: key, Value: []byte{byte(r.Uint64())}})
	if r.Bool(0.3) {
		p.e.Submit(env.DiskOp{Kind: env.DiskSync})
	}
}

var chattyNetwork = NetworkConfig{LatencyP50: 2 * ms, LatencyP99: 20 * ms, Loss: 0.05, Duplicate: 0.02, Reorder: 0.05, BandwidthBytesPerSecond: 1 << 20}

// runChatty runs the chatty workload with a fault timeline and returns the
// world's trace hash and digests. extra, if set, runs before the start.
func runChatty(t *testing.T, seed uint64, extra func(w *World)) (string, []EventDigest, uint64) {
	t.Helper()
	cfg := Config{Seed: seed, Nodes: 5, Network: chattyNetwork, RecordDigests: true,
		Disk: simdisk.Faults{Latency: ms, LatencyJitter: 0.5, UnsyncedSurviveProb: 0.5}}
	h := newHarness(t, cfg, chatty)
	w := h.w
	w.At(200*ms, func() { w.Partition([]int{0, 1}, []int{2, 3}) })
	w.At(300*ms, func() { w.Crash(2) })
	w.At(350*ms, func() { w.Restart(2) })
	w.At(400*ms, func() { w.Heal(); w.Pause(1, 30*ms) })
	w.At(450*ms, func() { w.SetClock(3, 10*ms, 0.05) })
	w.At(500*ms, func() { w.Bridge([]int{0}, []int{4}, 1) })
	w.At(600*ms, func() { w.Heal(); w.SetNetwork(NetworkConfig{LatencyP50: ms}) })
	w.At(700*ms, func() { w.Request(0, "probe", nil, nil) })
	if extra != nil {
		extra(w)
	}
	h.run(time.Second)
	hash, digests, events := w.TraceHash(), w.Digests(), w.Events()
	w.Close()
	return hash, digests, events
}

func TestSameSeedSameTraceDifferentSeedsDiffer(t *testing.T) {
	seen := map[string]uint64{}
	for seed := uint64(1); seed <= 6; seed++ {
		hashA, digestsA, events := runChatty(t, seed, nil)
		hashB, digestsB, _ := runChatty(t, seed, nil)
		if hashA != hashB {
			t.Fatalf("seed %d: trace hashes differ: %s vs %s", seed, hashA, hashB)
		}
		if i, da, db, ok := FirstDivergence(digestsA, digestsB); ok {
			t.Fatalf("seed %d: digests diverge at %d: %v vs %v", seed, i, da, db)
		}
		if events < 1000 || uint64(len(digestsA)) != events {
			t.Fatalf("seed %d: %d events, %d digests: workload too small or digests missing", seed, events, len(digestsA))
		}
		if other, dup := seen[hashA]; dup {
			t.Fatalf("seeds %d and %d give the same trace hash", other, seed)
		}
		seen[hashA] = seed
	}
}

func TestFirstDivergenceFindsAnInjectedEvent(t *testing.T) {
	const injectAt = 500 * ms
	_, base, _ := runChatty(t, 9, nil)
	_, changed, _ := runChatty(t, 9, func(w *World) { w.At(injectAt, func() {}) })
	want := 0
	for _, d := range base {
		// The timeline's own callback at injectAt (and the fault it
		// applies) was scheduled first, so it runs before the injected one.
		if d.At <= int64(injectAt) {
			want++
		}
	}
	i, da, db, ok := FirstDivergence(base, changed)
	if !ok {
		t.Fatal("no divergence found")
	}
	if i != want || db.Kind != KindFunc || db.At != int64(injectAt) {
		t.Fatalf("divergence at %d (%v vs %v), want index %d at the injected callback", i, da, db, want)
	}
}

func TestFirstDivergenceOnSyntheticLists(t *testing.T) {
	a := []EventDigest{{Index: 0, Hash: 1}, {Index: 1, Hash: 2}, {Index: 2, Hash: 3}}
	if _, _, _, ok := FirstDivergence(a, a); ok {
		t.Fatal("identical lists diverge")
	}
	b := append([]EventDigest(nil), a...)
	b[1].Hash = 9
	if i, da, db, ok := FirstDivergence(a, b); !ok || i != 1 || da.Hash != 2 || db.Hash != 9 {
		t.Fatalf("changed hash: got %d %v %v %v", i, da, db, ok)
	}
	if i, da, db, ok := FirstDivergence(a, a[:2]); !ok || i != 2 || da != a[2] || db != (EventDigest{}) {
		t.Fatalf("prefix: got %d %v %v %v", i, da, db, ok)
	}
	if i, da, db, ok := FirstDivergence(nil, a); !ok || i != 0 || da != (EventDigest{}) || db != a[0] {
		t.Fatalf("empty vs list: got %d %v %v %v", i, da, db, ok)
	}
}

func TestTraceWritesOneJSONLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	cfg := Config{Seed: 4, Nodes: 3, Network: chattyNetwork, Trace: &buf}
	h := newHarness(t, cfg, chatty)
	h.w.At(50*ms, func() { h.w.Isolate(1) })
	h.run(200 * ms)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if uint64(len(lines)) != h.w.Events() {
		t.Fatalf("%d lines for %d events", len(lines), h.w.Events())
	}
	kinds := map[string]int{}
	last := int64(-1)
	for _, line := range lines {
		var rec struct {
			T    int64  `json:"t"`
			Node int    `json:"node"`
			Kind string `json:"kind"`
			H    string `json:"h"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if rec.T < last {
			t.Fatalf("time went backwards at %q", line)
		}
		last = rec.T
		kinds[rec.Kind]++
	}
	for _, k := range []string{"start", "msg", "timer", "disk", "fault"} {
		if kinds[k] == 0 {
			t.Errorf("no %q events in the trace: %v", k, kinds)
		}
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An AtQuiet callback is no event: it leaves the trace and the event count
// alone, while what it does to the world (here a fault action) is traced.
func TestAtQuietIsNotAnEvent(t *testing.T) {
	baseHash, _, baseEvents := runChatty(t, 4, nil)
	ran := false
	quietHash, _, quietEvents := runChatty(t, 4, func(w *World) { w.AtQuiet(550*ms, func() { ran = true }) })
	if !ran || quietHash != baseHash || quietEvents != baseEvents {
		t.Fatalf("ran %v; hash %s/%s events %d/%d: a quiet callback changed the trace", ran, quietHash, baseHash, quietEvents, baseEvents)
	}
	loudHash, _, loudEvents := runChatty(t, 4, func(w *World) { w.At(550*ms, func() {}) })
	if loudHash == baseHash || loudEvents != baseEvents+1 {
		t.Fatalf("an At callback is an event: hash %s events %d (base %d)", loudHash, loudEvents, baseEvents)
	}
	actHash, _, actEvents := runChatty(t, 4, func(w *World) { w.AtQuiet(550*ms, func() { w.Pause(4, 10*ms) }) })
	if actHash == baseHash || actEvents <= baseEvents {
		t.Fatalf("the fault a quiet callback applied is not traced: events %d (base %d)", actEvents, baseEvents)
	}
}
