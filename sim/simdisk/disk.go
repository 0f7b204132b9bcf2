package simdisk

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/ron-network/ron/core/env"
)

// Disk is one node's simulated disk. The engine owns the FIFO queue and the
// clock: it draws each op's service time with Latency at submission and
// calls Apply at the op's completion time, in submission order. Disk is
// not safe for concurrent use; one simulation goroutine drives it.
//
// State: values is the visible store (every completed write), index orders
// its keys, bytes is the sum of key and value lengths. The undo log
// (undo, opEnds) holds, for every write op completed since the last
// completed Sync, the previous value of each key it wrote, so Crash can roll
// the visible store back to the durable state plus a prefix of those ops.
type Disk struct {
	rand   *env.Rand
	faults Faults

	values map[string][]byte
	index  keyIndex
	bytes  int64

	undo   []undoWrite // before-images, oldest first
	opEnds []int       // opEnds[i]: len(undo) after unsynced op i

	stats Stats
}

// undoWrite is the before-image of one write of an unsynced op.
type undoWrite struct {
	key     string
	prev    []byte
	existed bool // key held prev before the write
	put     bool // the write was a put (only puts can be torn)
}

// Stats are the disk's counters and sizes. Reads counts Get and Scan ops,
// Writes counts Put, Delete and Batch ops, Syncs counts Sync ops, whatever
// their outcome; Errors counts ops that completed with an error of any
// kind (invalid, injected I/O, full).
type Stats struct {
	Keys           int
	Bytes          int64
	UnsyncedWrites int
	Reads          uint64
	Writes         uint64
	Syncs          uint64
	Errors         uint64
	CorruptReads   uint64
	CorruptWrites  uint64
}

// CrashReport says what a crash did to the unsynced writes (counted in
// ops; a batch is one).
type CrashReport struct {
	Unsynced int // unsynced ops at the crash
	Survived int // of which survived (a prefix)
	Torn     int // 1 if the last survivor was torn, else 0
}

// New returns an empty, healthy disk drawing latencies and faults from r.
// Pass a stream derived for this disk alone (env.Rand.Derive) so that disk
// activity does not perturb other streams.
func New(r *env.Rand) *Disk {
	if r == nil {
		panic("simdisk: New with a nil rand")
	}
	return &Disk{rand: r, values: map[string][]byte{}}
}

// SetFaults replaces the fault configuration; it takes effect for the next
// Latency, Apply or Crash. An invalid configuration is a programmer error
// (callers validate scenario input with Faults.Validate first).
func (d *Disk) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	d.faults = f
}

// Faults returns the current fault configuration.
func (d *Disk) Faults() Faults { return d.faults }

// Latency draws the service time of op: Faults.Latency (or LatencyDefault)
// scaled by the jitter, times SyncLatencyFactor for a Sync.
func (d *Disk) Latency(op *env.DiskOp) time.Duration {
	base := d.faults.Latency
	if base == 0 {
		base = LatencyDefault
	}
	latency := d.rand.Jitter(base, d.faults.LatencyJitter)
	if op.Kind == env.DiskSync {
		latency *= SyncLatencyFactor
	}
	return latency
}

// Apply executes op now and returns its result. It validates op first; an
// invalid op fails with an error wrapping env.ErrDiskInvalid and changes
// nothing. Apply takes ownership of op's byte slices (a put's value is
// stored without a copy); the caller owns every slice in the result.
// A get's Check (env.DiskOp.Check) runs inline, on the value as read
// (after any injected corruption); a value failing it is a corrupt read,
// not counted in Stats.Errors (which counts the disk's own failures).
func (d *Disk) Apply(op *env.DiskOp) env.DiskResult {
	result := d.apply(op)
	if result.Err != nil {
		d.stats.Errors++
	}
	d.checkInvariants()
	return env.RunCheck(op, result)
}

func (d *Disk) apply(op *env.DiskOp) env.DiskResult {
	switch op.Kind {
	case env.DiskGet, env.DiskScan:
		d.stats.Reads++
	case env.DiskPut, env.DiskDelete, env.DiskBatch:
		d.stats.Writes++
	case env.DiskSync:
		d.stats.Syncs++
	}
	if err := op.Validate(); err != nil {
		return env.DiskResult{Err: fmt.Errorf("simdisk: %w", err)}
	}
	switch op.Kind {
	case env.DiskGet:
		return d.get(op)
	case env.DiskScan:
		return d.scan(op)
	case env.DiskSync:
		return d.sync()
	}
	return d.write(op)
}

