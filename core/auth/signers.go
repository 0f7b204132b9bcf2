package auth

import (
	"crypto/ed25519"
	"slices"
)

// CheckedSigners remembers up to Max private keys whose public half was
// found to be the one their seed derives. The simulator's signature
// caches (core/registry SignatureCache, core/overlay HelloSignatures)
// vouch only for signatures made by such keys: a key whose halves
// disagree would make signatures its public half does not verify, and
// those must be verified in full. The zero value with Max 0 vouches for
// nothing. Not safe for concurrent use.
type CheckedSigners struct {
	Max  int
	keys [][ed25519.PrivateKeySize]byte
}

// Vouches reports whether key's public half is the one its seed derives,
// checking (and remembering) a key not seen before while there is room.
func (s *CheckedSigners) Vouches(key ed25519.PrivateKey) bool {
	if len(key) != ed25519.PrivateKeySize {
		return false
	}
	var k [ed25519.PrivateKeySize]byte
	copy(k[:], key)
	if slices.Contains(s.keys, k) {
		return true
	}
	if len(s.keys) >= s.Max {
		return false
	}
	if !ed25519.NewKeyFromSeed(key.Seed()).Equal(key) {
		return false
	}
	s.keys = append(s.keys, k)
	return true
}

// Len is how many keys are remembered.
func (s *CheckedSigners) Len() int { return len(s.keys) }
