package storage

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// slowScrub reads one 1000-byte object every 2 s: a pass over
// scrubCursorObjects of them outlasts ScrubCursorInterval.
var slowScrub = Config{ChunkBytes: ChunkBytesMin, RepairInterval: 200 * time.Millisecond,
	ScrubBytesPerSecond: 500, ScrubPassInterval: time.Hour}

const scrubCursorObjects = 40

// scrubCursorCluster stores scrubCursorObjects one-chunk objects on
// every node of a 3-node cluster (each is placed on all three).
func scrubCursorCluster(t *testing.T, seed uint64) *cluster {
	t.Helper()
	return scrubCursorClusterCfg(t, seed, slowScrub)
}

func scrubCursorClusterCfg(t *testing.T, seed uint64, cfg Config) *cluster {
	t.Helper()
	c := newCluster(t, 3, seed, cfg)
	for k := range scrubCursorObjects {
		if res := c.put(0, randomData(seed*1000+uint64(k), 1000), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	return c
}

// scrubCursorOnDisk parses node i's cursor record as it is now on disk.
func (c *cluster) scrubCursorOnDisk(i int) (proto.Addr, bool) {
	v, ok := c.nodes[i].disk.Get(keyScrubCursor)
	if !ok {
		return proto.Addr{}, false
	}
	a, _, _, why := parseScrubRecord(env.DiskResult{Found: true, Value: v})
	return a, why == ""
}

// restartScrubbing crashes node i, starts it and waits for its recovery
// and for the scrub's first object after it.
func (c *cluster) restartScrubbing(i int) *Storage {
	c.t.Helper()
	c.crash(i)
	c.start(i)
	c.step()
	st := c.nodes[i].st
	if !c.c.RunUntil(time.Minute, st.Ready) {
		c.t.Fatal("recovery did not finish")
	}
	if !c.c.RunUntil(10*time.Second, func() bool { return st.scrub.obj != nil }) {
		c.t.Fatal("the scrub did not start an object after the restart")
	}
	return st
}

// TestScrubResumesAfterRestart: a node restarted partway through a scrub
// pass resumes it after the last object its cursor record names, not
// from the lowest address. The old code kept the cursor in memory only:
// a node restarted more often than a pass takes never scrubbed its
// highest addresses.
func TestScrubResumesAfterRestart(t *testing.T) {
	c := scrubCursorCluster(t, 111)
	const v = 1
	st := c.nodes[v].st
	sorted := st.index.sorted
	var cursor proto.Addr
	if !c.c.RunUntil(3*time.Minute, func() bool {
		a, ok := c.scrubCursorOnDisk(v)
		cursor = a
		return ok && a != (proto.Addr{})
	}) {
		t.Fatal("no scrub cursor record written within 3 min")
	}
	next, _ := st.index.after(cursor)
	if compareAddr(next, cursor) <= 0 || cursor == sorted[0] {
		t.Fatalf("the cursor record names object %s, at an end of the pass: the test proves nothing", cursor.Short())
	}
	// The record has no sync of its own: another job's sync makes it
	// durable (here, the test's).
	c.nodes[v].disk.Execute(&env.DiskOp{Kind: env.DiskSync})
	st = c.restartScrubbing(v)
	if st.scrub.addr != next {
		t.Fatalf("after the restart the scrub started at %s; want %s, the object after the cursor %s (the lowest is %s)",
			st.scrub.addr.Short(), next.Short(), cursor.Short(), sorted[0].Short())
	}
	if r, want := c.metric(v, MetricScrubPassRatio, ""), float64(binary.BigEndian.Uint64(cursor[:8]))/(1<<64); r < want || r >= 1 {
		t.Fatalf("storage_scrub_pass_ratio %v after the restart; want at least the cursor's %v, below 1", r, want)
	}
	// The resumed pass reaches the highest address, then pauses.
	last := sorted[len(sorted)-1]
	if !c.c.RunUntil(3*time.Minute, func() bool { return st.scrub.addr == last }) {
		t.Fatal("the resumed pass did not reach the highest address")
	}
}

// TestScrubCursorRecordUnusable: a corrupt cursor record, one of an
// unknown version, or one of the wrong length does not stop the start:
// the pass starts from the lowest address.
func TestScrubCursorRecordUnusable(t *testing.T) {
	c := scrubCursorCluster(t, 113)
	const v = 2
	sorted := c.nodes[v].st.index.sorted
	mid := sorted[len(sorted)/2]
	good := env.Seal(append([]byte{scrubRecordVersion}, mid[:]...))
	corrupt := append([]byte(nil), good...)
	corrupt[5] ^= 0x10
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"corrupt", corrupt},
		{"newer version", env.Seal(append([]byte{scrubRecordVersion + 1}, mid[:]...))},
		{"short", env.Seal([]byte{scrubRecordVersion, 1, 2, 3})},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.nodes[v].disk.Plant(keyScrubCursor, tc.value)
			st := c.restartScrubbing(v)
			if st.scrub.addr != sorted[0] {
				t.Fatalf("the scrub started at %s; want the lowest address %s", st.scrub.addr.Short(), sorted[0].Short())
			}
		})
	}
	// The same record intact resumes after mid: the cases above were
	// refused for their fault, not for the address.
	c.nodes[v].disk.Plant(keyScrubCursor, good)
	st := c.restartScrubbing(v)
	if want, _ := st.index.after(mid); st.scrub.addr != want {
		t.Fatalf("an intact record: the scrub started at %s; want %s", st.scrub.addr.Short(), want.Short())
	}
}

