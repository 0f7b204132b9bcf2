package pebbledisk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

// Side files (see "Side files" in doc.go): a value of at least
// Options.SideValueBytesMin bytes is written once, to a segment file
// that is synced before the pebble write that records a small pointer to
// it commits.
const (
	// SideValueBytesDefault is Options.SideValueBytesMin when zero: every
	// chunk of the default size (256 KiB) goes to a segment, small chunks
	// and metadata stay in pebble.
	SideValueBytesDefault = 64 << 10
	// SideDirName is the segments' directory inside the store's directory.
	SideDirName = "values"
	// segmentBytesMax and segmentValuesMax bound one segment: the values
	// of the writes grouped into one fsync (see groupOps).
	segmentBytesMax  = 16 << 20
	segmentValuesMax = 256
	// segmentsPerDir fans segment files out over subdirectories.
	segmentsPerDir = 4096
)

// segmentFileBytesMax: writes append to one segment file until it holds
// this much, then a new one starts (a variable for the tests).
var segmentFileBytesMax int64 = 64 << 20

// FailpointSideKill kills the process with SIGKILL at the side-file step
// its value names ("written": segment written, not synced; "synced":
// segment and directory synced, pointers not committed; "committed":
// pointers committed, not synced). The kill -9 tests set it through
// GO_FAILPOINTS.
const FailpointSideKill = failpointPrefix + "side-kill"

// sideMagic starts every value the store itself encodes: a pointer to a
// segment, or a small value that happens to start with the magic
// (escaped). Any other stored value is the caller's bytes as they are.
var sideMagic = [8]byte{0xd7, 0x5e, 'R', 'O', 'N', 's', 'v', 0x9c}

// Kinds of an encoded value (the byte after the magic).
const (
	sideKindEscaped = 0 // the caller's value follows
	sideKindPointer = 1 // segment u64, offset u32, length u32, crc32c u32
)

// pointerBytes is the length of an encoded pointer.
const pointerBytes = len(sideMagic) + 1 + 8 + 4 + 4 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// pointer locates one value in a segment.
type pointer struct {
	segment uint64
	offset  uint32
	length  uint32
	crc     uint32
}

func (p pointer) encode() []byte {
	b := make([]byte, 0, pointerBytes)
	b = append(b, sideMagic[:]...)
	b = append(b, sideKindPointer)
	b = binary.BigEndian.AppendUint64(b, p.segment)
	b = binary.BigEndian.AppendUint32(b, p.offset)
	b = binary.BigEndian.AppendUint32(b, p.length)
	return binary.BigEndian.AppendUint32(b, p.crc)
}

// decodeStored classifies a stored value: raw (the caller's bytes),
// escaped (the caller's bytes after the header) or a pointer.
func decodeStored(v []byte) (inline []byte, p pointer, isPointer bool, err error) {
	if !bytes.HasPrefix(v, sideMagic[:]) {
		return v, pointer{}, false, nil
	}
	rest := v[len(sideMagic):]
	if len(rest) == 0 {
		return nil, pointer{}, false, fmt.Errorf("%w: stored value of %d bytes is a bare side-file marker", env.ErrCorruption, len(v))
	}
	switch rest[0] {
	case sideKindEscaped:
		return rest[1:], pointer{}, false, nil
	case sideKindPointer:
		if len(v) != pointerBytes {
			return nil, pointer{}, false, fmt.Errorf("%w: side-file pointer of %d bytes, want %d", env.ErrCorruption, len(v), pointerBytes)
		}
		rest = rest[1:]
		return nil, pointer{
			segment: binary.BigEndian.Uint64(rest),
			offset:  binary.BigEndian.Uint32(rest[8:]),
			length:  binary.BigEndian.Uint32(rest[12:]),
			crc:     binary.BigEndian.Uint32(rest[16:]),
		}, true, nil
	}
	return nil, pointer{}, false, fmt.Errorf("%w: stored value of unknown side-file kind %d", env.ErrCorruption, rest[0])
}

// escape returns how a value below the side threshold is stored: as it
// is, unless it starts with the magic.
func escape(v []byte) []byte {
	if !bytes.HasPrefix(v, sideMagic[:]) {
		return v
	}
	out := make([]byte, 0, len(sideMagic)+1+len(v))
	out = append(out, sideMagic[:]...)
	out = append(out, sideKindEscaped)
	return append(out, v...)
}

