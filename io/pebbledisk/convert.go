package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// Conversions between a legacy store (every value inline, Options.Legacy)
// and a store with side files, for the data-dir migrations (io/datadir).
// Both run on a stopped store, are idempotent and safe to kill at any
// point: every intermediate store reads the same pairs with side files
// on, and running the conversion again finishes it. Both open the store
// with Options.MustExist: they convert a store, never create one.

// convertingName marks, inside the segment directory, a conversion to side
// files that passed its check: from then on the store holds pointers, so
// the check (no legacy value starts with the side marker) cannot be run
// again and is skipped.
const convertingName = "CONVERTING"

// convertBatchBytes bounds the values one conversion batch moves.
const convertBatchBytes = 16 << 20

// ErrMarkerValue: a store holds a value the conversion cannot carry over
// unambiguously (it starts with the side-file marker).
var ErrMarkerValue = errors.New("pebbledisk: a value starts with the side-file marker")

// ConvertToSide moves every value of at least SideValueBytesDefault bytes
// of the legacy store in dir into segment files (written and synced
// before their pointers commit), then syncs. lock (may be nil) is the
// store's lock when the caller holds it. step (may be nil) is called
// before each effect with "check", "mark", "convert" (each batch) and
// "sync". A legacy value that starts with the side marker is refused
// (ErrMarkerValue) before anything changes: side files would read it as
// an encoded value.
func ConvertToSide(dir string, fsys vfs.FS, lock *pebble.Lock, step func(string)) error {
	step = orNop(step)
	if fsys == nil {
		fsys = vfs.Default
	}
	marker := path.Join(dir, SideDirName, convertingName)
	if _, err := fsys.Stat(marker); err != nil {
		step("check")
		if err := checkNoMarkerValues(dir, fsys, lock); err != nil {
			return err
		}
		step("mark")
		if err := fsys.MkdirAll(path.Join(dir, SideDirName), 0o755); err != nil {
			return err
		}
		if err := syncDir(fsys, dir); err != nil {
			return err
		}
		f, err := fsys.Create(marker, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		if err := errors.Join(f.Sync(), f.Close(), syncDir(fsys, path.Join(dir, SideDirName))); err != nil {
			return err
		}
	}
	d, err := Open(Options{Dir: dir, FS: fsys, Lock: lock, MustExist: true})
	if err != nil {
		return err
	}
	defer d.Close()
	var start []byte
	for {
		// A page of at most 64 pairs of at most about 1 MiB each.
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Start: start, Limit: 64})
		if res.Err != nil {
			return res.Err
		}
		var batch []env.DiskWrite
		for _, kv := range res.Pairs {
			// A value this large is never a pointer: it is still inline.
			if len(kv.Value) >= SideValueBytesDefault {
				batch = append(batch, env.DiskWrite{Key: kv.Key, Value: kv.Value})
			}
		}
		if len(batch) > 0 {
			step("convert")
			if res := d.Do(env.DiskOp{Kind: env.DiskBatch, Batch: batch}); res.Err != nil {
				return res.Err
			}
		}
		if !res.More {
			break
		}
		start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	}
	step("sync")
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		return res.Err
	}
	return nil
}

// CheckConvertible reports whether the legacy store in dir can take side
// files: ErrMarkerValue if a value starts with the side marker (it would
// read as an encoded value). It changes nothing.
func CheckConvertible(dir string, fsys vfs.FS, lock *pebble.Lock) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	return checkNoMarkerValues(dir, fsys, lock)
}

// FinishConvertToSide removes the conversion marker once the data dir
// records the new format (a leftover marker is harmless).
func FinishConvertToSide(dir string, fsys vfs.FS) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	err := fsys.Remove(path.Join(dir, SideDirName, convertingName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkNoMarkerValues scans the legacy store for a value starting with
// the side marker.
func checkNoMarkerValues(dir string, fsys vfs.FS, lock *pebble.Lock) error {
	db, err := openDB(dir, fsys, CacheBytesDefault, slog.New(slog.NewTextHandler(io.Discard, nil)), lock, true)
	if err != nil {
		return err
	}
	defer db.Close()
	iter, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	defer iter.Close()
	for valid := iter.First(); valid; valid = iter.Next() {
		v, err := iter.ValueAndErr()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(v, sideMagic[:]) {
			return fmt.Errorf("%w: key %q (%d bytes): rewrite or delete it with the older build first", ErrMarkerValue, iter.Key(), len(v))
		}
	}
	return nil
}

// ConvertToInline writes every value held in a segment back into pebble
// as it is, syncs, then removes the segment directory: the store is then
// one the builds before side files read. step (may be nil) is called
// before each effect with "check", "inline" (each batch), "sync" and
// "remove". A store holding an escaped value (a small value that starts
// with the side marker) is refused (ErrMarkerValue) before anything
// changes: once written back as it is, a rerun could not tell it from a
// pointer.
func ConvertToInline(dir string, fsys vfs.FS, lock *pebble.Lock, step func(string)) error {
	step = orNop(step)
	if fsys == nil {
		fsys = vfs.Default
	}
	d, err := Open(Options{Dir: dir, FS: fsys, Lock: lock, MustExist: true})
	if err != nil {
		return err
	}
	defer d.Close()
	d.execMu.Lock()
	defer d.execMu.Unlock()
	step("check")
	iter, err := d.db.NewIter(nil)
	if err != nil {
		return err
	}
	type move struct {
		key []byte
		p   pointer
	}
	var moves []move
	for valid := iter.First(); valid; valid = iter.Next() {
		lv := iter.LazyValue()
		if lv.Len() > pointerBytes {
			continue
		}
		v, err := iter.ValueAndErr()
		if err != nil {
			_ = iter.Close()
			return err
		}
		if !bytes.HasPrefix(v, sideMagic[:]) {
			continue
		}
		_, p, isPointer, err := decodeStored(v)
		if err != nil {
			_ = iter.Close()
			return fmt.Errorf("key %q: %w", iter.Key(), err)
		}
		if !isPointer {
			_ = iter.Close()
			return fmt.Errorf("%w: key %q holds an escaped value: rewrite or delete it first", ErrMarkerValue, iter.Key())
		}
		moves = append(moves, move{key: bytes.Clone(iter.Key()), p: p})
	}
	if err := iter.Close(); err != nil {
		return err
	}
	for len(moves) > 0 {
		batch := d.db.NewBatch()
		size := 0
		for len(moves) > 0 && size < convertBatchBytes {
			v, err := d.side.read(moves[0].p)
			if err != nil {
				_ = batch.Close()
				return fmt.Errorf("key %q: %w", moves[0].key, err)
			}
			if err := batch.Set(moves[0].key, v, nil); err != nil {
				_ = batch.Close()
				return err
			}
			size += len(v)
			moves = moves[1:]
		}
		step("inline")
		err := d.db.Apply(batch, pebble.NoSync)
		_ = batch.Close()
		if err != nil {
			return err
		}
	}
	step("sync")
	if err := d.db.LogData(nil, pebble.Sync); err != nil {
		return err
	}
	step("remove")
	d.side.readers.closeAll()
	return removeAll(fsys, path.Join(dir, SideDirName), dir)
}

// removeAll removes the segment directory, then syncs its parent.
func removeAll(fsys vfs.FS, target, parent string) error {
	if err := fsys.RemoveAll(target); err != nil {
		return err
	}
	return syncDir(fsys, parent)
}

func orNop(step func(string)) func(string) {
	if step == nil {
		return func(string) {}
	}
	return step
}
