package auth

import "crypto/ed25519"

// SignatureCache memoises Ed25519 verifications for nodes that share one
// process and one goroutine (the simulator's world): the registry's Set
// signatures (core/registry SignatureCache) and the overlay's HELLOs
// (core/overlay HelloSignatures) both use it.
//
// Verification is a pure function of (public key, message, signature), so
// a remembered result is exactly the result a new verification would give:
// sharing a cache changes how long a step takes, never what it outputs. An
// entry is found by public key and signature and keeps the whole message
// it was computed for (no digest of it); a lookup of another message under
// the same key is a miss that replaces the entry, so no two inputs ever
// share a result. Entries are evicted oldest first from a ring of
// EntriesMax slots.
//
// Sign lets a signer in the same process record its own signatures as
// valid when it makes them, so that even the first verification is a hit.
// Ed25519 signing is deterministic and a signature made with a well-formed
// private key always verifies under its public half, so the recorded
// result is again exactly what Verify would say; each key's halves are
// checked once (CheckedSigners) and only keys that passed are vouched for.
// Every other signature, bad ones included, is verified in full on its
// first lookup.
//
// A nil cache signs and verifies every time (a production node: its
// signatures come from other processes). A cache is not safe for
// concurrent use; core/ may not use sync, and a process-wide cache would
// be raced on by the nodes of concurrent tests.
type SignatureCache struct {
	entriesMax int
	results    map[sigKey]sigResult
	ring       []sigKey // insertion order; ring[next] is evicted next
	next       int
	hits       uint64
	misses     uint64
	signers    CheckedSigners
}

type sigKey struct {
	pub [ed25519.PublicKeySize]byte
	sig [ed25519.SignatureSize]byte
}

// sigResult is whether sig verifies over message under pub.
type sigResult struct {
	message string
	ok      bool
}

// NewSignatureCache returns an empty cache of at most entriesMax results
// that vouches for the signatures of at most signersMax keys.
func NewSignatureCache(entriesMax, signersMax int) *SignatureCache {
	return &SignatureCache{entriesMax: entriesMax, results: map[sigKey]sigResult{}, signers: CheckedSigners{Max: signersMax}}
}

// Sign returns ed25519.Sign(key, msg) and records it as valid when the
// cache vouches for key.
func (c *SignatureCache) Sign(key ed25519.PrivateKey, msg []byte) []byte {
	sig := ed25519.Sign(key, msg)
	if c == nil || !c.signers.Vouches(key) {
		return sig
	}
	var k sigKey
	copy(k.pub[:], key[ed25519.SeedSize:])
	copy(k.sig[:], sig)
	c.remember(k, sigResult{message: string(msg), ok: true})
	return sig
}

// Verify reports ed25519.Verify(pub, msg, sig), from the cache when it
// holds the result for exactly these bytes.
func (c *SignatureCache) Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if c == nil || len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return ed25519.Verify(pub, msg, sig)
	}
	var k sigKey
	copy(k.pub[:], pub)
	copy(k.sig[:], sig)
	if res, found := c.results[k]; found && res.message == string(msg) {
		c.hits++
		return res.ok
	}
	c.misses++
	ok := ed25519.Verify(pub, msg, sig)
	c.remember(k, sigResult{message: string(msg), ok: ok})
	return ok
}

// remember stores res under k: in place when k is cached (for another
// message), else in a new ring slot, evicting the oldest when full.
func (c *SignatureCache) remember(k sigKey, res sigResult) {
	if _, found := c.results[k]; !found {
		if len(c.ring) < c.entriesMax {
			c.ring = append(c.ring, k)
		} else {
			delete(c.results, c.ring[c.next])
			c.ring[c.next] = k
			c.next = (c.next + 1) % c.entriesMax
		}
	}
	c.results[k] = res
	if len(c.results) != len(c.ring) || len(c.ring) > c.entriesMax || c.signers.Len() > c.signers.Max {
		panic("auth: signature cache ring and map disagree")
	}
}

// Stats returns how many lookups the cache answered and how many it had
// to verify.
func (c *SignatureCache) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits, c.misses
}

// Len is how many results the cache holds.
func (c *SignatureCache) Len() int {
	if c == nil {
		return 0
	}
	return len(c.results)
}
