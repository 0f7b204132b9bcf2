package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

// Failpoints, evaluated with failpoint.Eval before the pebble call they
// name. Enable them in tests with failpoint.Enable(name, terms) or in the
// binary with GO_FAILPOINTS="<name>=<terms>[;...]". Terms:
//
//	return(true)          fail the op with an I/O error (env.ErrDiskIO)
//	return("full")        fail it as a full disk (env.ErrDiskFull)
//	return("corruption")  fail it as corruption (env.ErrCorruption)
//	sleep(50)             delay it by 50 ms, then run it
//
// with failpoint's modifiers ("10%return(true)", "3*return(true)").
const (
	failpointPrefix = "github.com/ron-network/ron/io/pebbledisk/"
	// FailpointWrite guards every put, delete and batch.
	FailpointWrite = failpointPrefix + "write"
	// FailpointSync guards every sync.
	FailpointSync = failpointPrefix + "sync"
	// FailpointRead guards every get and scan.
	FailpointRead = failpointPrefix + "read"
)

// Errors a failpoint injects; classify maps them like real ones.
var (
	errInjectedIO         = errors.New("pebbledisk: injected I/O error")
	errInjectedFull       = fmt.Errorf("pebbledisk: injected: %w", syscall.ENOSPC)
	errInjectedCorruption = fmt.Errorf("pebbledisk: injected: %w", pebble.ErrCorruption)
)

// injected evaluates failpoint name: nil when it is off or only delays.
func injected(name string) error {
	value, err := failpoint.Eval(name)
	if err != nil || value == nil {
		return nil
	}
	switch value {
	case false:
		return nil
	case "full":
		return errInjectedFull
	case "corruption":
		return errInjectedCorruption
	}
	return errInjectedIO
}

// classify wraps a pebble or I/O error in the env class it belongs to,
// keeping the cause in the chain.
func classify(what string, err error) error {
	switch {
	case errors.Is(err, env.ErrCorruption):
		return fmt.Errorf("pebbledisk: %s: %w", what, err)
	case pebble.IsCorruptionError(err):
		return fmt.Errorf("pebbledisk: %s: %w: %w", what, env.ErrCorruption, err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("pebbledisk: %s: %w: %w", what, env.ErrDiskFull, err)
	}
	return fmt.Errorf("pebbledisk: %s: %w: %w", what, env.ErrDiskIO, err)
}

// fatal is the panic value pebbleLogger.Fatalf raises, so a fatal pebble
// error on the op's goroutine becomes a failed op instead of an exit.
type fatal struct{ err error }

// pebbleLogger routes pebble's logs to slog. Pebble calls Fatalf when it
// cannot continue (a failed WAL write leaves its commit pipeline stuck);
// the default logger would exit the process.
// Its Infof and Errorf lines are rate-limited per format (logLimiter).
type pebbleLogger struct {
	log   *slog.Logger
	limit *logLimiter
}

func (l pebbleLogger) Infof(format string, args ...any) { l.logf(slog.LevelInfo, format, args...) }

func (l pebbleLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }

// Fatalf keeps the first error among args in the chain, so that classify
// still sees an ENOSPC behind pebble's message.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "component", "pebble", "fatal", true)
	err := errors.New(msg)
	for _, a := range args {
		if cause, ok := a.(error); ok {
			err = fmt.Errorf("%s: %w", msg, cause)
			break
		}
	}
	panic(fatal{err: err})
}

// exec runs one valid op that is not a write on an open, healthy store
// (writes go through execWrites), in the group whose free-space probe is
// space. The caller holds execMu. A fatal pebble error marks the store
// failed.
func (d *Disk) exec(op *env.DiskOp, space *groupSpace) (result env.DiskResult) {
	defer d.recoverFatal(op.Kind, &result)
	switch op.Kind {
	case env.DiskGet:
		return d.get(op)
	case env.DiskSync:
		return d.sync(space)
	case env.DiskScan:
		return d.scan(op.Prefix, op.Start, op.Limit, op.KeysOnly)
	}
	panic(fmt.Sprintf("pebbledisk: validated op of unknown kind %d", op.Kind))
}

