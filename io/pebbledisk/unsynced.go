package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pingcap/failpoint"
)

// FailpointUnsynced turns on the unsynced-write journal (see "Lost
// unsynced writes" in doc.go). It is read once, when Open runs:
//
//	return("keep")     track unsynced writes; a journal left by a process
//	                   that died is discarded (its unsynced writes survive,
//	                   as they do a SIGKILL)
//	return("lose:PID") first drop every write the process PID had not
//	                   synced when it died, from the journal it left, then
//	                   track as "keep" does
//
// It exists for `ronsim real`, which makes a crash a power loss with it;
// no production flag turns it on.
const FailpointUnsynced = failpointPrefix + "unsynced"

// UnsyncedJournalSuffix names the journal: the store's Dir plus this
// suffix, beside the store (not in it: pebble owns its directory).
const UnsyncedJournalSuffix = ".unsynced"

// journalMagic starts the journal's first line, followed by the pid of
// the process that wrote it.
const journalMagic = "ron-unsynced-journal/1 pid="

// LossReport is what LoseUnsynced dropped.
type LossReport struct {
	// Pid is the process whose unsynced writes were dropped.
	Pid int
	// Truncated files lost TruncatedBytes written after their last sync.
	// A cut's trailing zeros are not counted (nor is a file whose cut
	// is all zeros): they were never written, as the zero tail of a WAL
	// whose preallocation extended its size ("WAL preallocation" in
	// doc.go), which every real-disk WAL has.
	Truncated      int
	TruncatedBytes int64
	// Removed files were created (or linked) and their directory never
	// synced after.
	Removed int
	// RenamesUndone were renames whose directory was never synced after.
	RenamesUndone int
}

func (r LossReport) String() string {
	return fmt.Sprintf("pid %d: %d files truncated (%d bytes), %d removed, %d renames undone",
		r.Pid, r.Truncated, r.TruncatedBytes, r.Removed, r.RenamesUndone)
}

// unsyncedMode reads FailpointUnsynced: on reports whether it is set,
// losePid is the dead process whose writes to drop (0: none).
func unsyncedMode() (on bool, losePid int, err error) {
	v, ferr := failpoint.Eval(FailpointUnsynced)
	if ferr != nil {
		return false, 0, nil
	}
	s, _ := v.(string)
	switch {
	case s == "keep":
		return true, 0, nil
	case strings.HasPrefix(s, "lose:"):
		pid, perr := strconv.Atoi(strings.TrimPrefix(s, "lose:"))
		if perr != nil || pid <= 0 {
			return false, 0, fmt.Errorf("pebbledisk: failpoint %s: %q: want lose:PID with PID a process id", FailpointUnsynced, s)
		}
		return true, pid, nil
	}
	return false, 0, fmt.Errorf("pebbledisk: failpoint %s: %q: want \"keep\" or \"lose:PID\"", FailpointUnsynced, s)
}

// openUnsynced applies FailpointUnsynced to fs for the store in dir: nil
// when it is off.
func openUnsynced(fs vfs.FS, dir string) (*unsyncedFS, *LossReport, error) {
	on, pid, err := unsyncedMode()
	if err != nil || !on {
		return nil, nil, err
	}
	journal := dir + UnsyncedJournalSuffix
	var report *LossReport
	if pid != 0 {
		r, err := LoseUnsynced(fs, journal, pid)
		if err != nil {
			return nil, nil, err
		}
		report = &r
	}
	u, err := newUnsyncedFS(fs, journal, os.Getpid())
	if err != nil {
		return nil, nil, err
	}
	return u, report, nil
}

// entry is one file whose unsynced writes the journal tracks.
type entry struct {
	path string
	// pending: created or linked, and its directory not synced since.
	pending bool
	// written: written through a handle since tracking began; only such
	// a file is truncated (one opened and never written keeps its bytes).
	written bool
	// synced is the end of the file's last synced write.
	synced int64
}

// pendingRename is a rename whose directory was not synced since.
type pendingRename struct{ from, to string }