// sideStore owns the segment files of one store. It is used under the
// Disk's execMu only.
type sideStore struct {
	fs   vfs.FS
	log  *slog.Logger // warnings: a tail cut that failed
	dir  string       // <store>/values
	min  int          // values of at least min bytes go to segments; 0: never
	next uint64       // the next segment id
	live map[uint64]int
	// size and liveBytes: a segment's bytes, and those its live pointers
	// name; the difference is garbage that compact reclaims. Change them
	// through setSize, dropSize, hold and release only: sizeTotal and
	// liveTotal, their sums, are read without execMu (Disk.Stats).
	size      map[uint64]int64
	liveBytes map[uint64]int64
	sizeTotal atomic.Int64
	liveTotal atomic.Int64
	// ends: the end of the last value a live pointer names in each
	// segment, counted by Open's countPointers for reclaimTails only.
	ends map[uint64]int64
	// tailsReclaimed: the bytes Open cut off segment tails (reclaimTails).
	tailsReclaimed int64
	// noCompact: segments compact gave up on (a value did not read).
	noCompact   map[uint64]bool
	compactions int // rounds done, for the tests
	active      *activeSegment
	pending     []uint64 // segments without a live pointer, unlinked after the next sync
	madeDirs    map[uint64]bool
	// mem, when set (Options.ValuesInMemory), holds each segment's values
	// instead of files: the slices the disk was given, kept as they are.
	mem map[uint64][][]byte
	// direct: segments are created with O_DIRECT (direct.go); align is
	// then directAlign, the multiple every value starts at (else 1: no
	// padding). staging is the aligned buffer unaligned values are copied
	// into.
	direct  bool
	align   int
	staging []byte
	// readers are the segments' read handles (segmentReaders).
	readers segmentReaders
}

// segmentReadersMax bounds the segment files kept open for reading.
const segmentReadersMax = 64

// segmentReaders keeps segments open for reading, so a get costs one
// pread instead of an open, a pread and a close. Parallel gets (under
// execMu shared) use it at once, hence its own mutex; a handle is closed
// when its segment is unlinked (execMu held exclusively, so no get is
// using it), at Close, or when it is evicted to make room, then only by
// the last get using it.
type segmentReaders struct {
	mu   sync.Mutex
	open map[uint64]*segmentReader
}

type segmentReader struct {
	f       vfs.File
	users   int
	evicted bool
}

// acquire returns segment id's handle, opening it if needed; release it
// after the read.
func (r *segmentReaders) acquire(fsys vfs.FS, id uint64, name string) (*segmentReader, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.open[id]; h != nil {
		h.users++
		return h, nil
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if r.open == nil {
		r.open = map[uint64]*segmentReader{}
	}
	if len(r.open) >= segmentReadersMax {
		for other, h := range r.open { // any one: the order does not matter
			r.evict(other, h)
			break
		}
	}
	h := &segmentReader{f: f, users: 1}
	r.open[id] = h
	return h, nil
}

func (r *segmentReaders) release(h *segmentReader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.users--
	if h.evicted && h.users == 0 {
		_ = h.f.Close()
	}
}

// drop forgets segment id's handle (its file is going) and closes it
// once no get uses it (none does: the caller holds execMu exclusively).
func (r *segmentReaders) drop(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.open[id]; h != nil {
		r.evict(id, h)
	}
}

// evict forgets a handle and closes it unless a get still uses it (the
// last release closes it then). The caller holds mu.
func (r *segmentReaders) evict(id uint64, h *segmentReader) {
	delete(r.open, id)
	h.evicted = true
	if h.users == 0 {
		_ = h.f.Close()
	}
}

// closeAll drops every handle (Close, or the segments are all going).
func (r *segmentReaders) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, h := range r.open {
		r.evict(id, h)
	}
}

func segmentSubdir(id uint64) string { return fmt.Sprintf("%08x", id/segmentsPerDir) }

func (s *sideStore) segmentPath(id uint64) string {
	return path.Join(s.dir, segmentSubdir(id), fmt.Sprintf("%016x.seg", id))
}

