// Package keyfile reads and writes RON's secret key files: a node's
// Ed25519 seed (rond --node-key, DIR/node.key) and the capability MAC key
// (rond --cap-key-file, DIR/cap.key, ronctl token --key). The format is
// the key's bytes in lowercase hex and a newline; files are created with
// mode 0600 and a file that group or others may access is refused, as ssh
// refuses a readable private key, because a key another user could read
// is already compromised.
//
// Key material never reaches an error or a log line: errors name the
// file, its mode and the expected size, never the content.
//
// Rejected alternatives: raw binary files (not copy-pasteable, and a hex
// file shows a truncation at a glance); accepting loose permissions with
// a warning (warnings scroll by, the exposure stays).
package keyfile
