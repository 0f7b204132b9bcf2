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

// SignatureCache memoises Ed25519 verifications of Set signatures: an
// auth.SignatureCache (whose doc argues why a remembered result is exactly
// what a new verification would say) over the Set's signed bytes. The
// simulator shares one among every node of a world (they all run on one
// goroutine), which turns the two verifications of a forwarded Set into
// one, and its registry workload signs through it (SignSet), so that even
// the first verification is a hit; a production node runs without one
// (Config.Signatures nil), verifying every time.
type SignatureCache struct {
	sigs *auth.SignatureCache
	// message is reused to build the signed bytes of each lookup.
	message []byte
}

// NewSignatureCache returns an empty cache.
func NewSignatureCache() *SignatureCache {
	return &SignatureCache{sigs: auth.NewSignatureCache(SignatureCacheEntriesMax, SignatureCacheSignersMax)}
}

// SignSet returns ed25519.Sign(key, SetSigningBytes(name, target, seq)),
// the Sig of a Set, and records it as a valid signature by key's public
// half (auth.SignatureCache.Sign). A nil cache only signs. key must be a
// private key as ed25519.NewKeyFromSeed returns it.
func (c *SignatureCache) SignSet(key ed25519.PrivateKey, name string, target proto.Addr, seq uint64) []byte {
	msg := SetSigningBytes(name, target, seq)
	if c == nil {
		return ed25519.Sign(key, msg)
	}
	return c.sigs.Sign(key, msg)
}

// setOK reports whether o's signature verifies, from the cache when it
// holds the result. A nil cache verifies every time.
func (c *SignatureCache) setOK(o *op) bool {
	if c == nil {
		return setSignatureOK(o)
	}
	c.message = appendSetSigningBytes(c.message[:0], o.name, o.target, o.seq)
	return c.sigs.Verify(ed25519.PublicKey(o.owner[:]), c.message, o.sig[:])
}

// Stats returns how many lookups the cache answered and how many it had to
// verify.
func (c *SignatureCache) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.sigs.Stats()
}