// openSide prepares the segment directory, counts the pointers of the
// recovered store and removes the segments none refers to: those written
// for writes a crash lost, and those whose unlink after a sync was lost.
func openSide(db *pebble.DB, fsys vfs.FS, log *slog.Logger, storeDir string, min int, inMemory, buffered bool) (*sideStore, error) {
	s := &sideStore{fs: fsys, log: log, dir: path.Join(storeDir, SideDirName), min: min,
		live: map[uint64]int{}, madeDirs: map[uint64]bool{}, size: map[uint64]int64{}, liveBytes: map[uint64]int64{},
		noCompact: map[uint64]bool{}, ends: map[uint64]int64{}}
	if inMemory {
		// Nothing survives the process: a store with pointers cannot be
		// reopened (openSide would find no values), so refuse one.
		s.mem = map[uint64][][]byte{}
		if err := s.countPointers(db); err != nil {
			return nil, err
		}
		if len(s.live) > 0 {
			return nil, fmt.Errorf("store holds pointers to %d segments, and Options.ValuesInMemory keeps none across an Open", len(s.live))
		}
		return s, nil
	}
	if err := s.mkdirSynced(s.dir, storeDir); err != nil {
		return nil, err
	}
	// Direct writes only on the operating system's file system itself: a
	// wrapped one (errorfs, the unsynced journal) or an in-memory one
	// must see every write.
	s.align = max(1, segmentAlignOverride)
	if fsys == vfs.Default && !buffered && probeDirect(s.dir) {
		s.direct, s.align = true, directAlign
	}
	// The pointers counted below must be those a later crash can bring
	// back: the WAL replay may have applied unsynced deletes, and a
	// power loss after Open would undo them unless they reach synced
	// tables first. Pebble's Open flushes what it replayed (v2.1.7), but
	// nothing promises it; a forced flush, once per Open, does. Both the
	// removal of segments no pointer names and reclaimTail's cut rest on
	// it (TestTailCutAfterKillThenPowerLoss plays that crash).
	if err := db.Flush(); err != nil {
		return nil, fmt.Errorf("flushing the replayed log: %w", err)
	}
	if err := s.countPointers(db); err != nil {
		return nil, err
	}
	subdirs, err := fsys.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", s.dir, err)
	}
	for _, sub := range subdirs {
		high, err := strconv.ParseUint(sub, 16, 64)
		if err != nil || len(sub) != 8 {
			continue // not ours
		}
		s.madeDirs[high] = true
		names, err := fsys.List(path.Join(s.dir, sub))
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", sub, err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, tailRewriteSuffix) {
				_ = fsys.Remove(path.Join(s.dir, sub, name)) // a rewrite a crash cut short
				continue
			}
			hex, ok := strings.CutSuffix(name, ".seg")
			id, err := strconv.ParseUint(hex, 16, 64)
			if !ok || err != nil || len(hex) != 16 || id/segmentsPerDir != high {
				continue
			}
			s.next = max(s.next, id+1)
			if s.live[id] == 0 {
				if err := fsys.Remove(path.Join(s.dir, sub, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("removing orphan segment %s: %w", name, err)
				}
				continue
			}
			info, err := fsys.Stat(path.Join(s.dir, sub, name))
			if err != nil {
				return nil, fmt.Errorf("segment %s: %w", name, err)
			}
			s.setSize(id, s.reclaimTail(id, info.Size()))
		}
	}
	for id := range s.live {
		s.next = max(s.next, id+1)
	}
	s.ends = nil
	return s, nil
}

// reclaimTail cuts off segment id's tail past the end of the last value
// a live pointer names, and returns the segment's size after it. Such a
// tail is what a crash leaves in a segment that other values keep: the
// values of a group written (and maybe synced) whose pointers never
// committed; and the values at the end a delete released. No pointer
// can come to name those bytes again: openSide flushed the store as its
// WAL replay left it to synced tables before counting, so every pointer
// a later crash could bring back is among those countPointers counted,
// and ends holds the end of the last one. Removing a segment no pointer
// names (openSide) rests on the same fact. No write appends to the
// segment again: writes after Open start a new active segment.
//
// Only on the operating system's file system, whose files truncate
// (pebble's vfs has no truncate), or in tests (segmentTailRewrite);
// elsewhere the tail stays, counted as garbage until compaction moves
// the segment's live values away. The truncate is synced, so the space
// is the file system's again whatever happens next. A failed cut is
// logged, and the size returned is the file's as a fresh Stat finds it
// (a truncate may fail after cutting, in its sync), so that the garbage
// gauge counts the bytes the file really holds.
//
// The truncate changes the segment's inode in place: a hard link to it
// (a backup or checkpoint that links segments rather than copying them)
// would be cut too. Nothing links segments today; whatever comes to must
// copy them, or hold Open off while it runs.
func (s *sideStore) reclaimTail(id uint64, size int64) int64 {
	end := s.ends[id]
	if end <= 0 || size <= end {
		return size
	}
	name := s.segmentPath(id)
	var err error
	switch {
	case s.fs == vfs.Default:
		err = truncateSynced(name, end)
	case segmentTailRewrite:
		err = s.rewritePrefix(name, end)
	default:
		return size
	}
	if err != nil {
		now := size
		if info, serr := s.fs.Stat(name); serr == nil {
			now = info.Size()
		}
		s.log.Warn("pebbledisk: cutting a segment's crash tail failed; the tail stays as garbage",
			"segment", name, "size", size, "cut_to", end, "size_now", now, "err", err)
		if now < size {
			s.tailsReclaimed += size - max(now, end)
		}
		return now
	}
	s.tailsReclaimed += size - end
	return end
}

