package proto

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"
)

// smallOrderEncodings lists every 32-byte encoding crypto/ed25519 decodes
// to a point of small order: the 8 points (y from deriveSmallOrderY, with
// both signs where x != 0), the sign bit set on x = 0 (y = +-1), and
// y + p for the y below 19 (y = 0 and 1).
func smallOrderEncodings(t *testing.T) [][32]byte {
	t.Helper()
	var out [][32]byte
	for _, y := range smallOrderY {
		neg := y
		neg[31] |= 0x80 // for y = +-1 (x = 0): -0, non-canonical
		out = append(out, y, neg)
	}
	for _, low := range []byte{0, 1} { // y + p: ed+low ff .. ff 7f
		var e [32]byte
		for j := range e {
			e[j] = 0xff
		}
		e[0], e[31] = 0xed+low, 0x7f
		out = append(out, e)
		e[31] |= 0x80
		out = append(out, e)
	}
	return out
}

// forges reports whether the signature R = identity, S = 0 verifies under
// pub for one of 64 messages: what makes a small-order key unsafe.
func forges(pub []byte) bool {
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 1 // R = identity (01 00 .. 00), S = 0
	for i := range 64 {
		if ed25519.Verify(pub, []byte{byte(i)}, sig) {
			return true
		}
	}
	return false
}

func TestCheckPublicKeyRefusesSmallOrder(t *testing.T) {
	encs := smallOrderEncodings(t)
	if len(encs) != 14 {
		t.Fatalf("%d encodings, want 14", len(encs))
	}
	// The derivation is checked against crypto/ed25519 itself: each
	// canonical encoding of a point (the first 8, minus the -0 ones)
	// admits the forged signature, which only a small-order key does.
	forged := 0
	for _, e := range encs {
		if forges(e[:]) {
			forged++
		}
		if err := CheckPublicKey(e[:]); !errors.Is(err, ErrWeakPublicKey) {
			t.Errorf("key %x accepted (%v)", e, err)
		}
	}
	if forged < 8 {
		t.Fatalf("the forged signature verifies under %d of the encodings, want at least the 8 points", forged)
	}
	// Any other y >= p is non-canonical.
	var e [32]byte
	for j := range e {
		e[j] = 0xff
	}
	e[31] = 0x7f
	if err := CheckPublicKey(e[:]); !errors.Is(err, ErrWeakPublicKey) {
		t.Errorf("y = 2^255-1 accepted (%v)", err)
	}
}

func TestCheckPublicKeyAcceptsRealKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		var seed [32]byte
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		if err := CheckPublicKey(pub); err != nil {
			t.Fatalf("key %d %x refused: %v", i, pub, err)
		}
		if i < 10 && forges(pub) {
			t.Fatalf("the forged signature verifies under a real key %x", pub)
		}
	}
}
