package registry

import (
	"crypto/ed25519"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
)

// SignatureCacheEntriesMax bounds a SignatureCache. A Set is verified by the
// node that accepts it and, when that is not a replica, by the replica it
// is forwarded to (apply does not verify: doc.go, "Signatures"); the window
// between the two, retries included, spans at most a few thousand Sets at
// the workloads the simulator runs, so 4096 results (about 1 MiB) keep
// nearly every repeat a hit.
const SignatureCacheEntriesMax = 4096

// SignatureCacheSignersMax bounds the private keys SignSet has checked and
// vouches for. The simulator's registry workload signs with three owner
// keys; a further key is still signed for, just not vouched for.
const SignatureCacheSignersMax = 8

// SignatureCache memoises Ed25519 verifications of Set signatures.
//
// Verification is a pure function of (public key, message, signature), so a
// remembered result is exactly the result a new verification would give:
// sharing a cache changes how long a step takes, never what it outputs. An
// entry is found by public key and signature and keeps the whole message
// it was computed for (no digest of it); a lookup of another message under
// the same key is a miss that replaces the entry, so no two inputs ever
// share a result. Entries are evicted oldest first from a ring of
// SignatureCacheEntriesMax slots.
//
// A cache is not safe for concurrent use. The simulator shares one among
// every node of a world (they all run on one goroutine), which turns the
// two verifications of a forwarded Set into one; a production node runs
// without one (Config.Signatures nil), verifying every time. A process-wide
// cache was rejected: core/ may not use sync, and nodes of concurrent tests
// would race on it.
//
// SignSet lets a signer in the same process (the simulator's workload)
// record its own signatures as valid when it makes them, so that even the
// first verification is a hit. Ed25519 signing is deterministic and a
// signature made with a well-formed private key always verifies under its
// public half, so the recorded result is again exactly what Verify would
// say; SignSet checks each key's halves once (SignatureCacheSignersMax) and
// vouches only for keys that passed. Every other signature, bad ones
// included, is verified in full on its first lookup.
type SignatureCache struct {
	results map[signatureKey]signatureResult
	ring    []signatureKey // insertion order; ring[next] is evicted next
	next    int
	hits    uint64
	misses  uint64
	// signers are private keys whose public half SignSet has checked
	// against their seed.
	signers auth.CheckedSigners
	// message is reused to build the signed bytes of each lookup.
	message []byte
}

type signatureKey struct {
	owner [ed25519.PublicKeySize]byte
	sig   [ed25519.SignatureSize]byte
}

// signatureResult is whether sig verifies over message under owner.
type signatureResult struct {
	message string
	ok      bool
}

// NewSignatureCache returns an empty cache.
func NewSignatureCache() *SignatureCache {
	return &SignatureCache{results: map[signatureKey]signatureResult{}, signers: auth.CheckedSigners{Max: SignatureCacheSignersMax}}
}

// setOK reports whether o's signature verifies, from the cache when it
// holds the result. A nil cache verifies every time.
func (c *SignatureCache) setOK(o *op) bool {
	if c == nil {
		return setSignatureOK(o)
	}
	c.message = appendSetSigningBytes(c.message[:0], o.name, o.target, o.seq)
	key := signatureKey{owner: o.owner, sig: o.sig}
	if res, found := c.results[key]; found && res.message == string(c.message) {
		c.hits++
		return res.ok
	}
	c.misses++
	ok := ed25519.Verify(ed25519.PublicKey(o.owner[:]), c.message, o.sig[:])
	c.remember(key, signatureResult{message: string(c.message), ok: ok})
	return ok
}

// SignSet returns ed25519.Sign(key, SetSigningBytes(name, target, seq)),
// the Sig of a Set, and records it as a valid signature by key's public
// half. A nil cache only signs. key must be a private key as
// ed25519.NewKeyFromSeed returns it: the first time a key is seen its
// public half is checked against its seed, and signatures by a key that
// fails the check (or by one beyond SignatureCacheSignersMax) are not
// recorded, so they are verified in full like any other.
func (c *SignatureCache) SignSet(key ed25519.PrivateKey, name string, target proto.Addr, seq uint64) []byte {
	msg := SetSigningBytes(name, target, seq)
	sig := ed25519.Sign(key, msg)
	if c == nil || !c.signers.Vouches(key) {
		return sig
	}
	var k signatureKey
	copy(k.owner[:], key[ed25519.SeedSize:])
	copy(k.sig[:], sig)
	c.remember(k, signatureResult{message: string(msg), ok: true})
	return sig
}

// remember stores res under key: in place when key is cached (for another
// message), else in a new ring slot, evicting the oldest when full.
func (c *SignatureCache) remember(key signatureKey, res signatureResult) {
	if _, found := c.results[key]; !found {
		if len(c.ring) < SignatureCacheEntriesMax {
			c.ring = append(c.ring, key)
		} else {
			delete(c.results, c.ring[c.next])
			c.ring[c.next] = key
			c.next = (c.next + 1) % SignatureCacheEntriesMax
		}
	}
	c.results[key] = res
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
	if len(c.results) != len(c.ring) || len(c.ring) > SignatureCacheEntriesMax || c.signers.Len() > SignatureCacheSignersMax {
		panic("registry: signature cache ring and map disagree")
	}
}
