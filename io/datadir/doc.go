// Package datadir versions a macronode's data directory.
//
// Every data directory carries a format record, the file FORMAT at its
// root: a small JSON object naming the format version of everything the
// directory holds, the rond build that last wrote the record and the node
// id the directory belongs to. rond reads it before it opens anything else
// in the directory:
//
//   - a newer format than this build reads is refused with one line that
//     names both versions and what to do (run the newer build, or migrate
//     down with it); it is never mistaken for corruption;
//   - a directory without a record is format 0, what builds before the
//     record wrote. Format 0 and format 1 hold the same bytes apart from
//     the record. Format 2 renamed the store's chunks and manifests
//     (core/storage: chunks keyed by their BLAKE3 chaining value, verified
//     ranges), and format 3 (FormatSideFiles) keeps large values in
//     segment files, so this build refuses a format 0, 1 or 2 directory
//     in one line naming `rond migrate --to 3`: opening a format 0 or 1
//     one as is would show an empty store whose orphan sweep deletes the
//     old chunks, and a format 2 store does not escape values that begin
//     with the segment pointer's marker. rond never
//     migrates silently (that would lock out the older build it came
//     from);
//   - a directory with neither a record nor a store is new, and gets a
//     record of the current format when rond first opens it;
//   - a store is recognised as pebble recognises one (a manifest marker
//     naming a manifest, store.go), not by DIR/pebble being there: a
//     DIR/pebble that is not one is refused (ErrForeignStore) naming
//     what it holds, and nothing in the directory is touched. Opening it
//     would make pebble create a store over it and delete its files as
//     obsolete. The migrations open a store with
//     pebbledisk.Options.MustExist, so they never create one either;
//   - a recorded dir's store (StoreFound) is opened with MustExist too,
//     and one whose DIR/pebble lost its manifest marker (a zero-length
//     file a backup or sync tool may skip) but holds store files is
//     refused (ErrStoreLost) naming them, untouched: pebble would create
//     a new store over it and the side files' sweep delete every segment.
//     A store that cannot be read (EACCES, EIO) is refused as
//     unreadable, never called foreign;
//   - after the store's first successful Open, before the node runs,
//     rond sets store_created in the record (MarkStoreCreated, written
//     as every record is: temporary file, fsync, rename, fsync of the
//     directory). A recorded dir so marked whose DIR/pebble is missing,
//     empty or holds no store files (a volume that did not mount, an
//     operator's rm) is refused (ErrStoreMissing) by rond and rond
//     migrate, untouched, naming the store, the record and what to do:
//     restore the store, or start over on purpose with a new --data-dir
//     (a new node) or by removing DIR/FORMAT and DIR/pebble (the same
//     node id, empty; not on a replica of a registry group of more
//     than one replica: a single node without peers is its own
//     registry and may). Started empty under its old node id, a
//     replica of a larger registry group would forget its votes and the
//     entries it acknowledged, and a storage node every replica it held.
//     A recorded dir without the mark (an older build's record, which
//     gains it at its first start with a store, or a crash between the
//     store's first Open and the mark) and without a store, or with a
//     DIR/pebble that holds no store files (a crash in the store's first
//     Open), gets its store created, as before the mark. A migration
//     keeps the mark in the records it writes, and sets it when the dir
//     holds its store.
//
// # The data dir's lock
//
// DIR/LOCK (Lock, flock, exclusive, never waiting) is the data dir's
// lock: rond takes it once its checks of the dir, which only read, have
// passed, checks again under it and holds it until it exits; Migrate
// takes it the same way for its whole plan. A second rond or rond
// migrate on the dir is refused (ErrInUse) naming DIR/LOCK and the pid
// and host last written in it (its holder's, unless a holder that could
// only read the file came since); a refused dir never gets the file.
// When a check fails before the lock is taken, Held probes DIR/LOCK
// without creating it, so that a dir a migration is at work on is
// reported in use rather than by what the check saw mid-migration. The
// file is created mode 0644 (what it holds is not secret) and, by root,
// given to the data dir's owner, so that rond migrate run with sudo does
// not lock the service user's rond out; a lock file that cannot be
// written is opened read-only, which flock takes too, and one that
// cannot be opened at all is refused naming its owner and mode and what
// to do. It is not
// pebble's lock (DIR/pebble/LOCK), which pebble takes when the store
// opens and Migrate takes after DIR/LOCK (so that a migration never runs
// under an older rond, which takes only pebble's): every process takes
// them in that order and never waits for either, so they cannot
// deadlock. The file stays when the lock is released (unlinking a lock
// file races with a process that opened it).
//
// Migrations move a directory one format at a time, up or down, only when
// an operator runs `rond migrate`. Each migration does its work beside the
// live data and commits by replacing the format record atomically (write
// a temporary file, fsync it, rename it over FORMAT, fsync the directory),
// so a process killed at any step leaves the old format or the new one,
// never a mix; running the migration again finishes it. Migration 1 is the
// record itself: up writes it, down removes it. Migration 2 (format2.go)
// rebuilds the store's chunks and manifests beside the old ones, commits
// with the record and then deletes the old manifests; it opens the store
// with pebbledisk.Options.Legacy (formats 1 and 2 keep every value inside
// pebble) under the store lock Migrate holds for the whole plan.
//
// Migration FormatSideFiles (3) moves large store values out of pebble
// into segment files (io/pebbledisk, "Side files"). It differs from the
// rule above: the values are moved in place, not beside the store. Up
// checks the store first (no value may begin with the side-file marker),
// commits the record, then moves the values; a store of the new format
// reads inline values as well, so a crash during the move leaves a valid
// new-format store with some large values still inline (they read; only
// the write-once saving is missing for them). Down writes the values back
// inline, syncs, removes the segments (a valid store of either format),
// then commits the record. Every migration opens a store of a format
// before FormatSideFiles with pebbledisk.Options.Legacy, as the older
// build does. It was format 2 on its branch (issue 15.2) and was
// renumbered 3 when merged after the chaining-value format (issue 15.1).
//
// The steps of a migration call a hook before each effect; the failpoint
// FailpointKill kills the process at a named step, which is how the tests
// prove the crash safety on a real process.
package datadir
