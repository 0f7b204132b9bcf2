// Package pebbledisk is the production disk: a pebble v2 store
// (github.com/cockroachdb/pebble/v2) behind the asynchronous disk contract
// of core/env (disk.go). It passes the same conformance suite as the
// simulator's disk (core/env/disktest), run over pebble on a crashable
// in-memory file system.
//
// # Mapping to the env contract
//
//   - FIFO: one worker goroutine per Disk takes ops from a queue of
//     QueueDepthMax in submission order, and each env.DiskDone reaches the
//     completion function in that order (a get's from the reader that ran
//     it, see "Parallel reads"). Queued writes and syncs run as
//     one group (see "Groups"); gets submitted in a row run in parallel;
//     every other op waits for the gets before it and runs alone (see
//     "Parallel reads"). Every op therefore sees the writes submitted
//     before it, and no write is seen by a get before it.
//   - Visible at completion: puts, deletes and batches are committed with
//     pebble.NoSync; pebble applies a commit to its memtable before the
//     call returns.
//   - Durable after a completed Sync: pebble keeps one ordered write-ahead
//     log. Sync commits an empty log record with pebble.Sync, which writes
//     and fsyncs the log up to and including it, and so every record
//     committed before it. Syncs queued among writes share one (see
//     "Groups" below). A large value is not in the log but in a
//     segment file that was synced before its pointer was logged (see
//     "Side files"), so the log alone decides what survives.
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
// Values still in the memtable are in memory either way. Since side
// files, only values below Options.SideValueBytesMin (small chunks of 4
// to 64 KiB) are separated this way; larger ones are in segments and
// pebble holds their pointers.
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
// # Side files
//
// Pebble writes every value twice: into its write-ahead log, then into a
// blob file (or sstable) when the memtable is flushed. For chunk bytes
// that doubled the bytes written per byte stored (measured 2.00 with
// rond, BENCHMARKS.md "Write once"). A put value of at least
// Options.SideValueBytesMin (SideValueBytesDefault, 64 KiB: every chunk of
// the default 256 KiB size, not the small values the scans read) is
// therefore written once, to a segment file under <store>/values, and
// pebble stores a 29-byte pointer in its place: a marker, the segment id,
// the offset, the length and the CRC-32C of the value.
//
// The order of a write makes a pointer never name bytes that are not on
// stable storage: (1) the values are appended to the active segment,
// (2) its data is synced (fdatasync), and when the segment was just
// created its directory too (the parent as well when a fan-out
// subdirectory is new), (3) only then is the pebble batch with the
// pointers committed, with pebble.NoSync as before. Writes append to one
// active segment until it holds segmentFileBytesMax (64 MiB), so a group
// costs one fdatasync, not a file and a directory fsync; a failed write or
// sync abandons the active segment (its unsynced tail is named by no
// pointer) and the next group starts a new one. A crash before (3) leaves a segment no pointer
// names; Open counts the pointers of the recovered store and removes
// every segment none names. When earlier values keep that segment (the
// group appended to a segment already in use, as every group but a
// segment's first does), the crash leaves the group's bytes as the
// segment's tail instead: a kill -9 mid-upload leaves there the chunks
// whose pointers it lost (those of the group in flight, and of groups
// whose NoSync commits were still in pebble's log buffer). Open
// cuts such a tail off (see "Crash tails" below). A crash after (3) keeps the pointer or not,
// by the log's prefix rule, and a kept one finds its bytes. The unsynced
// tail of the log is thus the only thing a crash can lose, as before, and
// the env contract (prefix after a crash, atomic batches, durable after
// Sync) holds unchanged: the crash tests (crash_test.go, the conformance
// suite, side_test.go's crash at each step on vfs.NewCrashableMem, which
// drops unsynced data and unsynced directory entries) run with a low
// threshold so that their values take this path, and a kill -9 test runs
// a child process killed at each step on a real directory.
//
// A sync per put would cost an fsync per chunk; instead the worker
// groups the writes already queued behind the one it takes (up to
// segmentValuesMax values or segmentBytesMax bytes, stopping at the first
// op that is not a write): their large values are appended together and
// share one fdatasync, then each op commits its own pebble batch, in
// order, and completes, so the FIFO and visibility rules are those of one
// op at a time. A write waits for the fsync of its segment before it completes;
// that is the price of never logging a pointer to unsynced bytes.
//
// # Crash tails
//
// Open truncates each segment past the end of the last value a live
// pointer names (sideStore.reclaimTail), and syncs the truncate: the
// tail a crash left (values whose pointers never committed, or whose
// commit the crash lost) and values at the end whose deletes committed.
// This never drops a byte a pointer can name, provided no later crash
// brings back a pointer Open did not count. The WAL replay can apply
// writes that were never synced (a kill -9 leaves the process's written
// but unsynced WAL blocks readable), among them the delete of a pointer
// whose bytes the cut then removes; a power loss after that Open would
// bring the pointer back, naming cut bytes. So openSide flushes the
// replayed state to synced tables (db.Flush) before it counts pointers.
// Pebble v2.1.7's Open flushes what it replays anyway, but promises it
// nowhere; the explicit flush, once per Open, makes the guarantee the
// store's own. The removal of segments no pointer names rests on the
// same fact. Writes after Open start a new segment, so a cut segment is
// never appended to. Pebble's vfs has no truncate, so this runs on the
// operating system's file system only (rond's); elsewhere the tail stays
// as garbage (below) until compaction moves the segment's live values
// away. The truncate changes the file in place: a hard link to a segment
// (none is made today; a backup or checkpoint that linked segments
// instead of copying them) would be cut with it. A cut that fails is
// logged as a warning, and the file's size re-read, so the garbage gauge
// counts what the file holds.
//
// Which test plays which crash:
//
//   - TestTailCutAfterKillThenPowerLoss: kill -9 with a delete in the
//     WAL's unsynced tail, an Open that replays it and cuts the deleted
//     value's bytes, then a power loss; the deleted key must stay
//     deleted and every value read back whole. Its file system
//     (killableFS) makes syncs do nothing after the kill, so the bytes
//     stay readable yet a later CrashClone drops them: the crash suites
//     cannot play this, as a CrashClone marks every byte it keeps as
//     synced. TestTailCutCheckSeesLostDelete shows that the check fails
//     when the replayed delete is not made durable before the cut.
//   - The crash suites (crash_test.go, the conformance suite,
//     TestSideCrashAtEachStep, TestSideModel) reclaim tails at every
//     reopen on vfs.NewCrashableMem through a copy-and-rename stand-in
//     for the truncate (segmentTailRewrite, tests only): each cut is
//     checked against the state a power loss at each step left, and
//     power losses after the cut against the cut (cutting one byte short
//     of the last value fails them all). They never undo what the Open
//     that cut had read.
//   - The kill -9 test (TestSideKill9) runs the real truncateSynced on a
//     real directory and checks the segment files hold exactly the
//     values found after a kill at each step.
//   - rond's power-loss rounds (FailpointUnsynced) never cut: with the
//     failpoint on, the store's file system is the journal wrapper
//     (unsynced.go), not the operating system's, so reclaimTail leaves
//     every tail as garbage. Only kill -9 rounds exercise truncateSynced
//     under rond.
//
// Measured with rond on a data dir: a 1 MiB object, then a streamed
// upload killed with kill -9 after about 70 MiB. The sweep after the
// restart deleted the session's 255 chunks, which left segment 0 holding
// the object's 1 MiB and 63 MiB of swept chunks: less garbage than
// compactGarbageMin, so the build before this one kept the 64 MiB file
// through every later restart, and nothing showed it. Now the gauge reads
// 63 MiB after the sweep, the restart itself cut 4.25 MiB of lost-pointer
// tail off segment 1, and the next restart cuts segment 0 to 1 MiB.
//
// # Metrics
//
// With Options.Metrics set (rond sets it), the Disk reports:
//
//   - storage_segment_garbage_bytes (gauge, MetricSegmentGarbage): the
//     bytes of segment files that no live pointer names: crash tails
//     Open could not cut, values deleted or overwritten (an orphan
//     sweep's deletes of an upload's chunks among them), alignment
//     padding, and segments released but not yet unlinked (after the
//     next sync). Compaction, unlinking and Open's cut lower it. Set at
//     Open and after every group of ops; Stats.SegmentGarbageBytes.
//   - storage_segment_tail_reclaimed_bytes_total (counter,
//     MetricSegmentTailReclaimed): the bytes Open cut off segment tails
//     (see "Crash tails"); Stats.SegmentTailReclaimedBytes. Non-zero
//     after a start means the previous process died mid-write.
//
// # Groups
//
// Syncs join a group too (Disk.gather takes writes and syncs, stopping at
// the first get or scan): the group's writes are committed in order, the
// ops before its first sync complete, then one WAL sync covers every
// write and stands for every sync of the group, and the other ops
// complete, all in submission order. A sync
// promises only that the writes completed before it are durable, so one
// at the end keeps each promise; what it adds (later writes durable too)
// the contract allows. Without it, machines that each sync after their
// own writes (a registry replica's Ready, the audit log's record of the
// name write that Ready answered) paid their fsyncs in series on the one
// worker, and a write queued behind a sync waited for that fsync before
// it started. After a fatal pebble error in a group's write the group's
// syncs fail: an error never claims durability.
//
// A sync that finds no write since the last successful sync (Disk.dirty
// clear: every write path sets it under execMu before writing, only a
// successful sync clears it) has nothing left to make durable and
// completes without an fdatasync (Stats.SyncsSkipped): the audit log's
// follow-up sync of records the registry's group sync already covered
// costs nothing. Tested with power losses through the unsynced journal
// (TestSyncSkippedOnlyWithoutAWriteSinceTheLast).
//
// Space: a segment is shared by the values of many groups. The adapter
// counts the live pointers per segment (Open recounts them); a put or
// delete that replaces a pointer looks the old value up first (one pebble
// Get per written key) and releases its segment. A segment without live
// pointers (and no longer appended to) is unlinked after the next
// successful Sync, when no crash can
// bring back a pointer into it (or at Close, or by the next Open). A
// segment keeps its space while any of its values lives; the adapter also
// counts the live bytes per segment, and after a successful Sync, once the
// segments that are at least half garbage hold compactGarbageMin (64 MiB)
// of garbage together, one round (compact.go) moves the live values of
// the worst of them (never the active one), up to compactBytesMax
// (16 MiB), into the active segment the way puts of the same values would (synced before the pointers
// move; the old segments go after the next sync). A round scans the
// pointers of the whole store to find the keys, so its cost grows with
// the number of keys; rounds run only while that much garbage exists.
// The crash tests run with compaction at every sync.
//
// Reads follow the pointer and check the CRC: a missing segment, a short
// one or a mismatch is env.ErrCorruption. A keys-only scan never reads a
// segment. A small value that happens to begin with the marker is stored
// escaped (marker, kind 0, value), so no caller's value is taken for a
// pointer.
//
// Formats: a store with pointers cannot be read by a build before side
// files, so they are data-dir format FormatSideFiles (io/datadir). A
// store of an older format is opened with Options.Legacy (every value as
// it is, no escaping, no segments), exactly as the older build does;
// ConvertToSide and ConvertToInline are the migrations' conversions;
// they, and a migration's Open with Options.MustExist, refuse a dir that
// holds no store rather than create one over whatever is there.
//
// # A store that lost its manifest marker
//
// Pebble finds its store by the manifest marker, a zero-length file
// (marker.manifest.N.MANIFEST-M) that a backup or sync tool may skip.
// Without it pebble creates a new store over the old one and deletes its
// tables as obsolete; openSide then counts no pointer and removes every
// segment as an orphan, and the node serves an empty store. So Open
// without Options.MustExist first looks (pebble.Peek, which only reads):
// a dir with no marker that holds a store's files (StoreFiles: tables,
// blob files, manifests, WALs, segments) is refused with ErrStoreLost,
// nothing touched. A missing or empty dir, or one a crash left in its
// first Open before pebble wrote a manifest, is a new store.
//
// The orphan sweep itself does not refuse a store with no pointer and
// segments that hold bytes: that is a state a crash leaves on its own
// (the first group of values written, then a kill before its pointers
// committed; the last values deleted, then a kill before their segment
// was unlinked), and refusing it would keep a node from starting after
// an ordinary crash. What tells a lost store from that is pebble's marker
// being gone while its files are there, which Open checks before pebble
// can delete anything; after that point the sweep could only keep the
// segments, not the tables pebble already removed.
//
// The in-memory node (Options.ValuesInMemory) keeps each side value as
// the slice it was given instead of a file: pebble's in-memory file
// system copies every write and grows its files by copying, which held
// about twice the stored bytes in memory.
//
// # Direct I/O
//
// On the operating system's file system (vfs.Default, not wrapped),
// segments are created with O_DIRECT when a probe write at Open succeeds
// (tmpfs, for one, refuses it; Options.BufferedSegments turns it off): a
// value goes from the caller's buffer to the device, without the copy
// into the page cache. That copy was the largest cost of a macronode PUT:
// 36% of rond's CPU samples (copy_folio_from_iter_atomic), about 1.2 of
// its 5.2 CPU seconds per GiB, on a virtual machine where fresh page cache
// pages are expensive (BENCHMARKS.md, "PUT path"). O_DIRECT needs the
// buffer, the length and the file offset aligned, so every value starts
// at a multiple of directAlign (4 KiB) and is padded with zeros to the
// next one (at most 6% of a 64 KiB value, nothing for a 256 KiB chunk); a
// value that is aligned in memory with an aligned length (a gateway
// piece, a chunk of a whole put) is written from the caller's buffer, any
// other is copied into an aligned staging buffer first. The sync is
// unchanged: O_DIRECT skips the page cache, not the device's write cache
// nor the inode's size, so the fdatasync before the pointers commit still
// makes the values durable, and the crash contract above is the same (the
// kill -9 test runs on a real directory both ways, direct and buffered;
// the crash tests on vfs.NewCrashableMem run with the same aligned layout). Reads
// are unchanged (buffered; the kernel keeps the page cache coherent with
// direct writes), but a value written directly is not in the page cache,
// so its first read goes to the device: a whole GET right after a PUT
// costs more there than when the PUT left the bytes in memory. Padding
// counts as garbage in a segment's live-byte accounting (compaction).
// rond sets BufferedSegments by default (its segment_writes setting): on a
// quiet machine buffered writes were faster for the PUT and for the GET
// after it (BENCHMARKS.md, "Segment writes: the default"); direct writes
// spare CPU when the cores are busy.
//
// A full disk: ENOSPC writing a segment fails the ops of the group that
// had a large value with env.ErrDiskFull and sets the full state, exactly
// as a full log would; the segment is removed (no pointer names it).
//
// # WAL preallocation
//
// Pebble preallocates each WAL file's space (110% of a memtable) with
// fallocate(FALLOC_FL_KEEP_SIZE), so every append still grows the file's
// size, and an fdatasync after an append must also write the inode for
// that size: on ext4 a second synchronous write per WAL sync, measured at
// about 55 us of a 180-200 us sync and a third of its CPU (BENCHMARKS.md,
// "Name sets: the disk side"); a registry write pays one such sync per
// replica.
// The file system pebble gets (walSizedFS) therefore preallocates WAL
// files with their size extended over the space, as etcd does with its
// WAL segments: appends inside it leave the size alone, and the sync
// writes the data only. Pebble preallocates before a write from that
// write's offset (vfs.syncingFile): the first write of a log, at offset
// 0, preallocates nothing, so the first sync of each new WAL still grows
// the file and writes its inode; the second write preallocates the first
// block, and a write that starts past the preallocated space extends it
// by another block first. Nothing else changes: the bytes past the last
// record read as zeros, and pebble's WAL reader treats a zeroed chunk
// where a record would start as it treats the end of the file (it reads
// ahead for a later chunk; none means the log ended there, tolerated for
// the newest log; a log pebble rotated away from ends with its EOF
// trailer, before any zeros), so replay after a crash or a power loss
// stops at the same last whole record as before. A recycled WAL keeps its
// old size and bytes, as it always did. The journal of unsynced writes
// truncates a file to its last synced write, zero tail included
// (LossReport counts only the cut bytes before the zero tail). Where
// fallocate's mode 0 is not supported (EOPNOTSUPP, ENOSYS) the file's own
// preallocation runs instead.
// TestWALSizeExtendedByPreallocation replays copies of a live store (its
// WAL never closed, the zero tail in place; then again after WAL
// rotations, several logs in the copy) and finds every synced write.
// Where fallocate does not apply (in memory, other systems) the file's own
// preallocation runs, as before; a failed preallocation was and is
// ignored by pebble (the write itself extends the file).
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
// keep room to free space. That check (a statfs) runs once per group,
// before its first write: every write of a group was checked before any
// of them wrote, so they share one probe, and a sync after the group's
// writes probes again unless twice the bytes they wrote still leave the
// reserve free by that probe (TestGroupProbesFreeSpaceOnce); a probe per
// op cost a registry replica 1.7% of its CPU on name sets. The probe
// belongs to its group (returned by startGroup, passed to its sync): a
// Do between a group's writes and its sync probes for itself and cannot
// stand in for the group's. That bound covers only the group's own
// bytes: other writers on the file system (other processes, pebble's
// flushes and compactions of earlier writes) are outside it, over the
// group's window of milliseconds between its probe and its sync, as
// they were between two probes of a probe per op; the reserve is the
// margin for them. A fatal error
// keeps its ENOSPC cause in the chain. io/runtime reads Full for readiness (not ready, with the reason)
// and rebuilds a machine that failed on the full disk once it has space
// again. Pebble's log lines are rate-limited per format
// (logLinesPerInterval per logInterval, the rest counted as
// "suppressed"): a full disk made it log hundreds of lines a second.
//
// # Failpoints
//
// FailpointSideKill kills the process at a named side-file step (the
// kill -9 test). FailpointWrite, FailpointSync and FailpointRead (pingcap/failpoint,
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
// The side files (segments under <store>/values) are written through the
// same wrapper: Open gives openSide the FS it gives pebble, so segment
// creations, appends and their fdatasyncs are journaled like pebble's
// files, and a played loss drops a segment's unsynced tail or a segment
// whose directory was never synced. As a pointer commits only after its
// segment's sync, that only ever drops bytes no pointer names (Open
// removes such segments). The wrapper does not journal directory
// creation (MkdirAll of values/ and its fan-out subdirectories): a
// played loss keeps such a directory, which side.go syncs into its
// parent right after creating it anyway. TestConformance's
// PowerLossPlayed runs with a low side-file threshold, so its large
// values take this path.
//
// Pebble writes a NoSync record to its WAL file only when its 32 KiB
// block fills or a sync is asked for; until then the record is in the
// process's memory, and any kill loses it. The journal matters for what
// reached the file: full blocks of unsynced records, and tables and blob
// files written but not yet synced.
//
// # Parallel reads
//
// A storage chunk read costs a pread (or, in memory, a copy) and the
// chunk's check (env.DiskOp.Check: BLAKE3 of 256 KiB, about 0.15 ms a
// core), which the disk runs on the value it read (env.RunCheck) so the
// node's loop does not. One op at a time would keep one core busy
// whatever the machine; instead the worker hands each get to one of
// ReadsParallelMax reader goroutines (started with the worker and ended
// with it; a goroutine per get cost its creation, stack growth and exit
// on every chunk read), so up to ReadsParallelMax run at once, and keeps
// taking ops while they run. pebble's reads and the side files' preads are safe
// concurrently; the gets hold execMu shared, so none overlaps a write, a
// sync (which may compact segments) or Do. Ordering is kept by the
// worker: an op that is not a get first waits until every get started
// before it has completed (a write cannot change what an earlier get
// reads), then runs alone, so the gets after it see it. The readers
// complete the gets themselves, in submission order: the reader that
// finishes the oldest outstanding get completes it and every later one
// already finished, under one mutex (readPipe), so no two completions
// overlap and none passes an earlier op. Handing each finished get back
// to the worker to complete cost a wake-up of the worker per chunk read.
// A get whose read hits a fatal pebble error marks the store failed like
// any op.
//
// A get reads a segment value with one pread: the segments stay open for
// reading (segmentReaders, at most segmentReadersMax, reference-counted
// by the gets using them), closed when the segment is unlinked (a sync,
// execMu held exclusively), when evicted by a newer one once no get uses
// them, or at Close. So a segment removed behind the store's back reads
// its bytes through the open handle (CRC-checked, and the caller's check
// as always) until the store is opened again, which finds it missing. A
// get with env.DiskOp.Into reads the value into that buffer when its
// capacity holds it; the pread must fill the value or the get fails, so
// none of the buffer's earlier bytes is returned.
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
// the worker never overlap (one mutex, held shared by parallel gets only),
// but Do is not ordered with respect to queued ops.
//
// The package is production code under io/: it uses goroutines, sync and
// the file system, and must not import sim/.
package pebbledisk
