package overlay

import (
	"crypto/ed25519"

	"github.com/ron-network/ron/core/auth"
)

// HelloSignaturesMax bounds a HelloSignatures cache. A HELLO is verified
// once by the peer it is addressed to, a few simulated milliseconds after
// it is signed (later only when the network duplicates its frame), so the
// window between signing and verifying spans a handful of HELLOs per node;
// 1024 entries keep every one at the simulator's largest overlay runs.
const HelloSignaturesMax = 1024

// HelloSignaturesSignersMax bounds the private keys a HelloSignatures
// cache checks and vouches for: one per node of a simulated world. A
// further key still signs, its HELLOs are just verified in full.
const HelloSignaturesSignersMax = 256

// HelloSignatures lets nodes that share one process and one goroutine (the
// simulator's world) skip the Ed25519 verification of a HELLO signature
// another of them made: the signing node records the signature as it makes
// it, and the receiving node finds it there. It is the registry's
// SignatureCache vouching rule (core/registry, SignatureCache.SignSet)
// applied to HELLOs:
//
//   - Ed25519 signing is deterministic, and a signature made with a
//     well-formed private key always verifies under its public half, so a
//     recorded entry is exactly what ed25519.Verify would answer. A key's
//     halves are checked once (its public half against its seed) before
//     any signature of it is recorded; a key that fails the check, or one
//     past HelloSignaturesSignersMax, is never vouched for.
//   - An entry is found by public key and signature and keeps the whole
//     signed message; a lookup with any other message, key or signature is
//     a miss and is verified in full, so a forged, altered or misdirected
//     HELLO is judged by ed25519.Verify as without a cache, and the other
//     identity checks of verifyHello run either way.
//   - Only valid signatures are recorded, and only by their signer.
//
// So sharing a cache changes how long a step takes, never what it outputs.
// A production node runs without one (Config.Signatures nil): its HELLOs
// come from other processes. A cache is not safe for concurrent use;
// core/ may not use sync.
type HelloSignatures struct {
	vouched map[helloSigKey]string // signature -> the message it signs
	ring    []helloSigKey          // insertion order; ring[next] is evicted next
	next    int
	signers auth.CheckedSigners
	hits    uint64
}

type helloSigKey struct {
	pub [ed25519.PublicKeySize]byte
	sig [ed25519.SignatureSize]byte
}

// NewHelloSignatures returns an empty cache.
func NewHelloSignatures() *HelloSignatures {
	return &HelloSignatures{vouched: map[helloSigKey]string{}, signers: auth.CheckedSigners{Max: HelloSignaturesSignersMax}}
}

// Hits is how many verifications the cache answered.
func (c *HelloSignatures) Hits() uint64 {
	if c == nil {
		return 0
	}
	return c.hits
}

// sign returns ed25519.Sign(key, msg) and records it as valid when c
// vouches for key. A nil cache only signs.
func (c *HelloSignatures) sign(key ed25519.PrivateKey, msg []byte) []byte {
	sig := ed25519.Sign(key, msg)
	if c == nil || !c.signers.Vouches(key) {
		return sig
	}
	var k helloSigKey
	copy(k.pub[:], key[ed25519.SeedSize:])
	copy(k.sig[:], sig)
	if _, found := c.vouched[k]; !found {
		if len(c.ring) < HelloSignaturesMax {
			c.ring = append(c.ring, k)
		} else {
			delete(c.vouched, c.ring[c.next])
			c.ring[c.next] = k
			c.next = (c.next + 1) % HelloSignaturesMax
		}
	}
	c.vouched[k] = string(msg)
	return sig
}

// verify reports ed25519.Verify(pub, msg, sig), from the cache when a
// vouched signer recorded exactly this signature over exactly msg.
func (c *HelloSignatures) verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if c != nil && len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize {
		var k helloSigKey
		copy(k.pub[:], pub)
		copy(k.sig[:], sig)
		if m, found := c.vouched[k]; found && m == string(msg) {
			c.hits++
			return true
		}
	}
	return ed25519.Verify(pub, msg, sig)
}
