// Package proto holds RON's wire-level vocabulary: node identities, content
// addresses (b3:<hex>), the OAP/1 frame codec (subpackage oap) and the
// deterministic payload encoding shared by every service.
//
// Everything here is pure: no I/O, no clocks, no randomness. Parsing never
// panics on untrusted input; every rejection is an error value whose message
// says what was wrong.
//
// CheckPublicKey refuses an Ed25519 public key of small order or not
// canonically encoded, under which the cofactorless ed25519.Verify accepts
// a signature anyone can make. It is applied where a key is first accepted
// from the network or a configuration, never to an entry already in a log:
// name owner keys and node descriptors at registry ingress, DHT provider
// records, HELLO keys (core/overlay), peer certificates (io/quicnet), and
// registry admin keys at start (core/stack, cmd/rond).
package proto