// journalState is what the journal's records add up to. The live FS and
// LoseUnsynced build it with the same apply, so they cannot disagree.
type journalState struct {
	pid     int
	ids     map[int]*entry    // handle id -> entry
	paths   map[string]*entry // current path -> entry
	renames []pendingRename
}

func newJournalState(pid int) *journalState {
	return &journalState{pid: pid, ids: map[int]*entry{}, paths: map[string]*entry{}}
}

// Records, one per line: a letter and its fields, paths quoted.
//
//	C id path   created: entry pending, written, nothing synced
//	O id path   opened for writing from offset 0 (a reuse): tracked, not
//	            yet written, nothing synced by this handle
//	L path      linked: the new name is pending
//	X id        first write through handle id
//	S id n      handle id synced: its first n bytes are durable
//	R from to   renamed (its directory not yet synced)
//	Q from to   renamed over an existing file: kept by a power loss (undoing
//	            it would leave neither file, which no power loss does)
//	D dir       directory synced: its pending entries and renames durable
//	M path      removed (or a failed create): no longer tracked
//	A dir       removed with everything under it
func (s *journalState) apply(line string) error {
	f := strings.SplitN(line, " ", 3)
	bad := func() error { return fmt.Errorf("malformed record %q", line) }
	id := func(i int) (int, error) { return strconv.Atoi(f[i]) }
	path := func(i int) (string, error) { return strconv.Unquote(f[i]) }
	switch {
	case f[0] == "C" && len(f) == 3, f[0] == "O" && len(f) == 3:
		n, err1 := id(1)
		p, err2 := path(2)
		if err1 != nil || err2 != nil {
			return bad()
		}
		e := s.paths[p]
		switch {
		case f[0] == "C" || e == nil:
			e = &entry{path: p, pending: f[0] == "C", written: f[0] == "C"}
			s.paths[p] = e
		default:
			// Reopened for writing from offset 0 (pebble reuses a WAL
			// file so): what the old handle synced says nothing of the
			// new bytes. Whether its entry is durable stays as it was.
			e.written, e.synced = false, 0
		}
		s.ids[n] = e
	case f[0] == "L" && len(f) == 2:
		p, err := path(1)
		if err != nil {
			return bad()
		}
		s.paths[p] = &entry{path: p, pending: true}
	case f[0] == "X" && len(f) == 2, f[0] == "S" && len(f) == 3:
		n, err := id(1)
		e := s.ids[n]
		if err != nil || e == nil {
			return bad()
		}
		if f[0] == "X" {
			e.written = true
			return nil
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || size < 0 {
			return bad()
		}
		e.synced = size
	case (f[0] == "R" || f[0] == "Q") && len(f) == 3:
		from, err1 := path(1)
		to, err2 := path(2)
		if err1 != nil || err2 != nil {
			return bad()
		}
		if e := s.paths[from]; e != nil {
			delete(s.paths, from)
			e.path = to
			e.pending = e.pending && f[0] == "R" // a kept rename keeps its entry
			s.paths[to] = e
		} else {
			delete(s.paths, to)
		}
		if f[0] == "R" {
			s.renames = append(s.renames, pendingRename{from, to})
		}
	case f[0] == "D" && len(f) == 2:
		dir, err := path(1)
		if err != nil {
			return bad()
		}
		for p, e := range s.paths {
			if filepath.Dir(p) == dir {
				e.pending = false
			}
		}
		kept := s.renames[:0]
		for _, r := range s.renames {
			if filepath.Dir(r.to) != dir {
				kept = append(kept, r)
			}
		}
		s.renames = kept
	case f[0] == "M" && len(f) == 2, f[0] == "A" && len(f) == 2:
		p, err := path(1)
		if err != nil {
			return bad()
		}
		for q := range s.paths {
			if q == p || (f[0] == "A" && strings.HasPrefix(q, p+string(filepath.Separator))) {
				delete(s.paths, q)
			}
		}
	default:
		return bad()
	}
	return nil
}

// unsyncedFS is a vfs.FS that writes through to base and journals, beside
// the store, what a power loss would undo: per file the end of its last
// synced write, the files created and renames made since their directory
// was last synced. The journal is written with plain writes, never synced:
// it plays the part of the kernel's memory, which a SIGKILL keeps.
type unsyncedFS struct {
	vfs.FS
	path string

	mu      sync.Mutex
	journal vfs.File
	state   *journalState
	nextID  int
	err     error // the first journal write error; every later op fails with it
}

func newUnsyncedFS(base vfs.FS, journalPath string, pid int) (*unsyncedFS, error) {
	f, err := base.Create(journalPath, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("pebbledisk: creating the unsynced-write journal: %w", err)
	}
	u := &unsyncedFS{FS: base, path: filepath.Clean(journalPath), journal: f, state: newJournalState(pid)}
	if _, err := f.Write([]byte(journalMagic + strconv.Itoa(pid) + "\n")); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("pebbledisk: writing the unsynced-write journal: %w", err)
	}
	return u, nil
}

