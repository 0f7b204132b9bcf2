package pebbledisk

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// Limits of the adapter.
const (
	// QueueDepthMax bounds the ops submitted and not yet taken by the
	// worker. Submit blocks while the queue is full (see Submit).
	QueueDepthMax = 1024
	// CacheBytesDefault is the block cache size when Options.CacheBytes is 0.
	CacheBytesDefault = 64 << 20
	// SeparatedValueBytesMin: values at least this large (every storage
	// chunk: core/storage's ChunkBytesMin is 4 KiB) are kept in pebble's
	// blob files, out of the sstables (see "Value separation" in doc.go).
	SeparatedValueBytesMin = 4 << 10
	// blobReferenceDepthMax, blobRewriteAgeMin and blobGarbageRatioMax
	// tune how pebble keeps separated values compact: an sstable refers
	// to at most this many overlapping blob files (beyond it a compaction
	// copies the values into new blob files), and a blob file at least
	// this old is rewritten once this share of its bytes is garbage
	// (deleted chunks). The depth is high because chunks are read one
	// value at a time, so blob file locality buys little, while every
	// copy costs a write of each chunk: with a depth of 10, compactions of
	// the flushed L0 files copied the values again (see doc.go).
	blobReferenceDepthMax = 100
	blobRewriteAgeMin     = 5 * time.Minute
	blobGarbageRatioMax   = 0.2
	// ReadsParallelMax bounds the gets the worker runs at once (see
	// "Parallel reads" in doc.go). A get costs a pread and its value's
	// check (a chunk's BLAKE3), CPU-bound: a few more than the cores keep
	// them busy while one waits on the disk.
	ReadsParallelMax = 4
)

// ErrClosed is wrapped (next to env.ErrDiskIO) by the result of an op run
// after Close.
var ErrClosed = errors.New("pebbledisk: closed")

// Options configures Open.
type Options struct {
	// Dir is the directory of the store; it is created if missing.
	Dir string
	// FS is the file system; nil means vfs.Default. Tests use
	// vfs.NewCrashableMem() and errorfs wrappers.
	FS vfs.FS
	// Log receives pebble's informational and error logs; nil discards them.
	Log *slog.Logger
	// CacheBytes sizes the block cache; 0 means CacheBytesDefault.
	CacheBytes int64
	// ReserveBytes is the free space below which writes are refused as a
	// full disk (0: ReserveBytesDefault; negative: no check). A file
	// system that cannot tell its free space (in memory) is never full
	// by this check.
	ReserveBytes int64
	// SideValueBytesMin: a put value of at least this many bytes is
	// written once to a segment file beside pebble, and pebble records a
	// pointer to it (see "Side files" in doc.go). 0 means
	// SideValueBytesDefault; negative keeps every value in pebble.
	SideValueBytesMin int
	// ValuesInMemory keeps the side values in memory instead of segment
	// files: for a store on an in-memory file system (the micronode),
	// where files would copy each value and grow by copying. The disk
	// keeps the value slices it is given. Nothing of them survives the
	// Disk, so Open refuses a store that holds pointers.
	ValuesInMemory bool
	// BufferedSegments writes segment files through the page cache even
	// where O_DIRECT works (see "Direct I/O" in doc.go): reads of values
	// just written then find them in memory, at the price of a copy of
	// every value into the page cache on write.
	BufferedSegments bool
	// Legacy opens a store of a data-dir format before side files
	// (io/datadir.FormatSideFiles): every value is stored and read as it
	// is, none goes to a segment and none is escaped, exactly as the
	// builds before side files did, so that such a build can still read
	// the store. Migrations convert a store (ConvertToSide, ConvertToInline).
	Legacy bool
	// MustExist refuses (pebble's ErrorIfNotExists) a Dir that holds no
	// store instead of creating one there: a migration opens a store it
	// found, and creating one over a missing or foreign store would
	// delete what is there as obsolete files and report success.
	MustExist bool
	// Lock, when set, is the store's lock already held by the caller
	// (pebble.LockDirectory): a migration that locked the data dir opens
	// the store under its own lock.
	Lock *pebble.Lock
	// Metrics, when set, receives the adapter's metrics (MetricSegment*;
	// see "Metrics" in doc.go).
	Metrics env.Metrics
}