func (d *Disk) get(op *env.DiskOp) env.DiskResult {
	if d.rand.Bool(d.faults.ReadErrorProb) {
		return env.DiskResult{Err: fmt.Errorf("simdisk: get: injected read error: %w", env.ErrDiskIO)}
	}
	value, found := d.values[string(op.Key)]
	if !found {
		return env.DiskResult{}
	}
	part, err := op.Part(value)
	if err != nil {
		return env.DiskResult{Found: true, Err: fmt.Errorf("simdisk: get: %w", err)}
	}
	result := env.DiskResult{Found: true, Value: bytes.Clone(part)}
	if len(part) > 0 && d.rand.Bool(d.faults.CorruptReadProb) {
		flipBit(d.rand, result.Value)
		d.stats.CorruptReads++
	}
	return result
}

// scan walks the index from max(Prefix, Start): keys with a given prefix
// form one contiguous run starting at the prefix itself, so the walk stops
// at the first key without it. A keys-only scan copies no value, so read
// corruption (which damages values) cannot touch it.
func (d *Disk) scan(op *env.DiskOp) env.DiskResult {
	if d.rand.Bool(d.faults.ReadErrorProb) {
		return env.DiskResult{Err: fmt.Errorf("simdisk: scan: injected read error: %w", env.ErrDiskIO)}
	}
	prefix, start := string(op.Prefix), string(op.Start)
	start = max(start, prefix)
	var result env.DiskResult
	nonEmpty := 0
	for key := range d.index.from(start) {
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if len(result.Pairs) == op.Limit {
			result.More = true
			break
		}
		if op.KeysOnly {
			result.Pairs = append(result.Pairs, env.KV{Key: []byte(key)})
			continue
		}
		value := d.values[key]
		if len(value) > 0 {
			nonEmpty++
		}
		result.Pairs = append(result.Pairs, env.KV{Key: []byte(key), Value: bytes.Clone(value)})
	}
	if nonEmpty > 0 && d.rand.Bool(d.faults.CorruptReadProb) {
		d.corruptScan(result.Pairs, d.rand.Intn(nonEmpty))
	}
	return result
}

// corruptScan flips one bit in the victim-th non-empty value of pairs.
func (d *Disk) corruptScan(pairs []env.KV, victim int) {
	for i := range pairs {
		if len(pairs[i].Value) == 0 {
			continue
		}
		if victim == 0 {
			flipBit(d.rand, pairs[i].Value)
			d.stats.CorruptReads++
			return
		}
		victim--
	}
}

func (d *Disk) sync() env.DiskResult {
	if d.rand.Bool(d.faults.WriteErrorProb) {
		return env.DiskResult{Err: fmt.Errorf("simdisk: sync: injected write error: %w", env.ErrDiskIO)}
	}
	clear(d.undo) // drop references to before-images
	d.undo = d.undo[:0]
	d.opEnds = d.opEnds[:0]
	return env.DiskResult{}
}

// write applies a Put, Delete or Batch and logs its before-images.
func (d *Disk) write(op *env.DiskOp) env.DiskResult {
	if d.faults.Full {
		return env.DiskResult{Err: fmt.Errorf("simdisk: %s: %w", op.Kind, env.ErrDiskFull)}
	}
	if d.rand.Bool(d.faults.WriteErrorProb) {
		return env.DiskResult{Err: fmt.Errorf("simdisk: %s: injected write error: %w", op.Kind, env.ErrDiskIO)}
	}
	switch op.Kind {
	case env.DiskPut:
		value := op.Value
		if len(value) > 0 && d.rand.Bool(d.faults.CorruptWriteProb) {
			value = flippedCopy(d.rand, value)
			d.stats.CorruptWrites++
		}
		d.logged(string(op.Key), value, false)
	case env.DiskDelete:
		d.logged(string(op.Key), nil, true)
	case env.DiskBatch:
		d.writeBatch(op.Batch)
	}
	d.opEnds = append(d.opEnds, len(d.undo))
	return env.DiskResult{}
}

func (d *Disk) writeBatch(batch []env.DiskWrite) {
	victim := -1
	if puts := countNonEmptyPuts(batch); puts > 0 && d.rand.Bool(d.faults.CorruptWriteProb) {
		victim = d.rand.Intn(puts)
		d.stats.CorruptWrites++
	}
	for i := range batch {
		w := &batch[i]
		if w.Delete {
			d.logged(string(w.Key), nil, true)
			continue
		}
		value := w.Value
		if len(value) > 0 {
			if victim == 0 {
				value = flippedCopy(d.rand, value)
			}
			victim--
		}
		d.logged(string(w.Key), value, false)
	}
}