// record appends one record and applies it to the state.
func (u *unsyncedFS) record(format string, args ...any) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.recordLocked(format, args...)
}

func (u *unsyncedFS) recordLocked(format string, args ...any) error {
	if u.err != nil {
		return u.err
	}
	line := fmt.Sprintf(format, args...)
	if err := u.state.apply(line); err != nil {
		panic("pebbledisk: unsynced journal: " + err.Error()) // a bug in this file
	}
	if _, err := u.journal.Write([]byte(line + "\n")); err != nil {
		u.err = fmt.Errorf("pebbledisk: unsynced-write journal %s: %w", u.path, err)
	}
	return u.err
}

// finish closes the journal and removes it: the store was closed, so no
// power loss is to be played on it.
func (u *unsyncedFS) finish() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.journal == nil {
		return nil
	}
	err := errors.Join(u.journal.Close(), u.FS.Remove(u.path))
	u.journal = nil
	if u.err == nil {
		u.err = errors.New("pebbledisk: unsynced-write journal closed")
	}
	return err
}

func q(p string) string { return strconv.Quote(filepath.Clean(p)) }

// Unwrap implements vfs.FS.
func (u *unsyncedFS) Unwrap() vfs.FS { return u.FS }

// Create implements vfs.FS; the record comes first, so a file created
// just before the process died is still removed.
func (u *unsyncedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	u.mu.Lock()
	u.nextID++
	id := u.nextID
	err := u.recordLocked("C %d %s", id, q(name))
	u.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f, err := u.FS.Create(name, category)
	if err != nil {
		_ = u.record("M %s", q(name))
		return nil, err
	}
	return &unsyncedFile{File: f, fs: u, id: id, written: true}, nil
}

// OpenReadWrite implements vfs.FS.
func (u *unsyncedFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	existed := true
	if _, err := u.Stat(name); err != nil {
		existed = false
	}
	u.mu.Lock()
	u.nextID++
	id := u.nextID
	rec := "O %d %s"
	if !existed {
		rec = "C %d %s"
	}
	err := u.recordLocked(rec, id, q(name))
	u.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f, err := u.FS.OpenReadWrite(name, category, opts...)
	if err != nil {
		if !existed {
			_ = u.record("M %s", q(name))
		}
		return nil, err
	}
	return &unsyncedFile{File: f, fs: u, id: id, written: !existed}, nil
}

// ReuseForWrite implements vfs.FS: a rename and an open for writing, both
// journaled (pebble recycles its WAL files this way).
func (u *unsyncedFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if err := u.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return u.OpenReadWrite(newname, category)
}

// OpenDir implements vfs.FS: a sync of the directory makes its new
// entries durable.
func (u *unsyncedFS) OpenDir(name string) (vfs.File, error) {
	f, err := u.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &unsyncedDir{File: f, fs: u, name: name}, nil
}

// Link implements vfs.FS.
func (u *unsyncedFS) Link(oldname, newname string) error {
	if err := u.record("L %s", q(newname)); err != nil {
		return err
	}
	return u.FS.Link(oldname, newname)
}

