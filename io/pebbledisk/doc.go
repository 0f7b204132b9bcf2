// Package pebbledisk is the production disk: a pebble v2 store
// (github.com/cockroachdb/pebble/v2) behind the asynchronous disk contract
// of core/env (disk.go). It passes the same conformance suite as the
// simulator's disk (core/env/disktest), run over pebble on a crashable
// in-memory file system.
//
// # Mapping to the env contract
//
//   - FIFO: one worker goroutine per Disk takes ops from a queue of
//     QueueDepthMax in submission order, runs each to completion and hands
//     its env.DiskDone to the completion function before taking the next.
//     Every op therefore sees the writes submitted before it.
//   - Visible at completion: puts, deletes and batches are committed with
//     pebble.NoSync; pebble applies a commit to its memtable before the
//     call returns.
//   - Durable after a completed Sync: pebble keeps one ordered write-ahead
//     log. Sync commits an empty log record with pebble.Sync, which writes
//     and fsyncs the log up to and including it, and so every record
//     committed before it.
//   - Batches atomic, also across a crash: a batch is one pebble.Batch,
//     logged as one WAL record with a checksum; replay applies a record
//     whole or stops before it.
//   - Prefix after a crash: pebble replays the WAL in order and stops at
//     the first missing or damaged record of the last log, so the state
//     after a crash is the synced state plus a prefix of the later writes.
//     Note that pebble keeps a NoSync write in its current 32 KiB WAL block,
//     in memory, until the block fills or a sync; a process crash loses
//     such writes even when the machine stays up. The contract allows that.
//   - Recovered state is durable: Open replays the WAL into memtables and
//     flushes them to synced tables (and a synced manifest) before it
//     returns, then starts a new log. A second crash finds the same state,
//     so no sync after Open is needed; the conformance suite checks it.
//   - Results own their slices: values and keys are copied out of pebble's
//     buffers, which are only valid until the next iterator step or the
//     Get closer.
//   - Validation: op.Validate first; an invalid op completes with its
//     error (wrapping env.ErrDiskInvalid) and touches nothing.
//   - Scans: one iterator with lower bound max(Prefix, Start) and upper
//     bound the first key after every key with Prefix; it reads one pair
//     past Limit to set More. A KeysOnly scan copies iter.Key() and never
//     asks for the value (see "Value separation").
//
// # Value separation
//
// A keys-only scan is only cheap if the values are not where the keys
// are. Pebble stores a value inline in the sstable data block next to its
// key, so iterating keys alone still reads every block, values included:
// measured, a keys-only scan of 64 chunks of 256 KiB read the same 16.8
// MB as a full scan. The store therefore enables pebble's value separation
// (FormatValueSeparation, which FormatNewest includes): a flush or
// compaction moves each value of at least SeparatedValueBytesMin bytes
// into a blob file and leaves a handle in the sstable; the iterator
// fetches it lazily, only when the value is asked for. The same keys-only
// scan then reads about 13 KB (TestKeysOnlyScanSkipsSeparatedValues).
// Values still in the memtable are in memory either way.
//
// Separation also spares compactions from rewriting chunk bytes at every
// level, provided an sstable may refer to enough blob files: with a
// reference depth of 10 (what pebble's own benchmark tool sets), the
// compactions of freshly flushed L0 files copied every value into new
// blob files again, and a 1 GiB streamed PUT cost rond as much CPU as
// without separation (16-18 s); with blobReferenceDepthMax = 100 it costs
// about half (9.6-10.9 s) and runs about twice as fast (BENCHMARKS.md,
// "Production node"). Deleted chunks leave garbage in blob files, which
// pebble rewrites once a file is blobRewriteAgeMin old and
// blobGarbageRatioMax of it is garbage. Small values (manifests of small
// objects, raft entries, audit records) stay inline, where the scans that
// read them want them.
//
// # Errors
//
// Every error from pebble or the file system is wrapped, with its cause, in
// one env class: pebble's corruption marker (pebble.IsCorruptionError)
// becomes env.ErrCorruption, ENOSPC becomes env.ErrDiskFull, anything else
// env.ErrDiskIO.
//
// Pebble treats a failed WAL write or sync as fatal: its commit pipeline is
// left stuck and it calls Logger.Fatalf, whose default exits the process.
// The adapter's logger panics instead, the op that hit it recovers the
// panic and fails with env.ErrDiskIO, and the Disk is marked failed
// (Stats.Failed): every later op fails with env.ErrDiskIO without calling
// pebble, and Close abandons the store rather than wait on the stuck
// pipeline. The owner should then restart the node from its durable state,
// which a fresh Open recovers (tested with errorfs). Retrying the fsync was
// rejected: after a failed fsync the kernel may have dropped the dirty
// pages, so a later "successful" fsync proves nothing. A fatal error raised
// on one of pebble's background goroutines (flush, compaction) cannot be
// recovered there and still ends the process.
//
// # Full disk
//
// A write (put, delete, batch or sync) that meets ENOSPC fails with
// env.ErrDiskFull, and from then on the Disk refuses every write at once
// with env.ErrDiskFull and ErrFull, without calling pebble, until space
// is back: Full re-probes at most every fullProbeInterval (free space
// against the reserve, and the write failpoint), so the owner sees the
// disk recover without a write having to try. Reads are never refused.
// Before pebble sees a write the adapter also checks that the file
// system keeps Options.ReserveBytes free (ReserveBytesDefault, 64 MiB),
// so that pebble's write-ahead log, whose ENOSPC pebble treats as fatal
// (see Errors), rarely meets a full disk, and flushes and compactions
// keep room to free space. A fatal error keeps its ENOSPC cause in the
// chain. io/runtime reads Full for readiness (not ready, with the reason)
// and rebuilds a machine that failed on the full disk once it has space
// again. Pebble's log lines are rate-limited per format
// (logLinesPerInterval per logInterval, the rest counted as
// "suppressed"): a full disk made it log hundreds of lines a second.
//
// # Failpoints
//
// FailpointWrite, FailpointSync and FailpointRead (pingcap/failpoint,
// evaluated directly with failpoint.Eval, no code rewriting) sit before
// each pebble write, sync and read. return(true) injects an I/O error,
// return("full") a full disk, return("corruption") corruption; sleep(ms)
// delays the op. An injected error fails the op before pebble sees it, so
// the store stays consistent and later ops work. Production binaries set
// them through GO_FAILPOINTS. FailpointUnsynced is of another kind: read
// once by Open (see "Lost unsynced writes").
//
// # Lost unsynced writes (a power loss played on a real disk)
//
// A SIGKILL loses the process, not the kernel's page cache: every byte
// pebble wrote to a file survives it, synced or not, so killing a node is
// a weaker crash than a power loss. With FailpointUnsynced on (never a
// production flag: `ronsim real` sets it), Open puts pebble on a vfs.FS
// wrapper (unsynced.go) that journals, beside the store (Dir +
// UnsyncedJournalSuffix), what a power loss would undo: for every file
// written, the end of its last completed Sync, SyncData or full SyncTo;
// the files created or linked since their directory was last synced; the
// renames since then. The journal is written with plain writes, never
// synced: like LazyFS's cache it stands for the kernel's memory, and a
// SIGKILL keeps it. LoseUnsynced then plays the power loss on the dead
// process's files: it undoes those renames (newest first), removes those
// files and truncates every other written file to the end of its last
// synced write (vfs has no truncate: the kept prefix is copied into a new
// file that replaces the old). Open does it itself when the failpoint
// says lose:PID, before pebble opens, so the restarted node finds what
// the disk would hold after a power loss.
//
// The state it leaves is one a power loss can leave, and no kinder:
// written but unsynced bytes are all gone (a disk might keep some), and
// entries made since the last directory sync are gone. Three things
// differ from the harshest power loss and are said so: a removal counts
// as durable at once (a power loss could bring the file back), a rename
// over an existing file is kept (undone, it would leave neither file),
// and a recycled WAL is cut at its last synced write rather than keeping
// the old log's bytes behind it (pebble reads past neither). These are the rules of
// pebble's own strict crash file system (vfs.NewCrashableMem with a
// CrashClone of 0%) except for removals; TestConformance runs the env
// disk contract with every crash played this way, and
// TestUnsyncedLostAfterSIGKILL shows it on a real SIGKILLed process.
//
// Pebble writes a NoSync record to its WAL file only when its 32 KiB
// block fills or a sync is asked for; until then the record is in the
// process's memory, and any kill loses it. The journal matters for what
// reached the file: full blocks of unsynced records, and tables and blob
// files written but not yet synced.
//
// # Queue and back-pressure
//
// Submit blocks while the queue is full rather than failing the op:
// shedding a disk op would turn load into spurious errors for the machine,
// and the FIFO contract leaves no slot to deliver an early rejection in
// order. The blocking is counted (Stats.QueueFullWaits). The completion
// function therefore must not wait for the goroutine that calls Submit, or
// a full queue would deadlock the two.
//
// Do runs an op synchronously for tests and tools; ops from Do and from
// the worker never overlap (one mutex), but Do is not ordered with respect
// to queued ops.
//
// The package is production code under io/: it uses goroutines, sync and
// the file system, and must not import sim/.
package pebbledisk
