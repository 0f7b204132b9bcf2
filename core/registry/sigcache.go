package registry

import (
	"crypto/ed25519"
)

// SignatureCacheEntriesMax bounds a SignatureCache. A Set is verified by the
// node that accepts it, the replica it is forwarded to and every replica
// when it applies the entry (again when a restarted replica replays its
// log); the window between the first and the last of these spans at most a
// few thousand entries at the workloads the simulator runs, so 4096 results
// (about 1 MiB) keep nearly every repeat a hit.
const SignatureCacheEntriesMax = 4096

// SignatureCache memoises Ed25519 verifications of Set signatures.
//
// Verification is a pure function of (public key, message, signature), so a
// remembered result is exactly the result a new verification would give:
// sharing a cache changes how long a step takes, never what it outputs. The
// key holds the whole input (no digest of it), so no collision can make two
// inputs share a result. Entries are evicted oldest first from a ring of
// SignatureCacheEntriesMax slots.
//
// A cache is not safe for concurrent use. The simulator shares one among
// every node of a world (they all run on one goroutine), which turns the
// six or seven verifications of each Set into one; a production node runs
// without one (Config.Signatures nil), verifying every time. A process-wide
// cache was rejected: core/ may not use sync, and nodes of concurrent tests
// would race on it.
type SignatureCache struct {
	results map[signatureKey]bool
	ring    []signatureKey // insertion order; ring[next] is evicted next
	next    int
	hits    uint64
	misses  uint64
}

type signatureKey struct {
	owner   [ed25519.PublicKeySize]byte
	sig     [ed25519.SignatureSize]byte
	message string
}

// NewSignatureCache returns an empty cache.
func NewSignatureCache() *SignatureCache {
	return &SignatureCache{results: map[signatureKey]bool{}}
}

// setOK reports whether o's signature verifies, from the cache when it
// holds the result. A nil cache verifies every time.
func (c *SignatureCache) setOK(o *op) bool {
	if c == nil {
		return setSignatureOK(o)
	}
	msg := SetSigningBytes(o.name, o.target, o.seq)
	key := signatureKey{owner: o.owner, sig: o.sig, message: string(msg)}
	if ok, found := c.results[key]; found {
		c.hits++
		return ok
	}
	c.misses++
	ok := ed25519.Verify(ed25519.PublicKey(o.owner[:]), msg, o.sig[:])
	c.remember(key, ok)
	return ok
}

func (c *SignatureCache) remember(key signatureKey, ok bool) {
	if len(c.ring) < SignatureCacheEntriesMax {
		c.ring = append(c.ring, key)
	} else {
		delete(c.results, c.ring[c.next])
		c.ring[c.next] = key
		c.next = (c.next + 1) % SignatureCacheEntriesMax
	}
	c.results[key] = ok
	c.checkInvariants()
}

// Stats returns how many lookups the cache answered and how many it had to
// verify.
func (c *SignatureCache) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits, c.misses
}

func (c *SignatureCache) checkInvariants() {
	if len(c.results) != len(c.ring) || len(c.ring) > SignatureCacheEntriesMax {
		panic("registry: signature cache ring and map disagree")
	}
}