// Remove implements vfs.FS. A removal counts as durable at once: a power
// loss could also bring the file back, which this journal does not play.
func (u *unsyncedFS) Remove(name string) error {
	if err := u.FS.Remove(name); err != nil {
		return err
	}
	return u.record("M %s", q(name))
}

// RemoveAll implements vfs.FS.
func (u *unsyncedFS) RemoveAll(name string) error {
	if err := u.FS.RemoveAll(name); err != nil {
		return err
	}
	return u.record("A %s", q(name))
}

// Rename implements vfs.FS; it is journaled once done. A rename over an
// existing file is kept by a power loss (Q): undone, it would leave
// neither the old file nor the new one.
func (u *unsyncedFS) Rename(oldname, newname string) error {
	rec := "R %s %s"
	if _, err := u.Stat(newname); err == nil {
		rec = "Q %s %s"
	}
	if err := u.FS.Rename(oldname, newname); err != nil {
		return err
	}
	return u.record(rec, q(oldname), q(newname))
}

// unsyncedFile journals its first write and every completed full sync.
type unsyncedFile struct {
	vfs.File
	fs      *unsyncedFS
	id      int
	extent  atomic.Int64 // the end of the furthest write
	wmu     sync.Mutex
	written bool // X recorded (guarded by wmu)
}

// beforeWrite records the file's first write before it happens.
func (f *unsyncedFile) beforeWrite() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.written {
		return nil
	}
	if err := f.fs.record("X %d", f.id); err != nil {
		return err
	}
	f.written = true
	return nil
}

func (f *unsyncedFile) Write(p []byte) (int, error) {
	if err := f.beforeWrite(); err != nil {
		return 0, err
	}
	n, err := f.File.Write(p)
	f.extent.Add(int64(n))
	return n, err
}

func (f *unsyncedFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.beforeWrite(); err != nil {
		return 0, err
	}
	n, err := f.File.WriteAt(p, off)
	for end := off + int64(n); ; {
		cur := f.extent.Load()
		if cur >= end || f.extent.CompareAndSwap(cur, end) {
			break
		}
	}
	return n, err
}

// synced records that everything written before the sync began is durable.
func (f *unsyncedFile) synced(extent int64) error {
	return f.fs.record("S %d %d", f.id, extent)
}

func (f *unsyncedFile) Sync() error {
	extent := f.extent.Load()
	if err := f.File.Sync(); err != nil {
		return err
	}
	return f.synced(extent)
}

func (f *unsyncedFile) SyncData() error {
	extent := f.extent.Load()
	if err := f.File.SyncData(); err != nil {
		return err
	}
	return f.synced(extent)
}

// SyncTo counts only when the file system reports a full sync; a queued
// range sync promises nothing.
func (f *unsyncedFile) SyncTo(length int64) (bool, error) {
	extent := f.extent.Load()
	full, err := f.File.SyncTo(length)
	if err != nil || !full {
		return full, err
	}
	return true, f.synced(extent)
}

// unsyncedDir journals the syncs of a directory.
type unsyncedDir struct {
	vfs.File
	fs   *unsyncedFS
	name string
}

func (d *unsyncedDir) Sync() error {
	if err := d.File.Sync(); err != nil {
		return err
	}
	return d.fs.record("D %s", q(d.name))
}

func (d *unsyncedDir) SyncData() error { return d.Sync() }

// readJournal parses the journal at path.
func readJournal(fs vfs.FS, path string) (*journalState, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	first, rest, ok := bytes.Cut(data, []byte("\n"))
	pid, err := strconv.Atoi(strings.TrimPrefix(string(first), journalMagic))
	if !ok || !bytes.HasPrefix(first, []byte(journalMagic)) || err != nil {
		return nil, fmt.Errorf("%s: not an unsynced-write journal", path)
	}
	s := newJournalState(pid)
	lines := strings.Split(string(rest), "\n")
	// The last record may be cut short by the process's death: only
	// complete lines count.
	lines = lines[:len(lines)-1]
	for i, line := range lines {
		if err := s.apply(line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+2, err)
		}
	}
	return s, nil
}