// isPassEndRecord reports whether v is a pass-end record: the zero
// address, with an end time.
func isPassEndRecord(v []byte) bool {
	a, _, hasEnd, why := parseScrubRecord(env.DiskResult{Found: true, Value: v})
	return why == "" && a == (proto.Addr{}) && hasEnd
}

// scrubIndex is addr's position in st's sorted index (-1: not held).
func scrubIndex(st *Storage, addr proto.Addr) int {
	for k, a := range st.index.sorted {
		if a == addr {
			return k
		}
	}
	return -1
}

// TestScrubCursorNotFromAnEarlierPass: a crash early in a pass resumes
// it at or below where it was, never after an object the pass before
// finished. The old code wrote the pass-end record (the zero address)
// only when ScrubCursorInterval had passed since the last write, so
// after a pass the record kept naming an object high in it; the next
// pass's unsynced records were lost by a crash, that one survived, and
// the restart resumed above every object the new pass had not read yet,
// wrapped, and counted the pass over (seed 111: record at index 30, the
// new pass at 10, resumed at 31: 11-30 skipped).
func TestScrubCursorNotFromAnEarlierPass(t *testing.T) {
	// A shorter pause than slowScrub's: still longer than
	// ScrubCursorInterval, so the next pass's first object writes a
	// record.
	cfg := slowScrub
	cfg.ScrubPassInterval = 2 * time.Minute
	cfg.RepairInterval = 5 * time.Second // fewer ticks: the test runs minutes of env time
	c := scrubCursorClusterCfg(t, 111, cfg)
	const v = 1
	st := c.nodes[v].st
	sorted := st.index.sorted
	last := sorted[len(sorted)-1]
	if !c.c.RunUntil(5*time.Minute, func() bool { return st.scrub.addr == last }) {
		t.Fatal("the first pass did not reach the highest address")
	}
	if !c.c.RunUntil(time.Minute, func() bool { return c.metric(v, MetricScrubPassRatio, "") == 1 }) {
		t.Fatal("the first pass did not end")
	}
	c.step()
	// Whatever record the pass left is made durable (another job's sync
	// would do the same).
	c.nodes[v].disk.Execute(&env.DiskOp{Kind: env.DiskSync})
	// The next pass, after the pause, gets partway (no sync since).
	const at = 10
	if !c.c.RunUntil(2*cfg.ScrubPassInterval, func() bool {
		return c.metric(v, MetricScrubPassRatio, "") < 1 && scrubIndex(st, st.scrub.addr) >= at
	}) {
		t.Fatalf("the next pass did not reach index %d", at)
	}
	live := st.scrub.addr
	onDisk, _ := c.scrubCursorOnDisk(v)
	st = c.restartScrubbing(v)
	if compareAddr(st.scrub.addr, live) > 0 {
		t.Fatalf("the pass was at index %d (%s); after a crash it resumed at index %d (%s), after the record %s of the pass before: objects %d-%d skipped",
			scrubIndex(st, live), live.Short(), scrubIndex(st, st.scrub.addr), st.scrub.addr.Short(),
			onDisk.Short(), scrubIndex(st, live)+1, scrubIndex(st, st.scrub.addr)-1)
	}
	if r := c.metric(v, MetricScrubPassRatio, ""); r >= 1 {
		t.Fatalf("storage_scrub_pass_ratio %v after the restart in a pass; want below 1", r)
	}
}