// segmentTailRewrite (tests only) makes reclaimTail work on any file
// system by rewriting the segment's prefix (rewritePrefix), so that the
// crash suites, which run on vfs.NewCrashableMem, check which tails it
// cuts against power losses at every step.
var segmentTailRewrite = false

// tailRewriteSuffix names rewritePrefix's temporary file; openSide
// removes one a crash left.
const tailRewriteSuffix = ".seg.tmp"

// rewritePrefix replaces the file name with its first size bytes: a
// synced copy renamed over it, the directory synced, so a crash leaves
// either file whole.
func (s *sideStore) rewritePrefix(name string, size int64) error {
	src, err := s.fs.Open(name)
	if err != nil {
		return err
	}
	prefix := make([]byte, size)
	_, err = src.ReadAt(prefix, 0)
	_ = src.Close()
	if err != nil {
		return err
	}
	tmp := strings.TrimSuffix(name, ".seg") + tailRewriteSuffix
	f, err := s.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write(prefix)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, name)
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	return syncDir(s.fs, path.Dir(name))
}

// truncateSynced truncates the file name to size and syncs it.
func truncateSynced(name string, size int64) error {
	// #nosec G304 -- name is a segment path the store built (segmentPath), never input
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// setSize records segment id's size.
func (s *sideStore) setSize(id uint64, n int64) {
	s.sizeTotal.Add(n - s.size[id])
	s.size[id] = n
}

// dropSize forgets segment id's size (it is unlinked).
func (s *sideStore) dropSize(id uint64) {
	s.sizeTotal.Add(-s.size[id])
	delete(s.size, id)
}

// garbageBytes is the bytes of the segments that no live pointer names:
// crash tails, released values and alignment padding. Safe without
// execMu. A pointer into a missing or short segment (corruption) would
// count more live bytes than the segments hold; the sum is then bounded
// at zero.
func (s *sideStore) garbageBytes() int64 {
	return max(0, s.sizeTotal.Load()-s.liveTotal.Load())
}

// countPointers scans every value that could be a pointer (its length is
// pointerBytes; longer values are never fetched) and counts the live
// pointers per segment.
func (s *sideStore) countPointers(db *pebble.DB) error {
	iter, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	for valid := iter.First(); valid; valid = iter.Next() {
		lv := iter.LazyValue()
		if lv.Len() != pointerBytes {
			continue
		}
		v, _, err := lv.Value(nil)
		if err != nil {
			_ = iter.Close()
			return err
		}
		if _, p, ok, err := decodeStored(v); err == nil && ok {
			s.live[p.segment]++
			if s.liveBytes != nil {
				s.liveBytes[p.segment] += int64(p.length)
				s.liveTotal.Add(int64(p.length))
			}
			if s.ends != nil {
				s.ends[p.segment] = max(s.ends[p.segment], int64(p.offset)+int64(p.length))
			}
		}
	}
	return iter.Close()
}

// mkdirSynced creates dir if missing and syncs its parent so that the
// entry survives a crash.
func (s *sideStore) mkdirSynced(dir, parent string) error {
	if _, err := s.fs.Stat(dir); err == nil {
		return nil
	}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return syncDir(s.fs, parent)
}

func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// large reports whether a put of v goes to a segment.
func (s *sideStore) large(v []byte) bool { return s.min > 0 && len(v) >= s.min }

// writeSegment writes values into a new segment, syncs it and its
// directory, and returns its id and the pointers, in order. On an error
// the segment is removed (nothing refers to it yet).
func (s *sideStore) writeSegment(values [][]byte) (uint64, []pointer, error) {
	if s.mem != nil {
		var total int64
		for _, v := range values {
			total += int64(len(v))
		}
		id := s.next
		s.next++
		s.setSize(id, total)
		return id, s.keepSegment(id, values), nil
	}
	var total int64 // with each value's padding to the alignment
	for _, v := range values {
		total += s.span(len(v))
	}
	// Values are appended to the active segment while it stays under
	// segmentFileBytesMax: a later group then syncs only the file's data,
	// its directory entry being durable since the segment was created.
	created := false
	if s.active == nil || s.active.size+total > segmentFileBytesMax {
		if err := s.openActive(); err != nil {
			return 0, nil, err
		}
		created = true
	}
	a := s.active
	ptrs := make([]pointer, len(values))
	offset := uint32(a.size)
	for i, v := range values {
		ptrs[i] = pointer{segment: a.id, offset: offset, length: uint32(len(v)), crc: crc32.Checksum(v, castagnoli)}
		offset += uint32(s.span(len(v)))
	}
	err := func() error {
		if err := s.writeValues(a.f, values); err != nil {
			return err
		}
		sideKill("written")
		if err := a.f.SyncData(); err != nil {
			return err
		}
		if created {
			return syncDir(s.fs, path.Join(s.dir, segmentSubdir(a.id)))
		}
		return nil
	}()
	if err != nil {
		// The file's tail past a.size may hold part of the values: no
		// pointer names it, and no later write goes after it.
		s.closeActive()
		if created {
			_ = s.fs.Remove(s.segmentPath(a.id))
		}
		return 0, nil, fmt.Errorf("segment %016x: %w", a.id, err)
	}
	a.size += total
	s.setSize(a.id, a.size)
	sideKill("synced")
	return a.id, ptrs, nil
}

// activeSegment is the segment file writes append to.
type activeSegment struct {
	id   uint64
	f    segmentFile
	size int64 // bytes written and synced, a multiple of the alignment
}

// openActive closes the active segment and creates the next one.
func (s *sideStore) openActive() error {
	s.closeActive()
	id := s.next
	s.next++
	high := id / segmentsPerDir
	if !s.madeDirs[high] {
		if err := s.mkdirSynced(path.Join(s.dir, segmentSubdir(id)), s.dir); err != nil {
			return err
		}
		s.madeDirs[high] = true
	}
	f, err := s.createSegment(s.segmentPath(id))
	if err != nil {
		return fmt.Errorf("segment %016x: %w", id, err)
	}
	s.active = &activeSegment{id: id, f: f}
	s.setSize(id, 0)
	return nil
}

// closeActive closes the active segment's file; a segment no pointer
// names goes after the next sync.
func (s *sideStore) closeActive() {
	a := s.active
	if a == nil {
		return
	}
	s.active = nil
	_ = a.f.Close()
	if s.live[a.id] == 0 {
		s.pending = append(s.pending, a.id)
	}
}

// isActive reports whether id is the segment writes append to.
func (s *sideStore) isActive(id uint64) bool { return s.active != nil && s.active.id == id }

// keepSegment is writeSegment in memory. A value that pins a much larger
// array (a slice of a bigger buffer) is copied out, so that the memory
// held is the bytes stored.
func (s *sideStore) keepSegment(id uint64, values [][]byte) []pointer {
	ptrs := make([]pointer, len(values))
	kept := make([][]byte, len(values))
	var offset uint32
	for i, v := range values {
		if cap(v)-len(v) > len(v)/8 {
			v = bytes.Clone(v)
		}
		kept[i] = v[:len(v):len(v)]
		ptrs[i] = pointer{segment: id, offset: offset, length: uint32(len(v)), crc: crc32.Checksum(v, castagnoli)}
		offset += uint32(len(v))
	}
	s.mem[id] = kept
	return ptrs
}

// readMem is read in memory.
func (s *sideStore) readMem(p pointer) ([]byte, error) {
	var offset uint32
	for _, v := range s.mem[p.segment] {
		if offset == p.offset && uint32(len(v)) == p.length {
			if crc32.Checksum(v, castagnoli) != p.crc {
				return nil, fmt.Errorf("%w: value of %d bytes at %d in segment %016x fails its checksum",
					env.ErrCorruption, p.length, p.offset, p.segment)
			}
			return bytes.Clone(v), nil
		}
		offset += uint32(len(v))
	}
	return nil, fmt.Errorf("%w: no value of %d bytes at %d in segment %016x", env.ErrCorruption, p.length, p.offset, p.segment)
}

// readPart returns the n bytes at off of the value p points at (into buf
// when its capacity holds them), without its crc, which covers the whole
// value: the caller checks the part (see Disk.loadPart). A part beyond
// the value is an error wrapping env.ErrDiskInvalid.
func (s *sideStore) readPart(p pointer, off, n uint64, buf []byte) ([]byte, error) {
	if off > uint64(p.length) || n > uint64(p.length)-off {
		return nil, fmt.Errorf("%w: part %d+%d of a value of %d bytes", env.ErrDiskInvalid, off, n, p.length)
	}
	if s.mem != nil {
		var at uint32
		for _, v := range s.mem[p.segment] {
			if at == p.offset && uint32(len(v)) == p.length {
				return bytes.Clone(v[off : off+n]), nil
			}
			at += uint32(len(v))
		}
		return nil, fmt.Errorf("%w: no value of %d bytes at %d in segment %016x", env.ErrCorruption, p.length, p.offset, p.segment)
	}
	h, err := s.acquire(p)
	if err != nil {
		return nil, err
	}
	defer s.readers.release(h)
	if uint64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	m, err := h.f.ReadAt(buf, int64(p.offset)+int64(off))
	if m == len(buf) {
		err = nil
	}
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: segment %016x holds %d of the %d bytes at %d+%d a pointer names",
			env.ErrCorruption, p.segment, m, n, p.offset, off)
	}
	if err != nil {
		return nil, err
	}
	return buf, nil
}

