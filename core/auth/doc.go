// Package auth holds RON's capability tokens and keys (ARCHITECTURE 5.6): pure
// code with no env of its own, called by whatever enforces access (the
// gateway, ronctl, the registry).
//
// Tokens are macaroon-style bearer capabilities. A token is a base (format
// version, tenant, key id and version, scope, a nonce) followed by caveats,
// and a MAC computed as a chain: the first tag is BLAKE3 keyed by the root
// key over the base, each caveat's tag is BLAKE3 keyed by the previous tag
// over the caveat, and the token carries the last tag. Whoever holds a token
// can append a caveat (extending the chain from the tag it has), so
// attenuation works offline; nobody without the root key can remove or
// change a caveat, because that needs an earlier tag the chain never
// reveals. Caveats only ever restrict: all caveats of a kind apply, so the
// grant is their intersection (Effective). The byte-exact format is
// specs/capability-token.md; testdata/vectors.json pins it.
//
// Invariants:
//   - The encoding is canonical: Unmarshal accepts a byte string only if
//     Marshal of the result reproduces it, and Decode accepts only the
//     canonical base64url text. A MAC therefore covers one token, never a
//     family of spellings.
//   - An unknown caveat kind makes a token malformed. Skipping what one does
//     not understand would let an old verifier ignore a new restriction.
//   - Verify compares MACs in constant time and checks in a fixed order
//     (malformed, unknown_key, bad_mac, revoked, then time, audience,
//     tenant, op, prefix, size), so a verdict's reason is stable and a
//     forged token learns nothing beyond bad_mac.
//   - Key material never reaches fmt, encoding/json or slog: Secret and
//     every type holding one print Redacted.
//
// Rejected alternatives:
//   - Signed tokens (Ed25519 over a claim set, as JWTs do) cannot be
//     attenuated by their holder without a delegation chain of signatures;
//     a MAC chain gives that for one hash per caveat.
//   - Revoking by the first tag: it is a bearer secret for the caveat-free
//     token, so a replicated revocation list would leak it. The token id is
//     a domain-separated hash of the base instead, public and unique thanks
//     to the nonce.
//   - Silently dropping the oldest key version when a key has
//     KeyVersionsMax versions: that would invalidate tokens with no
//     operator decision. Rotation is refused instead; Retire is explicit.
//
// Keys (kms.go) are derived from caller-supplied seeds with BLAKE3's key
// derivation mode; there is no entropy source in core/. env.Rand is a
// seeded PRNG, good for the simulator; production seeds come from io/.
package auth
