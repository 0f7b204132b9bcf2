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
//     the record, so rond opens a format 0 directory as is and says that
//     `rond migrate --to 1` adds the record; it never adds it silently
//     (a silent upgrade would lock out the older build it came from);
//   - a directory with neither a record nor a store is new, and gets a
//     record of the current format when rond first opens it.
//
// Migrations move a directory one format at a time, up or down, only when
// an operator runs `rond migrate`. Each migration does its work beside the
// live data and commits by replacing the format record atomically (write
// a temporary file, fsync it, rename it over FORMAT, fsync the directory),
// so a process killed at any step leaves the old format or the new one,
// never a mix; running the migration again finishes it. Migration 1 is the
// record itself: up writes it, down removes it.
//
// Migration FormatSideFiles (2) moves large store values out of pebble
// into segment files (io/pebbledisk, "Side files"). It differs from the
// rule above: the values are moved in place, not beside the store. Up
// checks the store first (no value may begin with the side-file marker),
// commits the record, then moves the values; a store of the new format
// reads inline values as well, so a crash during the move leaves a valid
// new-format store with some large values still inline (they read; only
// the write-once saving is missing for them). Down writes the values back
// inline, syncs, removes the segments (a valid store of either format),
// then commits the record. Before the record says FormatSideFiles, rond
// opens the store with pebbledisk.Options.Legacy, as the older build.
// The constant is the one line to renumber when this format is merged
// after another one.
//
// The steps of a migration call a hook before each effect; the failpoint
// FailpointKill kills the process at a named step, which is how the tests
// prove the crash safety on a real process.
package datadir
