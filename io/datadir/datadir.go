package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pingcap/failpoint"
)

// FormatSideFiles is the first format whose store keeps large values in
// segment files beside pebble (io/pebbledisk, "Side files"); a store of
// an older format is opened with pebbledisk.Options.Legacy. It was
// format 2 on its branch (issue 15.2) and became 3 when merged after
// format 2 (chunks keyed by chaining value, format2.go, issue 15.1).
const FormatSideFiles uint32 = 3

// FormatCurrent is the newest format this build reads and writes.
const FormatCurrent uint32 = FormatSideFiles

// RecordName is the format record's file name at the data directory's root.
const RecordName = "FORMAT"

// recordTempName is where Write stages a record before the rename; a
// leftover one (a crash mid-write) is ignored by Read and replaced by the
// next Write.
const recordTempName = RecordName + ".tmp"

// RecordBytesMax bounds what Read looks at: a record is about 150 bytes.
const RecordBytesMax = 4 << 10

// StoreName is the store's subdirectory; a store there (storeExists)
// tells a format 0 directory (a store, no record) from a new one
// (neither).
const StoreName = "pebble"

// FailpointKill kills the process with SIGKILL at the step its value names
// (return("up1:rename")): the crash tests run `rond migrate` with
// GO_FAILPOINTS set to it.
const FailpointKill = "github.com/ron-network/ron/io/datadir/kill"

var (
	// ErrNewer: the directory was written by a newer build. Refuse, never
	// treat as corruption.
	ErrNewer = errors.New("datadir: newer format")
	// ErrMalformed: the record exists but cannot be read.
	ErrMalformed = errors.New("datadir: malformed format record")
	// ErrNodeMismatch: the record names another node.
	ErrNodeMismatch = errors.New("datadir: data directory belongs to another node")
)

// Record is the content of FORMAT. Format is the contract; WrittenBy and
// NodeID are for the humans and the checks that read them.
type Record struct {
	Format    uint32 `json:"format"`
	WrittenBy string `json:"written_by"`        // the rond version line that wrote the record
	NodeID    string `json:"node_id,omitempty"` // hex node id; "" when the key lives elsewhere
	// StoreCreated is set (MarkStoreCreated) once the store's first Open
	// succeeded: from then on a DIR/pebble that is missing or holds no
	// store is a lost store (ErrStoreMissing), never one to create. A
	// record without it (an older build's, or a crash between the first
	// Open and the mark) keeps the older rule: the store is created.
	StoreCreated bool `json:"store_created,omitempty"`
}

// Read returns the record of dir; present is false when there is none
// (format 0 or a new directory).
func Read(dir string) (rec Record, present bool, err error) {
	f, err := os.Open(filepath.Join(dir, RecordName))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("datadir: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, RecordBytesMax+1))
	if err != nil {
		return Record{}, true, fmt.Errorf("datadir: %s: %w", f.Name(), err)
	}
	if len(data) > RecordBytesMax {
		return Record{}, true, fmt.Errorf("%w: %s is over %d bytes", ErrMalformed, f.Name(), RecordBytesMax)
	}
	// Unknown fields are allowed: a newer build may add some, and the
	// format number alone decides whether this build may read the rest.
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, true, fmt.Errorf("%w: %s: %v", ErrMalformed, f.Name(), err)
	}
	if rec.Format == 0 {
		return Record{}, true, fmt.Errorf("%w: %s: format 0 is the absence of a record", ErrMalformed, f.Name())
	}
	return rec, true, nil
}

// Format is the format of dir: the record's, else 0 when the directory
// holds a store, else FormatCurrent for a new directory. isNew tells the
// last case. A DIR/pebble without a record that is not a store is
// refused (ErrForeignStore), never taken for format 0.
func Format(dir string) (format uint32, isNew bool, err error) {
	rec, present, err := Read(dir)
	if err != nil {
		return 0, false, err
	}
	if present {
		return rec.Format, false, nil
	}
	exists, err := storeExists(dir)
	if err != nil {
		return 0, false, err
	}
	if exists {
		return 0, false, nil
	}
	return FormatCurrent, true, nil
}

// Check refuses a directory this build cannot open, before anything in it
// is touched: a newer format (one line naming both versions and what to
// do) or a malformed record. It returns the directory's format.
func Check(dir, binary string) (format uint32, isNew bool, err error) {
	format, isNew, err = Format(dir)
	if err != nil {
		return 0, false, err
	}
	if format > FormatCurrent {
		rec, _, _ := Read(dir)
		return format, false, fmt.Errorf("%w: data dir %s has format %d (written by %s), but this build (%s) reads format %d at most: run the newer build, or migrate down with it: rond migrate --data-dir %s --to %d",
			ErrNewer, dir, format, rec.WrittenBy, binary, FormatCurrent, dir, FormatCurrent)
	}
	return format, isNew, nil
}

// Stamp completes opening: a new directory gets a record of the current
// format; an existing record must name nodeID (when both are known).
// A format 0 directory is left as is: only `rond migrate` adds its record.
func Stamp(dir string, isNew bool, nodeID, binary string) error {
	if isNew {
		return Write(dir, Record{Format: FormatCurrent, WrittenBy: binary, NodeID: nodeID}, nil)
	}
	rec, present, err := Read(dir)
	if err != nil || !present {
		return err
	}
	if rec.NodeID != "" && nodeID != "" && rec.NodeID != nodeID {
		return fmt.Errorf("%w: %s records node %s, but the node key is %s", ErrNodeMismatch, dir, rec.NodeID, nodeID)
	}
	return nil
}

// Step is called before each effect of a write or a migration, with the
// step's name; a nil Step does nothing.
type Step func(name string)

// killStep is the default hook: it kills the process when FailpointKill
// names the step.
func killStep(name string) {
	v, err := failpoint.Eval(FailpointKill)
	if err != nil {
		return
	}
	if s, _ := v.(string); s == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; never return into the step
	}
}

// Write replaces dir's record atomically: temp file, fsync, rename over
// FORMAT, fsync of the directory. A crash at any point leaves the old
// record (or none) or the new one. step (nil: none) runs before each
// effect, named "write:write-temp", "write:sync-temp", "write:rename",
// "write:sync-dir".
func Write(dir string, rec Record, step Step) error {
	return writeSteps(dir, rec, "write", step)
}

func writeSteps(dir string, rec Record, prefix string, step Step) error {
	step = orKill(step)
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	tmp := filepath.Join(dir, recordTempName)
	step(prefix + ":write-temp")
	if err := writeSynced(tmp, data, func() { step(prefix + ":sync-temp") }); err != nil {
		return err
	}
	step(prefix + ":rename")
	if err := os.Rename(tmp, filepath.Join(dir, RecordName)); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	step(prefix + ":sync-dir")
	return syncDir(dir)
}

// remove deletes dir's record atomically (an unlink), then syncs dir.
func remove(dir string, prefix string, step Step) error {
	step = orKill(step)
	step(prefix + ":remove")
	if err := os.Remove(filepath.Join(dir, RecordName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("datadir: %w", err)
	}
	step(prefix + ":sync-dir")
	return syncDir(dir)
}

func orKill(step Step) Step {
	if step == nil {
		return killStep
	}
	return func(name string) { killStep(name); step(name) }
}

func writeSynced(path string, data []byte, beforeSync func()) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("datadir: %w", err)
	}
	beforeSync()
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("datadir: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("datadir: sync %s: %w", dir, err)
	}
	return nil
}
