//go:build race || invariants

package pebbledisk

// fsScribbles: pebble's invariants builds (race or the invariants tag)
// make its in-memory file system overwrite every buffer it is given to
// write, to catch callers that reuse them. A segment write then copies
// each value first, so the caller's value (which a machine may still
// read, e.g. to push it to a replica) stays intact.
const fsScribbles = true
