package pebbledisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// Full-disk limits (see "Full disk" in doc.go).
const (
	// ReserveBytesDefault is Options.ReserveBytes when zero: writes are
	// refused as a full disk once the file system has less free space,
	// so pebble keeps room for the flushes and compactions that free
	// space, and its write-ahead log never meets ENOSPC (which pebble
	// treats as fatal).
	ReserveBytesDefault = 64 << 20
	// fullProbeInterval paces the checks of a full disk (free space and
	// the write failpoint) while writes are refused.
	fullProbeInterval = 250 * time.Millisecond
	// logLinesPerInterval and logInterval bound what pebble may log per
	// message format: a full disk made pebble log hundreds of lines a
	// second; the rest are counted and reported with the next line.
	logLinesPerInterval = 5
	logInterval         = 10 * time.Second
)

// ErrFull is wrapped, next to env.ErrDiskFull, by every write refused
// while the disk is full.
var ErrFull = errors.New("pebbledisk: disk full")

// fullState tracks whether writes are refused for lack of space. Its
// methods are safe for concurrent use.
type fullState struct {
	fs      vfs.FS
	dir     string
	reserve uint64 // 0: no free-space check

	mu        sync.Mutex
	full      bool
	since     time.Time
	reason    string
	lastProbe time.Time
}

// free reports whether the file system has at least the reserve free
// (true when it cannot tell: an in-memory file system), and what it
// found free (known false when it could not tell or did not ask).
func (f *fullState) free() (ok bool, reason string, avail uint64, known bool) {
	if f.reserve == 0 {
		return true, "", 0, false
	}
	usage, err := f.fs.GetDiskUsage(f.dir)
	if err != nil {
		return true, "", 0, false
	}
	if usage.AvailBytes < f.reserve {
		return false, fmt.Sprintf("%d bytes free, reserve %d", usage.AvailBytes, f.reserve), usage.AvailBytes, true
	}
	return true, "", usage.AvailBytes, true
}

// groupSpace is what the ops of one group (Disk.startGroup to
// Disk.syncGroup) learnt of the free space: the probe of the file system
// made for its first write or sync, and the bytes the group wrote since.
// Each group has its own (Disk.startGroup returns it, Disk.syncGroup
// takes it), used only under execMu.
type groupSpace struct {
	probed  bool   // a probe ran in this group and found the reserve free
	avail   uint64 // what it found free
	known   bool   // the file system told (not in memory)
	written uint64 // bytes written since: keys, values, segment values
}

// roomFor reports whether the group's probe still answers for the next
// op: it found the reserve free, and twice what the group wrote since (a
// write's bytes go to the WAL, then to a table or blob file when the
// memtable is flushed; a segment's padding is less than its values)
// cannot have brought the free space under the reserve. A file system
// that cannot tell its free space is never full by this check, probed
// or not.
func (f *fullState) roomFor(g *groupSpace) bool {
	switch {
	case !g.probed:
		return false
	case f.reserve == 0 || !g.known:
		return true
	}
	return g.avail >= f.reserve && (g.avail-f.reserve)/2 >= g.written
}

// refuse is checked before a write or a sync: it returns the error to
// fail it with while the disk is full (re-probing at most every
// fullProbeInterval), or nil. A group probes the file system once (a
// statfs per op was 1.7% of a replica's CPU on name sets), for its first
// write or sync, before any of its writes: every write of a group was
// already checked before the group wrote anything, so they share that
// probe and its answer. A sync after the group's writes probes again
// unless they cannot have crossed the reserve (roomFor).
func (f *fullState) refuse(what string, g *groupSpace) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full && time.Since(f.lastProbe) < fullProbeInterval {
		return f.errLocked(what)
	}
	if !f.full && f.roomFor(g) {
		return nil
	}
	ok, reason, avail, known := f.free()
	if !ok {
		f.setLocked(reason)
		return f.errLocked(what)
	}
	if f.full {
		if err := injected(FailpointWrite); errors.Is(err, errInjectedFull) {
			f.lastProbe = time.Now()
			return f.errLocked(what)
		}
	}
	*g = groupSpace{probed: true, avail: avail, known: known}
	return nil // the write itself may still find the disk full: see observe
}

func (f *fullState) errLocked(what string) error {
	return fmt.Errorf("pebbledisk: %s: %w: %w: %s", what, env.ErrDiskFull, ErrFull, f.reason)
}

func (f *fullState) setLocked(reason string) {
	if !f.full {
		f.since = time.Now()
	}
	f.full, f.reason, f.lastProbe = true, reason, time.Now()
}

// observe records a write's outcome: a full-disk error sets the state, a
// success clears it.
func (f *fullState) observe(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		f.full = false
	case errors.Is(err, env.ErrDiskFull):
		f.setLocked(err.Error())
	}
}

// Full reports whether writes are refused for lack of space, and why.
// While full it re-probes the disk at most every fullProbeInterval, so a
// disk that got space back reads as not full without a write having to
// try first.
func (d *Disk) Full() (bool, string) {
	f := &d.fullness
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.full {
		return false, ""
	}
	if time.Since(f.lastProbe) >= fullProbeInterval {
		f.lastProbe = time.Now()
		ok, reason, _, _ := f.free()
		if ok && !errors.Is(injected(FailpointWrite), errInjectedFull) {
			f.full = false
			return false, ""
		}
		if reason != "" {
			f.reason = reason
		}
	}
	return true, fmt.Sprintf("disk full since %s: %s", f.since.UTC().Format(time.RFC3339), f.reason)
}

// logLimiter bounds pebble's log lines per format string.
type logLimiter struct {
	mu      sync.Mutex
	windows map[string]*logWindow // keyed by format: pebble's formats are constants
}

type logWindow struct {
	start      time.Time
	lines      int
	suppressed int
}

// logFormatsMax bounds the limiter's map; formats beyond it share one
// window.
const logFormatsMax = 256

// allow reports whether a line of format may be logged now, and how many
// were suppressed before it.
func (l *logLimiter) allow(format string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]*logWindow{}
	}
	if _, ok := l.windows[format]; !ok && len(l.windows) >= logFormatsMax {
		format = "" // shared window
	}
	w := l.windows[format]
	if w == nil {
		w = &logWindow{}
		l.windows[format] = w
	}
	now := time.Now()
	if now.Sub(w.start) >= logInterval {
		w.start, w.lines = now, 0
	}
	if w.lines >= logLinesPerInterval {
		w.suppressed++
		return false, 0
	}
	w.lines++
	suppressed := w.suppressed
	w.suppressed = 0
	return true, suppressed
}

// logf logs one pebble line through the limiter.
func (l pebbleLogger) logf(level slog.Level, format string, args ...any) {
	ok, suppressed := l.limit.allow(format)
	if !ok {
		return
	}
	attrs := []any{"component", "pebble"}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...), attrs...)
}
