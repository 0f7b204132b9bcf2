package pebbledisk

import (
	"path"
	"unsafe"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Direct segment writes (see "Direct I/O" in doc.go): on the operating
// system's file system, segments are written with O_DIRECT, so a value
// goes from the caller's buffer to the device without a copy into the
// page cache, and every value starts at a multiple of directAlign.
const (
	// directAlign is the alignment O_DIRECT asks of a write's buffer,
	// length and file offset: a page, which covers devices with 512-byte
	// and 4 KiB logical blocks.
	directAlign = 4096
	// stagingKeepBytesMax: an aligned staging buffer up to this size is
	// kept for the next unaligned value.
	stagingKeepBytesMax = 4 << 20
	// directProbeName is the file openSide writes once with O_DIRECT to
	// learn whether the file system takes direct writes.
	directProbeName = "direct-probe"
)

// segmentAlignOverride, when above 1, is the alignment of a store that
// does not write directly: tests set it to lay segments out as direct
// writes do on file systems that see every write (vfs.NewCrashableMem).
var segmentAlignOverride = 0

// segmentFile is what a segment write needs of its file: vfs.File, or a
// file opened for direct writes.
type segmentFile interface {
	Write(p []byte) (int, error)
	SyncData() error
	Close() error
}

// span is the bytes a value of n bytes takes in a segment: n rounded up
// to the store's alignment.
func (s *sideStore) span(n int) int64 {
	a := int64(max(s.align, 1))
	return (int64(n) + a - 1) / a * a
}

// aligned reports whether b starts at a multiple of align.
func aligned(b []byte, align int) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align) == 0
}

// alignedBuffer returns n zero bytes starting at a multiple of align.
func alignedBuffer(n, align int) []byte {
	b := make([]byte, n+align)
	off := (align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align))) % align
	return b[off : off+n : off+n]
}

// writeValues appends values to f, each padded with zeros to its span. A
// value that is aligned in memory and whose length is its span is written
// from the caller's buffer as it is; the others are copied into an
// aligned staging buffer first (O_DIRECT needs both).
func (s *sideStore) writeValues(f segmentFile, values [][]byte) error {
	for _, v := range values {
		n := int(s.span(len(v)))
		if !fsScribbles && n == len(v) && (s.align <= 1 || aligned(v, s.align)) {
			if _, err := f.Write(v); err != nil {
				return err
			}
			continue
		}
		buf := s.stagingBuffer(n)
		copy(buf, v)
		clear(buf[len(v):])
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// stagingBuffer returns an aligned buffer of n bytes, reused across calls
// up to stagingKeepBytesMax.
func (s *sideStore) stagingBuffer(n int) []byte {
	if cap(s.staging) >= n {
		return s.staging[:n]
	}
	b := alignedBuffer(n, max(s.align, 1))
	if n <= stagingKeepBytesMax {
		s.staging = b
	}
	return b
}

// createSegment creates a segment file: with O_DIRECT when the store
// writes directly, else through the store's file system.
func (s *sideStore) createSegment(name string) (segmentFile, error) {
	if s.direct {
		return createDirect(name)
	}
	return s.fs.Create(name, vfs.WriteCategoryUnspecified)
}

// probeDirect reports whether dir, on the operating system's file
// system, takes an aligned O_DIRECT write (tmpfs, for one, refuses
// O_DIRECT at open). The probe file is removed.
func probeDirect(dir string) bool {
	name := path.Join(dir, directProbeName)
	f, err := createDirect(name)
	if err != nil {
		return false
	}
	_, werr := f.Write(alignedBuffer(directAlign, directAlign))
	serr := f.SyncData()
	cerr := f.Close()
	_ = vfs.Default.Remove(name)
	return werr == nil && serr == nil && cerr == nil
}