// Metrics of the side files (see "Metrics" in doc.go).
const (
	MetricSegmentGarbage       = "storage_segment_garbage_bytes"
	MetricSegmentTailReclaimed = "storage_segment_tail_reclaimed_bytes_total"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricSegmentGarbage, Kind: env.Gauge,
		Help: "Bytes of segment files (chunk values beside pebble) that no live pointer names: tails a crash left, values deleted or overwritten, alignment padding; compaction and unlinking reclaim them."},
	env.MetricDef{Name: MetricSegmentTailReclaimed, Kind: env.Counter,
		Help: "Bytes cut off segment tails at Open: values past the last one a live pointer names, left by a crash before their pointers committed."},
)

// Stats are counters of the adapter, for the runtime's metrics.
type Stats struct {
	// QueueFullWaits counts Submit calls that found the queue full and
	// blocked.
	QueueFullWaits uint64
	// Failed is set once pebble reported a fatal error; every later op
	// fails and the store must be reopened (see doc.go).
	Failed bool
	// Full is set while writes are refused as a full disk (see Full).
	Full bool
	// SyncsSkipped counts syncs that found no write since the last
	// successful sync and so completed without an fdatasync.
	SyncsSkipped uint64
	// SegmentGarbageBytes is the bytes of segment files no live pointer
	// names (MetricSegmentGarbage).
	SegmentGarbageBytes int64
	// SegmentTailReclaimedBytes is the bytes Open cut off segment tails
	// (MetricSegmentTailReclaimed).
	SegmentTailReclaimedBytes int64
}

// request is one queued op.
type request struct {
	id env.OpID
	op env.DiskOp
}

// Disk is a pebble store behind the env disk contract. Submit, SetCompletion,
// Close, Do and Stats are safe for concurrent use. Submitted ops complete in
// submission order, each seeing the writes submitted before it; gets
// submitted in a row run in parallel (see "Parallel reads" in doc.go).
type Disk struct {
	db *pebble.DB

	// submitMu guards closed and the send on queue against Close: Submit
	// holds it shared while it sends, Close exclusively while it closes
	// the queue, so no op is sent on a closed channel or stranded after
	// the worker exits.
	submitMu sync.RWMutex
	closed   bool
	queue    chan request

	completion     atomic.Pointer[func(env.DiskDone)]
	queueFullWaits atomic.Uint64
	workerDone     chan struct{}

	// execMu serialises op execution (the worker and Do) and guards the
	// fields below. Parallel gets hold it shared (readOne); every other
	// op holds it exclusively.
	execMu   sync.RWMutex
	failure  error // the fatal pebble error, once there was one
	dbClosed bool
	failed   atomic.Bool // mirrors failure != nil for Stats

	// dirty: a write ran (or was attempted) since the last successful
	// sync, so the next sync must reach the disk; a sync while it is
	// false has nothing to make durable and completes without an
	// fdatasync (see sync). False at Open: the state Open finds is
	// durable.
	dirty bool
	// syncsSkipped counts syncs completed without an fdatasync.
	syncsSkipped atomic.Uint64
	// fullness refuses writes while the disk is full (full.go).
	fullness fullState
	// side holds the large values (side.go); guarded by execMu.
	side *sideStore
	// legacy: values are stored and read as they are (Options.Legacy).
	legacy bool
	// metrics is Options.Metrics (nil: none); publishMu orders the
	// gauge's updates by the worker and by Do.
	metrics   env.Metrics
	publishMu sync.Mutex
	// unsynced journals unsynced writes (FailpointUnsynced); nil when off.
	// It wraps the FS both pebble and the side files use, so a simulated
	// power loss drops unsynced segment bytes as it does pebble's.
	unsynced *unsyncedFS
}

