// Package wire is RON's deterministic binary encoding for service payloads
// (ARCHITECTURE 5.1): a value encodes to exactly one byte string, and decoding
// consumes it exactly, so payloads round-trip exactly and can be hashed and
// signed.
//
// # Encoding
//
// Integers are unsigned LEB128 varints; byte strings and strings are a
// varint length then the bytes; bools are one byte, 0 or 1; fixed-size
// arrays (digests, ids) are raw bytes whose length the schema knows. There
// are no field tags: a message is its fields in a fixed order, and a
// version change is a new message type.
//
// # Invariants
//
// Decoding accepts only the canonical form, so that two different byte
// strings never decode to the same value: varints must be minimal (no
// trailing 0x00 continuation byte) and fit 64 bits, bools are 0 or 1, every
// length and count is checked against a caller-given limit before anything
// is sliced or allocated, and Done rejects trailing bytes. A Reader never
// panics on untrusted input; every error wraps ErrMalformed.
//
// Encoders append to a caller-owned buffer; decoders read from a Reader
// that remembers the first error, so a message decoder is a flat sequence
// of reads followed by one check of r.Done(). Byte strings returned by a
// Reader alias its input.
//
// # Rejected alternatives
//
// CBOR in its deterministic mode would also do, but needs a dependency and
// a validating decoder for a much larger format (maps, floats, tags,
// indefinite lengths) whose canonical-form rules are easy to get subtly
// wrong. Protocol buffers and encoding/gob are not canonical (field order,
// default values, unknown fields), so equal values may hash differently.
package wire