// acquire is a reader of p's segment (release it); a missing segment is
// corruption: a stored pointer names it.
func (s *sideStore) acquire(p pointer) (*segmentReader, error) {
	h, err := s.readers.acquire(s.fs, p.segment, s.segmentPath(p.segment))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: segment %016x of a stored pointer is missing", env.ErrCorruption, p.segment)
	}
	return h, err
}

// read returns the value p points at, checked against its crc.
func (s *sideStore) read(p pointer) ([]byte, error) { return s.readInto(p, nil) }

// readInto is read into buf when its capacity holds the value (a fresh
// slice otherwise). A pread that does not fill the value is an error,
// so no byte of buf's earlier contents is ever returned.
func (s *sideStore) readInto(p pointer, buf []byte) ([]byte, error) {
	if s.mem != nil {
		return s.readMem(p)
	}
	h, err := s.acquire(p)
	if err != nil {
		return nil, err
	}
	defer s.readers.release(h)
	if uint32(cap(buf)) >= p.length {
		buf = buf[:p.length]
	} else {
		buf = make([]byte, p.length)
	}
	n, err := h.f.ReadAt(buf, int64(p.offset))
	if n == len(buf) {
		err = nil
	}
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: segment %016x holds %d of the %d bytes at %d a pointer names",
			env.ErrCorruption, p.segment, n, p.length, p.offset)
	}
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(buf, castagnoli) != p.crc {
		return nil, fmt.Errorf("%w: value of %d bytes at %d in segment %016x fails its checksum",
			env.ErrCorruption, p.length, p.offset, p.segment)
	}
	return buf, nil
}