func countNonEmptyPuts(batch []env.DiskWrite) int {
	n := 0
	for i := range batch {
		if !batch[i].Delete && len(batch[i].Value) > 0 {
			n++
		}
	}
	return n
}

// logged records the before-image of key, then puts value or deletes key.
func (d *Disk) logged(key string, value []byte, del bool) {
	prev, existed := d.values[key]
	d.undo = append(d.undo, undoWrite{key: key, prev: prev, existed: existed, put: !del})
	if del {
		d.remove(key)
	} else {
		d.store(key, value)
	}
}

// store sets key to value without logging.
func (d *Disk) store(key string, value []byte) {
	prev, existed := d.values[key]
	if existed {
		d.bytes -= int64(len(prev))
	} else {
		d.bytes += int64(len(key))
		d.index.insert(key)
	}
	d.bytes += int64(len(value))
	d.values[key] = value
}

// remove deletes key without logging.
func (d *Disk) remove(key string) {
	prev, existed := d.values[key]
	if !existed {
		return
	}
	d.bytes -= int64(len(key) + len(prev))
	delete(d.values, key)
	d.index.remove(key)
}

// flipBit flips one uniformly chosen bit of b (non-empty) in place.
func flipBit(r *env.Rand, b []byte) {
	bit := r.Intn(len(b) * 8)
	b[bit/8] ^= 1 << (bit % 8)
}

// flippedCopy returns a copy of b (non-empty) with one bit flipped; b is
// left alone because the submitter still sees it in DiskDone.Op.
func flippedCopy(r *env.Rand, b []byte) []byte {
	c := bytes.Clone(b)
	flipBit(r, c)
	return c
}

// Wipe erases every key, durable or not, as if the node came back on a new
// empty data directory (the `wipe` fault). Counters and fault settings
// stay; the rand stream is not touched, so a wipe draws nothing.
func (d *Disk) Wipe() {
	clear(d.values)
	d.index = keyIndex{}
	d.bytes = 0
	clear(d.undo)
	d.undo = d.undo[:0]
	d.opEnds = d.opEnds[:0]
	d.checkInvariants()
}

// Stats returns the disk's counters and current sizes.
func (d *Disk) Stats() Stats {
	s := d.stats
	s.Keys = len(d.values)
	s.Bytes = d.bytes
	s.UnsyncedWrites = len(d.opEnds)
	return s
}

// Snapshot returns a copy of the visible state (durable writes plus every
// completed unsynced write), for tests and checkers.
func (d *Disk) Snapshot() map[string][]byte {
	out := make(map[string][]byte, len(d.values))
	for key, value := range d.values {
		out[key] = bytes.Clone(value)
	}
	return out
}

// DurableSnapshot returns a copy of the durable state: what a crash with
// UnsyncedSurviveProb = 0 would leave.
func (d *Disk) DurableSnapshot() map[string][]byte {
	out := d.Snapshot()
	for i := len(d.undo) - 1; i >= 0; i-- {
		w := &d.undo[i]
		if w.existed {
			out[w.key] = bytes.Clone(w.prev)
		} else {
			delete(out, w.key)
		}
	}
	return out
}

// checkInvariants runs the cheap checks after every step; builds with the
// invariants tag also verify the whole index.
func (d *Disk) checkInvariants() {
	if d.index.count != len(d.values) {
		panic(fmt.Sprintf("simdisk: index holds %d keys, store %d", d.index.count, len(d.values)))
	}
	if d.bytes < 0 {
		panic(fmt.Sprintf("simdisk: byte count %d is negative", d.bytes))
	}
	if n := len(d.opEnds); (n == 0 && len(d.undo) != 0) || (n > 0 && d.opEnds[n-1] != len(d.undo)) {
		panic("simdisk: undo log and op ends disagree")
	}
	if env.InvariantsDeep {
		if err := d.verify(); err != nil {
			panic(err)
		}
	}
}

// verify checks every invariant in O(n): the index matches the store and
// the byte count is exact.
func (d *Disk) verify() error {
	if err := d.index.verify(); err != nil {
		return err
	}
	var total int64
	for key := range d.index.from("") {
		value, ok := d.values[key]
		if !ok {
			return fmt.Errorf("simdisk: indexed key %q is not stored", key)
		}
		total += int64(len(key) + len(value))
	}
	if total != d.bytes {
		return fmt.Errorf("simdisk: byte count %d, store holds %d", d.bytes, total)
	}
	return nil
}