// TestScrubPassEndRecordRetried: a pass-end record whose write or sync
// fails is written again, and the next pass reads nothing until it is
// durable.
func TestScrubPassEndRecordRetried(t *testing.T) {
	cfg := slowScrub
	cfg.ScrubPassInterval = time.Second
	c := newCluster(t, 3, 117, cfg)
	for k := range 3 {
		if res := c.put(0, randomData(117000+uint64(k), 1000), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	const v = 1
	d := c.nodes[v].disk
	// A durable record names the highest object at the restart (the
	// pass resumes after it, from the lowest): the pass-end record must
	// replace it before the next pass reads anything.
	high := c.nodes[v].st.index.sorted[2]
	d.Plant(keyScrubCursor, env.Seal(append([]byte{scrubRecordVersion}, high[:]...)))
	d.Execute(&env.DiskOp{Kind: env.DiskSync})
	c.restartScrubbing(v)
	fails := 3
	prev := d.Fault
	d.Fault = func(op *env.DiskOp) error {
		if op.Kind == env.DiskSync && fails > 0 && c.metric(v, MetricScrubPassRatio, "") == 1 {
			fails--
			return env.ErrDiskIO
		}
		return prev(op)
	}
	if !c.c.RunUntil(time.Minute, func() bool { return fails == 0 }) {
		t.Fatal("the pass-end record's sync was not tried 3 times")
	}
	read := c.metric(v, MetricScrubBytes, "")
	if !c.c.RunUntil(time.Minute, func() bool {
		a, ok := d.Durable()[keyScrubCursor]
		return ok && isPassEndRecord(a)
	}) {
		t.Fatal("the pass-end record did not become durable after its failed syncs")
	}
	if m := c.metric(v, MetricScrubBytes, ""); m != read {
		t.Fatalf("the scrub read %v bytes before the pass-end record was durable", m-read)
	}
	if !c.c.RunUntil(time.Minute, func() bool { return c.metric(v, MetricScrubBytes, "") > read }) {
		t.Fatal("the next pass did not start")
	}
}

// TestScrubLastSlotAfterCursorWrite: a scrub step that starts with two
// disk job slots free, passes a damaged chunk (which ends its object and
// writes the cursor record, taking one) and reaches a chunk to read,
// waits: the last slot stays client work's.
func TestScrubLastSlotAfterCursorWrite(t *testing.T) {
	c := scrubCursorCluster(t, 119)
	const v = 1
	st := c.nodes[v].st
	if !c.c.RunUntil(time.Minute, func() bool { return len(st.jobs) == 0 && !st.scrub.busy }) {
		t.Fatal("the disk never idled")
	}
	sorted := st.index.sorted
	const k = 5
	prev, victim := sorted[k-1], st.index.objects[sorted[k]]
	chunk := victim.manifest.Chunks[0].Addr
	if off, ok := st.index.chunkOffset(chunk); !ok || off != 0 {
		t.Fatal("the victim's chunk has no known offset")
	}
	st.damaged[chunk] = damage{obj: sorted[k], read: st.env.Now()}
	st.scrub = scrubState{addr: prev, obj: st.index.objects[prev], chunk: 1, seq: st.scrub.seq}
	st.scrubRec.saving, st.scrubRec.savedAt = false, st.env.Now().Add(-2*ScrubCursorInterval)
	var fake []uint64
	for k := uint64(0); len(st.jobs) < DiskJobsMax-2; k++ {
		id := tagValueMask - k
		st.jobs[id] = &diskJob{want: 1, done: func([]env.DiskResult) {}}
		fake = append(fake, id)
	}
	st.scrubStep()
	if !st.scrubRec.saving {
		t.Fatal("the step wrote no cursor record: the test proves nothing")
	}
	if n := len(st.jobs); n >= DiskJobsMax {
		t.Fatalf("%d disk jobs after the scrub step: it took the last slot (the cursor record's write, then a read)", n)
	}
	if st.scrub.busy {
		t.Fatal("the scrub read with one disk slot left")
	}
	for _, id := range fake {
		delete(st.jobs, id)
	}
	delete(st.damaged, chunk)
}

// TestScrubUnusableRecordReplaced: a record Start could not use (corrupt,
// or not read) is replaced by the pass-end record even when no write of
// the pass came first (a pass shorter than ScrubCursorInterval). The old
// code took the unusable record for the zero address it resumed from,
// dropped the pass-end write as naming it, and kept the bad record (a
// warning at every start) for ever.
func TestScrubUnusableRecordReplaced(t *testing.T) {
	cfg := slowScrub
	c := newCluster(t, 3, 121, cfg)
	for k := range 3 {
		if res := c.put(0, randomData(121000+uint64(k), 1000), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	const v = 2
	d := c.nodes[v].disk
	mid := c.nodes[v].st.index.sorted[1]
	good := env.Seal(append([]byte{scrubRecordVersion}, mid[:]...))
	for _, tc := range []struct {
		name    string
		corrupt bool
	}{{"corrupt", true}, {"not read", false}} {
		t.Run(tc.name, func(t *testing.T) {
			value := append([]byte(nil), good...)
			if tc.corrupt {
				value[5] ^= 0x10
			}
			d.Plant(keyScrubCursor, value)
			d.Execute(&env.DiskOp{Kind: env.DiskSync})
			prev := d.Fault
			failed := false
			d.Fault = func(op *env.DiskOp) error {
				if !tc.corrupt && !failed && op.Kind == env.DiskGet && string(op.Key) == keyScrubCursor {
					failed = true
					return env.ErrDiskIO
				}
				return prev(op)
			}
			defer func() { d.Fault = prev }()
			c.restartScrubbing(v)
			if !tc.corrupt && !failed {
				t.Fatal("the record's read did not fail: the test proves nothing")
			}
			if !c.c.RunUntil(time.Minute, func() bool { return isPassEndRecord(d.Durable()[keyScrubCursor]) }) {
				t.Fatal("the unusable record was not replaced by the pass-end record")
			}
		})
	}
}

// scrubPauseCluster is a 3-node cluster holding 3 one-chunk objects on
// every node, scrubbed in a few seconds, then paused pause.
func scrubPauseCluster(t *testing.T, seed uint64, pause time.Duration) *cluster {
	t.Helper()
	cfg := slowScrub
	cfg.ScrubPassInterval = pause
	cfg.RepairInterval = 5 * time.Second // fewer ticks: the test runs minutes of env time
	c := newCluster(t, 3, seed, cfg)
	for k := range 3 {
		if res := c.put(0, randomData(seed*1000+uint64(k), 1000), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	return c
}

// restartUntilScrub crashes node i, starts it, waits for its recovery,
// then runs until the scrub starts an object (at most limit) and returns
// the env time that took from the start.
func (c *cluster) restartUntilScrub(i int, limit time.Duration) time.Duration {
	c.t.Helper()
	c.crash(i)
	c.start(i)
	c.step()
	started := c.c.Clock()
	st := c.nodes[i].st
	if !c.c.RunUntil(time.Minute, st.Ready) {
		c.t.Fatal("recovery did not finish")
	}
	if !c.c.RunUntil(limit, func() bool { return st.scrub.obj != nil }) {
		c.t.Fatalf("the scrub did not start an object within %v of the restart", limit)
	}
	return c.c.Clock().Sub(started)
}

// TestScrubPauseSurvivesRestart: a node restarted during the pause between
// two scrub passes waits only the rest of the pause, not none of it. The
// old code's pass-end record held no end time, so the restarted node
// started the next pass at once: a node restarted more often than the
// pause scrubbed continuously.
func TestScrubPauseSurvivesRestart(t *testing.T) {
	const pause = 10 * time.Minute
	c := scrubPauseCluster(t, 123, pause)
	const v = 1
	if !c.c.RunUntil(time.Minute, func() bool { return c.metric(v, MetricScrubPassRatio, "") == 1 }) {
		t.Fatal("the first pass did not end")
	}
	ended := c.c.Clock()
	c.step()
	c.nodes[v].disk.Execute(&env.DiskOp{Kind: env.DiskSync}) // another job's sync would do the same
	const into = 3 * time.Minute
	c.advance(into)
	took := c.restartUntilScrub(v, 2*pause)
	if at := c.c.Clock().Sub(ended); at < pause || at > pause+time.Minute {
		t.Fatalf("restarted %v into the %v pause, the next pass started %v after the restart, %v after the pass ended; want %v after it (the rest of the pause)",
			into, pause, took, at, pause)
	}
}

// TestScrubPauseRecordBounds: a pass-end record whose end time is in the
// future (a clock that went backwards since, or a bad record) holds the
// next pass at most one pause, not until that time; one without an end
// time (an earlier build's) starts the pass at once, as before.
func TestScrubPauseRecordBounds(t *testing.T) {
	const pause = 10 * time.Minute
	c := scrubPauseCluster(t, 125, pause)
	const v = 2
	d := c.nodes[v].disk
	for _, tc := range []struct {
		name     string
		value    func(now env.Time) []byte // the record planted at now
		min, max time.Duration
	}{
		{"far future", func(now env.Time) []byte { return scrubPassEndOp(now.Add(1000 * time.Hour)).Value }, pause, pause + 30*time.Second},
		{"just ahead", func(now env.Time) []byte { return scrubPassEndOp(now.Add(time.Minute)).Value }, pause, pause + 30*time.Second},
		{"long ago", func(now env.Time) []byte { return scrubPassEndOp(now.Add(-1000 * time.Hour)).Value }, 0, 30 * time.Second},
		{"earliest", func(env.Time) []byte { return scrubPassEndOp(env.Time(-1 << 63)).Value }, 0, 30 * time.Second},
		{"no end time", func(env.Time) []byte { return scrubCursorOp(proto.Addr{}).Value }, 0, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.Plant(keyScrubCursor, tc.value(c.c.Clock()))
			d.Execute(&env.DiskOp{Kind: env.DiskSync})
			took := c.restartUntilScrub(v, 2*pause)
			if took < tc.min || took > tc.max {
				t.Fatalf("the scrub started %v after the restart; want between %v and %v", took, tc.min, tc.max)
			}
		})
	}
}

// TestScrubPassEndRecordHoldsEndTime: a pass's end writes its end time
// also when the zero address is durable already (no record written in
// the pass), and the record parses back to it.
func TestScrubPassEndRecordHoldsEndTime(t *testing.T) {
	c := scrubPauseCluster(t, 127, time.Hour)
	const v = 0
	if !c.c.RunUntil(time.Minute, func() bool { return c.metric(v, MetricScrubPassRatio, "") == 1 }) {
		t.Fatal("the first pass did not end")
	}
	ended := c.c.Clock()
	c.step()
	raw, ok := c.nodes[v].disk.Get(keyScrubCursor)
	if !ok {
		t.Fatal("no pass-end record on disk after the pass")
	}
	a, at, hasEnd, why := parseScrubRecord(env.DiskResult{Found: true, Value: raw})
	if why != "" || a != (proto.Addr{}) || !hasEnd || at != ended {
		t.Fatalf("the pass-end record parses to %s, end %v (held: %v), %q; want the zero address, end %v", a.Short(), at, hasEnd, why, ended)
	}
}