// recoverFatal turns the panic of pebbleLogger.Fatalf into the op's
// result and marks the store failed.
func (d *Disk) recoverFatal(kind env.DiskOpKind, result *env.DiskResult) {
	if r := recover(); r != nil {
		f, ok := r.(fatal)
		if !ok {
			panic(r)
		}
		d.failure = f.err
		d.failed.Store(true)
		*result = env.DiskResult{Err: classify(kind.String(), f.err)}
	}
}

// isWrite reports whether op is a put, delete or batch.
func isWrite(op *env.DiskOp) bool {
	return op.Kind == env.DiskPut || op.Kind == env.DiskDelete || op.Kind == env.DiskBatch
}

// writesOf returns a write op's writes (a put or delete is one write).
func writesOf(op *env.DiskOp) []env.DiskWrite {
	switch op.Kind {
	case env.DiskPut:
		return []env.DiskWrite{{Key: op.Key, Value: op.Value}}
	case env.DiskDelete:
		return []env.DiskWrite{{Key: op.Key, Delete: true}}
	}
	return op.Batch
}

// execWrites runs a group of valid write ops in order, on an open store
// (results[i] is set for ops already failed, which it skips). First the
// large values of every op go to one segment, written and synced with
// its directory; then each op commits its pebble batch (pointers in
// place of the large values) and gets its result. A write is refused
// while the disk is full, without touching anything.
func (d *Disk) execWrites(ops []env.DiskOp, results []env.DiskResult, done []bool, space *groupSpace) {
	type loc struct{ op, write int }
	var values [][]byte
	var locs []loc
	for i := range ops {
		if done[i] {
			continue
		}
		kind := ops[i].Kind.String()
		if err := d.fullness.refuse(kind, space); err != nil {
			results[i], done[i] = env.DiskResult{Err: err}, true
			continue
		}
		if err := injected(FailpointWrite); err != nil {
			err = classify(kind, err)
			d.fullness.observe(err)
			results[i], done[i] = env.DiskResult{Err: err}, true
			continue
		}
		for j, w := range writesOf(&ops[i]) {
			if !w.Delete && d.side.large(w.Value) {
				values = append(values, w.Value)
				locs = append(locs, loc{i, j})
			}
		}
	}
	ptrs := make(map[loc]pointer, len(locs))
	segment, segmentUsed := uint64(0), false
	if len(values) > 0 {
		d.dirty = true // a failed write may still have rotated the active segment
		for _, v := range values {
			space.written += uint64(len(v))
		}
		id, got, err := d.side.writeSegment(values)
		if err != nil {
			err = classify("write", err)
			d.fullness.observe(err)
			for _, l := range locs {
				if !done[l.op] {
					results[l.op], done[l.op] = env.DiskResult{Err: err}, true
				}
			}
		} else {
			segment, segmentUsed = id, true
			for k, l := range locs {
				ptrs[l] = got[k]
			}
		}
	}
	commitFailed := false
	for i := range ops {
		if done[i] {
			continue
		}
		if d.failure != nil {
			results[i] = env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w: store failed earlier: %w", ops[i].Kind, env.ErrDiskIO, d.failure)}
			commitFailed = true
			continue
		}
		writes := writesOf(&ops[i])
		stored := make([]env.DiskWrite, len(writes))
		for j, w := range writes {
			stored[j] = w
			if w.Delete {
				continue
			}
			if p, ok := ptrs[loc{i, j}]; ok {
				stored[j].Value = p.encode()
			} else if !d.legacy {
				stored[j].Value = escape(w.Value)
			}
		}
		results[i] = d.commit(ops[i].Kind, stored, space)
		if results[i].Err != nil {
			commitFailed = true
		}
	}
	if segmentUsed {
		sideKill("committed")
		// A segment none of whose values is live (all overwritten in the
		// group) goes once the group is durable. After a failed commit it
		// stays: a fatal WAL error may have logged the record anyway, and
		// the next Open removes it if nothing refers to it.
		if _, ok := d.side.live[segment]; !ok && !commitFailed && !d.side.isActive(segment) {
			d.side.pending = append(d.side.pending, segment)
		}
	}
	if d.side.mem != nil && d.failure == nil {
		// In memory no crash can bring a pointer back: the values of the
		// segments released (deleted, overwritten) go now, not after the
		// next sync. A micronode's aborted upload otherwise held its
		// staged chunks, counted against --memory-max, until whatever
		// synced next (about 30 s when nothing else wrote).
		d.side.unlinkPending()
	}
}

