// Package keyfile reads and writes RON's secret key files: a node's
// Ed25519 seed (rond --node-key, DIR/node.key) and the capability MAC key
// (rond --cap-key-file, DIR/cap.key, ronctl token --key). Files are
// created with mode 0600 and a file that group or others may access is
// refused, as ssh refuses a readable private key, because a key another
// user could read is already compromised. A key path must name a regular
// file (symlinks followed): a FIFO, device or directory is refused by name
// and type without blocking (io/regfile).
//
// A node key is the key's bytes in lowercase hex and a newline. A cap key
// file holds versions (CapKey): the header line "ron-cap-key v1", comment
// lines, and one "VERSION SEED" line per live version, ascending, the last
// current. New tokens are minted with the current version and every live
// version verifies, so a rotation (ronctl key rotate) invalidates nothing
// and a retire (ronctl key retire) invalidates exactly one version. The
// single-key format of before versions still reads, as version 1. A cap
// key file is always replaced atomically (WriteAtomic: temporary file,
// fsync, rename, directory fsync), so rond, which reloads it while it
// runs, never reads half a file.
//
// Key material never reaches an error or a log line: errors name the
// file, its mode, the expected size, or the line and field of a parse
// error, never the content; CapKey prints redacted. What may be shown
// of a cap key is CapKey.Fingerprints: per version, 8 bytes of a BLAKE3
// key derived from the seed under FingerprintContext, enough to tell
// two seeds apart (rond audits cap key reloads with them) and one-way.
//
// Rejected alternatives: raw binary files (not copy-pasteable, and a hex
// file shows a truncation at a glance); accepting loose permissions with
// a warning (warnings scroll by, the exposure stays); auth.Keyring's
// binary Marshal as the file format (an operator cannot read which
// versions a file holds, and a parse error could not name a line); one
// file per version (a rotation would not be one atomic step).
package keyfile