// Open opens (or creates) the store in opts.Dir and starts its worker.
// It never creates one over a store that lost its manifest marker
// (ErrStoreLost; see doc.go).
// Opening replays pebble's WAL and flushes what it recovers to synced
// tables, so the state found at Open is durable (see doc.go).
func Open(opts Options) (*Disk, error) {
	if opts.Dir == "" {
		return nil, errors.New("pebbledisk: Options.Dir is empty")
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	cacheBytes := opts.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = CacheBytesDefault
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	unsynced, loss, err := openUnsynced(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	if unsynced != nil {
		fs = unsynced
		if loss != nil {
			log.Warn("pebbledisk: power loss played (unsynced writes dropped)", "journal", opts.Dir+UnsyncedJournalSuffix, "lost", loss.String())
		}
		log.Warn("pebbledisk: tracking unsynced writes for a simulated power loss (failpoint " + FailpointUnsynced + ")")
	}
	if !opts.MustExist {
		if err := refuseLost(fs, opts.Dir); err != nil {
			if unsynced != nil {
				_ = unsynced.finish()
			}
			return nil, err
		}
	}
	db, err := openDB(opts.Dir, fs, cacheBytes, log, opts.Lock, opts.MustExist)
	if err != nil {
		if unsynced != nil {
			_ = unsynced.finish()
		}
		return nil, classify("open", err)
	}
	sideMin := opts.SideValueBytesMin
	switch {
	case sideMin == 0:
		sideMin = SideValueBytesDefault
	case sideMin < 0:
		sideMin = 0
	}
	side := &sideStore{live: map[uint64]int{}} // legacy: never used
	if !opts.Legacy {
		if side, err = openSide(db, fs, log, opts.Dir, sideMin, opts.ValuesInMemory, opts.BufferedSegments); err != nil {
			_ = db.Close()
			if unsynced != nil {
				_ = unsynced.finish()
			}
			return nil, classify("open side files", err)
		}
	}
	d := &Disk{
		side:       side,
		legacy:     opts.Legacy,
		db:         db,
		unsynced:   unsynced,
		queue:      make(chan request, QueueDepthMax),
		workerDone: make(chan struct{}),
		fullness:   fullState{fs: fs, dir: opts.Dir, reserve: reserveBytes(opts.ReserveBytes)},
		metrics:    opts.Metrics,
	}
	if d.metrics != nil && side.tailsReclaimed > 0 {
		d.metrics.Add(MetricSegmentTailReclaimed, "", float64(side.tailsReclaimed))
	}
	d.publish()
	go d.run()
	return d, nil
}

// publish sets the garbage gauge to its current value; the worker calls
// it after each group, Do after its op. The totals it reads are atomic,
// and publishMu keeps an older reading from overwriting a newer one.
func (d *Disk) publish() {
	if d.metrics == nil {
		return
	}
	d.publishMu.Lock()
	defer d.publishMu.Unlock()
	d.metrics.Set(MetricSegmentGarbage, "", float64(d.side.garbageBytes()))
}

// openDB opens the pebble store in dir with the adapter's options;
// mustExist refuses a dir without a store (Options.MustExist).
func openDB(dir string, fs vfs.FS, cacheBytes int64, log *slog.Logger, lock *pebble.Lock, mustExist bool) (*pebble.DB, error) {
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // the DB holds its own reference
	pebbleOpts := &pebble.Options{
		FS:                 walSizedFS{fs},
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log: log, limit: &logLimiter{}},
		Lock:               lock,
		ErrorIfNotExists:   mustExist,
	}
	pebbleOpts.Experimental.ValueSeparationPolicy = valueSeparation
	return pebble.Open(dir, pebbleOpts)
}

// valueSeparation is the pebble policy that keeps large values in blob
// files, so that a keys-only scan reads keys and blob handles, not values.
func valueSeparation() pebble.ValueSeparationPolicy {
	return pebble.ValueSeparationPolicy{
		Enabled:               true,
		MinimumSize:           SeparatedValueBytesMin,
		MaxBlobReferenceDepth: blobReferenceDepthMax,
		RewriteMinimumAge:     blobRewriteAgeMin,
		TargetGarbageRatio:    blobGarbageRatioMax,
	}
}

// SetCompletion sets the function called with each completion, in
// submission order. It must be set before the first Submit. fn runs on
// the worker goroutine or, for a get, on a reader goroutine (see
// readPipe), one call at a time, never two at once. It must not wait for
// the goroutine that calls Submit (that goroutine may itself be blocked
// in Submit on a full queue), nor for another completion.
func (d *Disk) SetCompletion(fn func(env.DiskDone)) {
	d.completion.Store(&fn)
}

// Submit queues op under id (non-zero, chosen by the caller) and returns.
// Its completion reaches the function given to SetCompletion after the
// completions of every op submitted before it. The disk takes ownership of
// op's slices.
//
// When QueueDepthMax ops are queued, Submit blocks until the worker takes
// one (counted in Stats.QueueFullWaits). Blocking was chosen over failing
// the op: a shed disk op would be a spurious error for the machine, and the
// FIFO contract leaves no place to deliver an early rejection in order.
// Submit after Close, or with id 0, is a programmer error and panics.
func (d *Disk) Submit(id env.OpID, op env.DiskOp) {
	if id == 0 {
		panic("pebbledisk: Submit with OpID 0")
	}
	d.submitMu.RLock()
	defer d.submitMu.RUnlock()
	if d.closed {
		panic("pebbledisk: Submit after Close")
	}
	req := request{id: id, op: op}
	select {
	case d.queue <- req:
	default:
		d.queueFullWaits.Add(1)
		d.queue <- req
	}
}

// run is the worker: it executes queued ops in order; their completions
// reach the completion function in submission order. Consecutive queued
// writes and syncs run as one group (see Disk.gather): their large values
// share one segment and one fsync, and their syncs one WAL sync
// (syncGroup). Consecutive gets run in parallel, at most ReadsParallelMax
// at once, on the reader goroutines, which complete them themselves, in
// order (readPipe); any other op first waits until the gets before it
// have completed, so it runs alone, after them, and the gets after it see
// its writes.
func (d *Disk) run() {
	defer close(d.workerDone)
	reads := d.startReaders()
	defer close(reads.jobs) // every get is completed before run returns
	var held *request       // an op taken while grouping, neither a write nor a sync
	for {
		var req request
		if held != nil {
			req, held = *held, nil
		} else {
			r, ok := <-d.queue
			if !ok {
				reads.waitIdle()
				return
			}
			req = r
		}
		if req.op.Kind == env.DiskGet {
			reads.start(req)
			continue
		}
		reads.waitIdle()
		group := []request{req}
		if groups(&req.op) {
			group, held = d.gather(group)
		}
		ops := make([]env.DiskOp, len(group))
		for i := range group {
			ops[i] = group[i].op
		}
		fn := d.completer()
		// The ops before the group's first sync complete before the
		// sync runs: a write that no sync of the group precedes does not
		// wait for that fsync.
		results, syncs, space := d.startGroup(ops)
		early := len(group)
		if len(syncs) > 0 {
			early = syncs[0]
		}
		for i := range group[:early] {
			fn(env.DiskDone{ID: group[i].id, Op: group[i].op, Result: results[i]})
		}
		d.syncGroup(syncs, results, space)
		d.publish()
		for i := early; i < len(group); i++ {
			fn(env.DiskDone{ID: group[i].id, Op: group[i].op, Result: results[i]})
		}
	}
}

// readStartHook, when set (tests only), is called by every parallel get
// before it reads.
var readStartHook func(op *env.DiskOp)

// completer is the completion function.
func (d *Disk) completer() func(env.DiskDone) {
	fn := d.completion.Load()
	if fn == nil {
		panic("pebbledisk: op completed before SetCompletion")
	}
	return *fn
}

// readJob is a get handed to a reader goroutine; result and finished are
// set by the reader that ran it (finished under readPipe.mu).
type readJob struct {
	req      request
	result   env.DiskResult
	finished bool
}

// readPipe runs gets on ReadsParallelMax reader goroutines and completes
// them in submission order from the readers themselves: the reader that
// finishes the oldest outstanding get completes it and every later one
// already finished, under mu, so completions never overlap and keep their
// order. The worker used to collect each finished get and complete it,
// which cost a wake-up of the worker per 256 KiB chunk read on top of the
// reader's (rond's Range GETs, BENCHMARKS.md "Range GET hand-offs"); now
// the worker is woken only to take ops, and to wait (waitIdle) before an
// op that is not a get.
//
// The readers live as long as the worker: a goroutine per get cost its
// creation, its stack's growth (a pread and a BLAKE3 run deep) and its
// exit, a few percent of a 256 KiB read's CPU.
type readPipe struct {
	d    *Disk
	jobs chan *readJob // to the readers; closing it ends them
	// freed (capacity 1) says that gets were completed since it was last
	// read; the worker waits on it for room (start) or for none
	// outstanding (waitIdle), re-checking pending under mu each time.
	freed   chan struct{}
	mu      sync.Mutex
	pending []*readJob // started and not completed, in submission order
}

// startReaders starts the ReadsParallelMax goroutines that run gets (and
// their checks) and complete them. The worker has at most ReadsParallelMax
// gets outstanding (start), so a send on jobs (buffered as deep) never
// blocks and always finds a reader.
func (d *Disk) startReaders() *readPipe {
	p := &readPipe{d: d, jobs: make(chan *readJob, ReadsParallelMax), freed: make(chan struct{}, 1),
		pending: make([]*readJob, 0, ReadsParallelMax)}
	for range ReadsParallelMax {
		go func() {
			for j := range p.jobs {
				j.result = d.readOne(&j.req.op)
				p.finish(j)
			}
		}()
	}
	return p
}

// start hands a get to a reader, first waiting while ReadsParallelMax
// gets are outstanding.
func (p *readPipe) start(req request) {
	j := &readJob{req: req}
	p.lockBelow(ReadsParallelMax)
	p.pending = append(p.pending, j)
	p.mu.Unlock()
	p.jobs <- j
}

// waitIdle returns once every get started has completed.
func (p *readPipe) waitIdle() {
	p.lockBelow(1)
	p.mu.Unlock()
}

// lockBelow locks mu once fewer than n gets are outstanding, waiting on
// freed (and re-checking) while n or more are.
func (p *readPipe) lockBelow(n int) {
	p.mu.Lock()
	for len(p.pending) >= n {
		p.mu.Unlock()
		<-p.freed
		p.mu.Lock()
	}
}

// finish marks j done and completes the finished gets at the head of
// pending, in order. The completion function runs under mu: it must not
// block on the disk (SetCompletion says so), so holding mu is brief.
func (p *readPipe) finish(j *readJob) {
	p.mu.Lock()
	j.finished = true
	n := 0
	for n < len(p.pending) && p.pending[n].finished {
		n++
	}
	if n > 0 {
		fn := p.d.completer()
		for _, k := range p.pending[:n] {
			fn(env.DiskDone{ID: k.req.id, Op: k.req.op, Result: k.result})
		}
		m := copy(p.pending, p.pending[n:])
		clear(p.pending[m:])
		p.pending = p.pending[:m]
	}
	p.mu.Unlock()
	if n > 0 {
		select {
		case p.freed <- struct{}{}:
		default: // a signal is already waiting: the worker re-checks
		}
	}
}

// readOne runs a get under execMu held shared, so gets run in parallel
// with each other and never with another op, then its Check (unlocked).
func (d *Disk) readOne(op *env.DiskOp) env.DiskResult {
	if readStartHook != nil {
		readStartHook(op)
	}
	var fatalErr error
	result := func() (result env.DiskResult) {
		d.execMu.RLock()
		defer d.execMu.RUnlock()
		if err := op.Validate(); err != nil {
			return env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w", op.Kind, err)}
		}
		switch {
		case d.dbClosed:
			return env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w: %w", op.Kind, env.ErrDiskIO, ErrClosed)}
		case d.failure != nil:
			return env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w: store failed earlier: %w", op.Kind, env.ErrDiskIO, d.failure)}
		}
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(fatal)
				if !ok {
					panic(r)
				}
				fatalErr = f.err
				result = env.DiskResult{Err: classify(op.Kind.String(), f.err)}
			}
		}()
		return d.get(op)
	}()
	if fatalErr != nil { // recorded exclusively, as recoverFatal does
		d.execMu.Lock()
		if d.failure == nil {
			d.failure = fatalErr
			d.failed.Store(true)
		}
		d.execMu.Unlock()
	}
	return env.RunCheck(op, result)
}