// commit applies one op's stored writes as one pebble batch (one WAL
// record: applied whole or not at all, also across a crash) and keeps the
// count of live pointers per segment.
func (d *Disk) commit(kind env.DiskOpKind, writes []env.DiskWrite, space *groupSpace) (result env.DiskResult) {
	d.dirty = true
	defer d.recoverFatal(kind, &result)
	// The pointers this batch replaces or deletes, one per distinct key.
	var released []pointer
	var seen map[string]bool
	if len(writes) > 1 {
		seen = make(map[string]bool, len(writes))
	}
	for _, w := range writes {
		if d.legacy || len(d.side.live) == 0 {
			break // no pointer in the store to release
		}
		if seen != nil {
			if seen[string(w.Key)] {
				continue
			}
			seen[string(w.Key)] = true
		}
		old, closer, err := d.db.Get(w.Key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return d.writeResult(kind, err)
		}
		_, p, ok, derr := decodeStored(old)
		_ = closer.Close()
		if derr == nil && ok {
			released = append(released, p)
		}
	}
	batch := d.db.NewBatch()
	defer batch.Close()
	for i := range writes {
		w := &writes[i]
		space.written += uint64(len(w.Key) + len(w.Value))
		var err error
		if w.Delete {
			err = batch.Delete(w.Key, nil)
		} else {
			err = batch.Set(w.Key, w.Value, nil)
		}
		if err != nil {
			return d.writeResult(kind, err)
		}
	}
	if err := d.db.Apply(batch, pebble.NoSync); err != nil {
		return d.writeResult(kind, err)
	}
	// The live pointers: the last write of each key counts.
	last := make(map[string]int, len(writes))
	for i, w := range writes {
		last[string(w.Key)] = i
	}
	for i, w := range writes {
		if w.Delete || last[string(w.Key)] != i {
			continue
		}
		if _, p, ok, err := decodeStored(w.Value); err == nil && ok {
			d.side.hold(p)
		}
	}
	for _, p := range released {
		d.side.release(p)
	}
	return d.writeResult(kind, nil)
}

// writeResult classifies a write's error and records the outcome for the
// full-disk state.
func (d *Disk) writeResult(kind env.DiskOpKind, err error) env.DiskResult {
	if err != nil {
		err = classify(kind.String(), err)
	}
	d.fullness.observe(err)
	return env.DiskResult{Err: err}
}

// sync commits an empty log record with a WAL sync: pebble's WAL is one
// ordered log, so syncing it makes every write completed before durable.
// When no write ran since the last successful sync (d.dirty is false),
// every write completed before this sync is already durable: the sync
// keeps its promise without an fdatasync. So a machine's sync that finds
// its writes covered by another's (the audit log's record put in the
// registry's group) costs nothing, and so does a group of syncs with no
// write among them. Every write path (commit: pebble batches, whether of
// a group, of Do or of compaction's moves; execWrites before a segment
// write) sets d.dirty under execMu before it writes; a write refused
// before it touched anything does not. Only a successful sync clears it,
// before the compaction it may run (whose writes set it again).
func (d *Disk) sync(space *groupSpace) env.DiskResult {
	if err := d.fullness.refuse("sync", space); err != nil {
		return env.DiskResult{Err: err}
	}
	if !d.dirty {
		d.syncsSkipped.Add(1)
		return env.DiskResult{}
	}
	err := injected(FailpointSync)
	if err == nil {
		err = d.db.LogData(nil, pebble.Sync)
	}
	if err != nil {
		err = classify("sync", err)
	}
	d.fullness.observe(err)
	if err == nil {
		d.dirty = false
		d.side.unlinkPending() // every release before the sync is durable now
		d.compact(space)
	}
	return env.DiskResult{Err: err}
}