// LoseUnsynced plays a power loss on the files the journal at
// journalPath tracks: the process pid wrote the journal and is dead. It
// undoes the renames and removes the files whose directory was not
// synced since, and truncates every written file to the end of its last
// synced write; then it removes the journal. A journal written by
// another process is refused (it would undo writes that process never
// made), as is a missing one: the crash could not be played.
func LoseUnsynced(fs vfs.FS, journalPath string, pid int) (LossReport, error) {
	report := LossReport{Pid: pid}
	s, err := readJournal(fs, journalPath)
	if err != nil {
		return report, fmt.Errorf("pebbledisk: playing the power loss of pid %d: %w", pid, err)
	}
	if s.pid != pid {
		return report, fmt.Errorf("pebbledisk: playing the power loss of pid %d: %s was written by pid %d", pid, journalPath, s.pid)
	}
	dirs := map[string]bool{}
	for i := len(s.renames) - 1; i >= 0; i-- {
		r := s.renames[i]
		if !exists(fs, r.to) || exists(fs, r.from) {
			continue
		}
		if err := fs.Rename(r.to, r.from); err != nil {
			return report, fmt.Errorf("pebbledisk: undoing rename %s -> %s: %w", r.from, r.to, err)
		}
		if e := s.paths[r.to]; e != nil {
			delete(s.paths, r.to)
			e.path = r.from
			s.paths[r.from] = e
		}
		report.RenamesUndone++
		dirs[filepath.Dir(r.from)], dirs[filepath.Dir(r.to)] = true, true
	}
	for p, e := range s.paths {
		if !exists(fs, p) {
			continue
		}
		if e.pending {
			if err := fs.Remove(p); err != nil {
				return report, fmt.Errorf("pebbledisk: removing %s: %w", p, err)
			}
			report.Removed++
			dirs[filepath.Dir(p)] = true
			continue
		}
		if !e.written {
			continue
		}
		cut, written, err := truncate(fs, p, e.synced)
		if err != nil {
			return report, fmt.Errorf("pebbledisk: truncating %s to %d bytes: %w", p, e.synced, err)
		}
		if cut > 0 {
			dirs[filepath.Dir(p)] = true
		}
		if written > 0 {
			report.Truncated++
			report.TruncatedBytes += written
		}
	}
	for dir := range dirs {
		if err := syncDir(fs, dir); err != nil {
			return report, err
		}
	}
	if err := fs.Remove(journalPath); err != nil {
		return report, err
	}
	return report, nil
}

func exists(fs vfs.FS, p string) bool {
	_, err := fs.Stat(p)
	return err == nil
}

// truncate cuts the file at p to size bytes and returns how many it cut,
// and how many of those precede the cut's trailing zeros (written).
// vfs has no truncate: the kept prefix is copied into a new file, synced,
// that replaces the old one.
func truncate(fs vfs.FS, p string, size int64) (cut, written int64, err error) {
	info, err := fs.Stat(p)
	if err != nil {
		return 0, 0, err
	}
	if info.Size() <= size {
		return 0, 0, nil
	}
	src, err := fs.Open(p)
	if err != nil {
		return 0, 0, err
	}
	prefix := make([]byte, size)
	_, err = io.ReadFull(src, prefix)
	if err == nil {
		written, err = nonZeroPrefix(src)
	}
	_ = src.Close()
	if err != nil {
		return 0, 0, err
	}
	tmp := p + ".lose-unsynced"
	dst, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return 0, 0, err
	}
	_, err = dst.Write(prefix)
	err = errors.Join(err, dst.Sync(), dst.Close())
	if err == nil {
		err = fs.Rename(tmp, p)
	}
	if err != nil {
		return 0, 0, err
	}
	return info.Size() - size, written, nil
}

// nonZeroPrefix reads r to its end and returns the length of what it
// read up to its last non-zero byte.
func nonZeroPrefix(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n, end int64
	for {
		k, err := r.Read(buf)
		for i := k - 1; i >= 0; i-- {
			if buf[i] != 0 {
				end = n + int64(i) + 1
				break
			}
		}
		n += int64(k)
		if err == io.EOF {
			return end, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// syncDir is in side.go.
