// Package proto holds RON's wire-level vocabulary: node identities, content
// addresses (b3:<hex>), the OAP/1 frame codec (subpackage oap) and the
// deterministic payload encoding shared by every service.
//
// Everything here is pure: no I/O, no clocks, no randomness. Parsing never
// panics on untrusted input; every rejection is an error value whose message
// says what was wrong.
package proto
