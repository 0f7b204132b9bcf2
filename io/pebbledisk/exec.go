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

// exec runs one valid op on an open, healthy store. The caller holds
// execMu. A fatal pebble error marks the store failed.
func (d *Disk) exec(op *env.DiskOp) (result env.DiskResult) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			d.failure = f.err
			d.failed.Store(true)
			result = env.DiskResult{Err: classify(op.Kind.String(), f.err)}
		}
	}()
	switch op.Kind {
	case env.DiskGet:
		return d.get(op.Key)
	case env.DiskPut:
		return d.write(op.Kind, func() error { return d.db.Set(op.Key, op.Value, pebble.NoSync) })
	case env.DiskDelete:
		return d.write(op.Kind, func() error { return d.db.Delete(op.Key, pebble.NoSync) })
	case env.DiskBatch:
		return d.write(op.Kind, func() error { return d.applyBatch(op.Batch) })
	case env.DiskSync:
		return d.sync()
	case env.DiskScan:
		return d.scan(op.Prefix, op.Start, op.Limit, op.KeysOnly)
	}
	panic(fmt.Sprintf("pebbledisk: validated op of unknown kind %d", op.Kind))
}

// write applies a put, delete or batch unless the disk is full: then it
// fails fast with env.ErrDiskFull (and ErrFull) without calling pebble.
func (d *Disk) write(kind env.DiskOpKind, apply func() error) env.DiskResult {
	if err := d.fullness.refuse(kind.String()); err != nil {
		return env.DiskResult{Err: err}
	}
	err := injected(FailpointWrite)
	if err == nil {
		err = apply()
	}
	if err != nil {
		err = classify(kind.String(), err)
	}
	d.fullness.observe(err)
	return env.DiskResult{Err: err}
}

// applyBatch commits writes as one pebble batch: pebble logs a batch as one
// WAL record, so it is applied whole or not at all, also across a crash.
func (d *Disk) applyBatch(writes []env.DiskWrite) error {
	batch := d.db.NewBatch()
	defer batch.Close()
	for i := range writes {
		w := &writes[i]
		var err error
		if w.Delete {
			err = batch.Delete(w.Key, nil)
		} else {
			err = batch.Set(w.Key, w.Value, nil)
		}
		if err != nil {
			return err
		}
	}
	return d.db.Apply(batch, pebble.NoSync)
}

// sync commits an empty log record with a WAL sync: pebble's WAL is one
// ordered log, so syncing it makes every write completed before durable.
func (d *Disk) sync() env.DiskResult {
	if err := d.fullness.refuse("sync"); err != nil {
		return env.DiskResult{Err: err}
	}
	err := injected(FailpointSync)
	if err == nil {
		err = d.db.LogData(nil, pebble.Sync)
	}
	if err != nil {
		err = classify("sync", err)
	}
	d.fullness.observe(err)
	return env.DiskResult{Err: err}
}

func (d *Disk) get(key []byte) env.DiskResult {
	if err := injected(FailpointRead); err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	value, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return env.DiskResult{}
	}
	if err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	result := env.DiskResult{Found: true, Value: bytes.Clone(value)}
	if result.Value == nil {
		result.Value = []byte{}
	}
	if err := closer.Close(); err != nil {
		return env.DiskResult{Err: classify("get", err)}
	}
	return result
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
		result.Pairs = append(result.Pairs, env.KV{Key: bytes.Clone(iter.Key()), Value: bytes.Clone(value)})
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