// gather adds to a group of writes and syncs the writes and syncs
// already queued behind it, up to a segment's bounds; the first queued op
// that is neither is returned to run next.
func (d *Disk) gather(group []request) ([]request, *request) {
	size := largeBytes(&group[0].op, d.side)
	for len(group) < segmentValuesMax && size < segmentBytesMax {
		select {
		case r, ok := <-d.queue:
			if !ok {
				return group, nil
			}
			if !groups(&r.op) {
				return group, &r
			}
			group = append(group, r)
			size += largeBytes(&r.op, d.side)
		default:
			return group, nil
		}
	}
	return group, nil
}

// largeBytes is what op would write to a segment.
func largeBytes(op *env.DiskOp, side *sideStore) int {
	n := 0
	for _, w := range writesOf(op) {
		if !w.Delete && side.large(w.Value) {
			n += len(w.Value)
		}
	}
	return n
}

// Close stops accepting ops, completes every queued one, and closes the
// store. After a fatal pebble error it abandons the store instead (closing
// it could block on pebble's stuck commit pipeline) and returns that error.
// Closing twice returns nil.
func (d *Disk) Close() error {
	d.submitMu.Lock()
	if d.closed {
		d.submitMu.Unlock()
		return nil
	}
	d.closed = true
	close(d.queue)
	d.submitMu.Unlock()
	<-d.workerDone

	d.execMu.Lock()
	defer d.execMu.Unlock()
	d.dbClosed = true
	if d.unsynced != nil {
		// A closed store plays no power loss: the journal goes.
		defer func() { _ = d.unsynced.finish() }()
	}
	d.side.closeActive()
	defer d.side.readers.closeAll()
	if d.failure != nil {
		return fmt.Errorf("pebbledisk: store abandoned after a fatal error: %w", d.failure)
	}
	if len(d.side.pending) > 0 {
		var result env.DiskResult
		func() {
			defer d.recoverFatal(env.DiskSync, &result)
			if err := d.db.LogData(nil, pebble.Sync); err == nil {
				d.side.unlinkPending() // else the next Open removes them
			}
		}()
		if d.failure != nil {
			return fmt.Errorf("pebbledisk: store abandoned after a fatal error: %w", d.failure)
		}
	}
	if err := d.db.Close(); err != nil {
		return classify("close", err)
	}
	return nil
}