// hold counts one more live pointer.
func (s *sideStore) hold(p pointer) {
	s.live[p.segment]++
	s.liveBytes[p.segment] += int64(p.length)
	s.liveTotal.Add(int64(p.length))
}

// release drops one live pointer; a segment left with none is unlinked
// after the next sync (until then a crash may bring back a pointer into
// it).
func (s *sideStore) release(p pointer) {
	id := p.segment
	s.live[id]--
	s.liveBytes[id] -= int64(p.length)
	s.liveTotal.Add(-int64(p.length))
	if s.live[id] <= 0 {
		delete(s.live, id)
		s.liveTotal.Add(-s.liveBytes[id]) // 0 unless the counts were off
		delete(s.liveBytes, id)
		s.pending = append(s.pending, id)
	}
}

// unlinkPending removes the segments released before a completed sync.
// A failure leaves an orphan that the next Open removes.
func (s *sideStore) unlinkPending() {
	for _, id := range s.pending {
		if s.live[id] > 0 || s.isActive(id) {
			continue // pointed into again, or still written to (closeActive requeues it)
		}
		s.dropSize(id)
		if s.mem != nil {
			delete(s.mem, id)
			continue
		}
		s.readers.drop(id)
		_ = s.fs.Remove(s.segmentPath(id))
	}
	s.pending = s.pending[:0]
}

// sideKill evaluates FailpointSideKill at step.
func sideKill(step string) {
	if v, err := failpoint.Eval(FailpointSideKill); err == nil && v == step {
		killSelf()
	}
	if sideStepHook != nil {
		sideStepHook(step)
	}
}

// sideStepHook, when set (tests only), is called at every side-file step.
var sideStepHook func(step string)