// get reads op's key, or the part of its value op names (env.DiskOp
// Offset and Length); a value read from a segment goes into op.Into when
// it fits.
func (d *Disk) get(op *env.DiskOp) env.DiskResult {
	if err := injected(FailpointRead); err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	value, closer, err := d.db.Get(op.Key)
	if errors.Is(err, pebble.ErrNotFound) {
		return env.DiskResult{}
	}
	if err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	var result []byte
	if op.Length == 0 {
		result, err = d.load(value, op.Into)
	} else {
		result, err = d.loadPart(value, op)
	}
	if cerr := closer.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, env.ErrDiskInvalid) {
		return env.DiskResult{Found: true, Err: err}
	}
	if err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	return env.DiskResult{Found: true, Value: result}
}

// loadPart is load of the part of the value op names. A value in a
// segment is read only over that part, and its CRC-32C, which covers the
// whole value, is not checked: the check of a part is the caller's
// DiskOp.Check, which storage sets to the BLAKE3 of each group read
// against its chaining value (cached from a whole read that matched the
// chunk's key). That is stronger than the CRC (a cryptographic hash
// bound to the object address, against a 32-bit checksum that catches
// random damage only), so a part read drops no check that a whole read
// makes: damage in the part fails it, damage elsewhere in the value is
// not served and is caught by the next whole read. An inline value is
// read whole (pebble checks its blocks) and sliced.
func (d *Disk) loadPart(stored []byte, op *env.DiskOp) ([]byte, error) {
	if !d.legacy {
		_, p, isPointer, err := decodeStored(stored)
		if err != nil {
			return nil, err
		}
		if isPointer {
			return d.side.readPart(p, op.Offset, op.Length, op.Into)
		}
	}
	whole, err := d.load(stored, nil)
	if err != nil {
		return nil, err
	}
	part, err := op.Part(whole)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(part), nil
}

// load returns the caller's value of a stored one, in a slice the caller
// owns (never nil): the bytes as they are, unescaped, or read from the
// segment a pointer names (into into when it fits).
func (d *Disk) load(stored, into []byte) ([]byte, error) {
	if d.legacy {
		out := bytes.Clone(stored)
		if out == nil {
			out = []byte{}
		}
		return out, nil
	}
	inline, p, isPointer, err := decodeStored(stored)
	if err != nil {
		return nil, err
	}
	if isPointer {
		return d.side.readInto(p, into)
	}
	out := bytes.Clone(inline)
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// scan returns up to limit pairs with prefix from the first key >= start.
// The iterator bounds do the filtering: lower = max(prefix, start), upper =
// the first key after every key with prefix. A keys-only scan never asks
// the iterator for a value: a value separated into a blob file (see
// valueSeparation) is then never read, and an inline one never copied.
func (d *Disk) scan(prefix, start []byte, limit int, keysOnly bool) env.DiskResult {
	if err := injected(FailpointRead); err != nil {
		return env.DiskResult{Err: classify("scan", err)}
	}
	lower := prefix
	if bytes.Compare(start, prefix) > 0 {
		lower = start
	}
	if len(lower) == 0 {
		lower = nil // pebble's invariants builds (-race) index an empty non-nil bound
	}
	iter, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return env.DiskResult{Err: classify("scan", err)}
	}
	var result env.DiskResult
	for valid := iter.First(); valid; valid = iter.Next() {
		if len(result.Pairs) == limit {
			result.More = true
			break
		}
		if keysOnly {
			result.Pairs = append(result.Pairs, env.KV{Key: bytes.Clone(iter.Key())})
			continue
		}
		value, err := iter.ValueAndErr()
		if err != nil {
			_ = iter.Close()
			return env.DiskResult{Err: classify("scan", err)}
		}
		loaded, err := d.load(value, nil)
		if err != nil {
			_ = iter.Close()
			return env.DiskResult{Err: classify("scan", err)}
		}
		result.Pairs = append(result.Pairs, env.KV{Key: bytes.Clone(iter.Key()), Value: loaded})
	}
	if err := iter.Close(); err != nil { // Close reports the iteration's error too
		return env.DiskResult{Err: classify("scan", err)}
	}
	return result
}

// prefixEnd returns the smallest key greater than every key with prefix,
// or nil (no upper bound) when prefix is empty or all 0xff.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