// Stats returns the adapter's counters.
func (d *Disk) Stats() Stats {
	full, _ := d.Full()
	return Stats{QueueFullWaits: d.queueFullWaits.Load(), Failed: d.failed.Load(), Full: full, SyncsSkipped: d.syncsSkipped.Load(),
		SegmentGarbageBytes: d.side.garbageBytes(), SegmentTailReclaimedBytes: d.side.tailsReclaimed}
}

func reserveBytes(option int64) uint64 {
	switch {
	case option < 0:
		return 0
	case option == 0:
		return ReserveBytesDefault
	}
	return uint64(option)
}

// Do runs op synchronously and returns its result. It is for tests and
// tools; it runs between two queued ops, so a caller that mixes Do with
// Submit gets no ordering between them.
func (d *Disk) Do(op env.DiskOp) env.DiskResult {
	return env.RunCheck(&op, d.doGroup([]env.DiskOp{op})[0])
}

// groups reports whether op joins a group (Disk.gather): a write or a
// sync.
func groups(op *env.DiskOp) bool { return isWrite(op) || op.Kind == env.DiskSync }

// doGroup runs ops in order: either one op that is neither a write nor a
// sync, or writes and syncs (execWrites, then syncGroup).
func (d *Disk) doGroup(ops []env.DiskOp) []env.DiskResult {
	results, syncs, space := d.startGroup(ops)
	d.syncGroup(syncs, results, space)
	d.publish()
	return results
}

