package pebbledisk

import (
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/disktest"
)

// testDir is the store's directory inside each test's file system.
const testDir = "store"

// testSideMin is the side-file threshold of the tests' stores: low, so
// that the crash and conformance tests' larger values (4-16 KB) go
// through segments while the small ones stay in pebble.
const testSideMin = 2000

// harness drives a Disk through its asynchronous path on a crashable
// in-memory file system. Crash takes a CrashClone (synced data, plus a
// seeded share of unsynced blocks when unsyncedPercent > 0), abandons the
// running store and opens a new one on the clone.
type harness struct {
	t               failer
	fs              *vfs.MemFS
	unsyncedPercent int
	sideMin         int // Options.SideValueBytesMin
	// lose plays a power loss at each crash: the clone keeps every
	// unsynced byte (as a SIGKILL keeps the page cache), then LoseUnsynced
	// drops what the journal says was never synced. FailpointUnsynced
	// must be "keep" while the harness opens stores.
	lose bool
	rng  *rand.Rand
	disk *Disk

	mu        sync.Mutex
	cond      *sync.Cond
	done      []env.DiskDone
	submitted int
	nextID    env.OpID
}

var _ disktest.Harness = (*harness)(nil)

// failer is the part of *testing.T and *rapid.T the harness uses.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

// newHarness opens a store on a fresh crashable file system; the caller
// closes it with close.
func newHarness(t failer, unsyncedPercent int, seed uint64) *harness {
	return newHarnessSide(t, unsyncedPercent, seed, testSideMin)
}

// newHarnessSide is newHarness with a side-file threshold of its own.
func newHarnessSide(t failer, unsyncedPercent int, seed uint64, sideMin int) *harness {
	h := &harness{
		t:               t,
		fs:              vfs.NewCrashableMem(),
		unsyncedPercent: unsyncedPercent,
		sideMin:         sideMin,
		rng:             rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
	}
	h.cond = sync.NewCond(&h.mu)
	h.open()
	return h
}

func (h *harness) close() { _ = h.disk.Close() }

func (h *harness) open() {
	h.t.Helper()
	d, err := Open(Options{Dir: testDir, FS: h.fs, CacheBytes: 1 << 20, SideValueBytesMin: h.sideMin})
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	d.SetCompletion(h.complete)
	h.disk = d
}

// complete is the completion function: it never blocks on the submitter.
func (h *harness) complete(done env.DiskDone) {
	h.mu.Lock()
	h.done = append(h.done, done)
	h.mu.Unlock()
	h.cond.Broadcast()
}

func (h *harness) Submit(op env.DiskOp) env.OpID {
	h.nextID++
	h.submitted++
	h.disk.Submit(h.nextID, op)
	return h.nextID
}

func (h *harness) Drain() []env.DiskDone {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.done) < h.submitted {
		h.cond.Wait()
	}
	done := h.done
	h.done, h.submitted = nil, 0
	return done
}

func (h *harness) Crash() {
	h.t.Helper()
	if h.submitted != 0 {
		h.t.Fatalf("crash with %d ops outstanding", h.submitted)
	}
	percent := h.unsyncedPercent
	if h.lose {
		percent = 100
	}
	clone := h.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: h.rng})
	// The old store keeps running on the old file system until it is
	// closed; what it does after the clone is invisible to the new one.
	_ = h.disk.Close()
	h.fs = clone
	if h.lose {
		if _, err := LoseUnsynced(clone, testDir+UnsyncedJournalSuffix, os.Getpid()); err != nil {
			h.t.Fatalf("playing the power loss: %v", err)
		}
	}
	h.open()
}

func TestConformance(t *testing.T) {
	for _, v := range []struct {
		name            string
		unsyncedPercent int
	}{
		{"OnlySynced", 0},
		{"HalfUnsyncedBlocks", 50},
		{"AllUnsynced", 100},
		{"PowerLossPlayed", -1}, // every unsynced byte kept, then LoseUnsynced
	} {
		t.Run(v.name, func(t *testing.T) {
			if v.unsyncedPercent < 0 {
				enableFailpoint(t, FailpointUnsynced, `return("keep")`)
			}
			seed := uint64(0)
			disktest.Run(t, func(t *testing.T) disktest.Harness {
				seed++
				h := newHarness(t, max(v.unsyncedPercent, 0), seed)
				h.lose = v.unsyncedPercent < 0
				t.Cleanup(h.close)
				return h
			})
		})
	}
}