// startGroup runs the ops of a group (see doGroup) but its syncs, and
// returns every op's result so far, the indexes of the syncs, whose
// results syncGroup sets, and the group's probe of the free space, which
// syncGroup is given. The probe is the group's own, never shared state:
// a Do run by another goroutine between startGroup and syncGroup has its
// own (a group probes the free space afresh), so its writes can neither
// reset this group's count of bytes written nor replace its probe.
func (d *Disk) startGroup(ops []env.DiskOp) ([]env.DiskResult, []int, *groupSpace) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	space := &groupSpace{}
	results := make([]env.DiskResult, len(ops))
	done := make([]bool, len(ops))
	for i := range ops {
		op := &ops[i]
		if err := op.Validate(); err != nil {
			results[i], done[i] = env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w", op.Kind, err)}, true
			continue
		}
		switch {
		case d.dbClosed:
			results[i], done[i] = env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w: %w", op.Kind, env.ErrDiskIO, ErrClosed)}, true
		case d.failure != nil:
			results[i], done[i] = env.DiskResult{Err: fmt.Errorf("pebbledisk: %s: %w: store failed earlier: %w", op.Kind, env.ErrDiskIO, d.failure)}, true
		}
	}
	if len(ops) == 1 && !isWrite(&ops[0]) {
		if !done[0] {
			results[0] = d.exec(&ops[0], space)
		}
		return results, nil, space
	}
	var syncs []int
	for i := range ops {
		if ops[i].Kind == env.DiskSync && !done[i] {
			syncs = append(syncs, i)
			done[i] = true // execWrites skips it
		}
	}
	d.execWrites(ops, results, done, space)
	return results, syncs, space
}

// syncGroup runs the syncs of a group (at indexes syncs of results) as one
// WAL sync after every write of the group. A sync promises that the
// writes completed before it are durable (env.DiskSync); one sync after
// all of them keeps that promise for each, and every completion is still
// delivered in submission order (those before the first sync before it,
// the others after it). So machines that sync one after
// another (the registry's Ready, the audit log's record, each after a
// write) share one fsync instead of paying for theirs in series, and a
// write queued behind a sync does not wait for that sync to start. If a
// write of the group met a fatal pebble error, the syncs fail too: the
// store is unusable, and an error never claims durability.
func (d *Disk) syncGroup(syncs []int, results []env.DiskResult, space *groupSpace) {
	if len(syncs) == 0 {
		return
	}
	d.execMu.Lock()
	defer d.execMu.Unlock()
	var r env.DiskResult
	if d.failure != nil {
		r = env.DiskResult{Err: fmt.Errorf("pebbledisk: sync: %w: store failed earlier: %w", env.ErrDiskIO, d.failure)}
	} else {
		op := env.DiskOp{Kind: env.DiskSync}
		r = d.exec(&op, space)
	}
	for _, i := range syncs {
		results[i] = r
	}
}
