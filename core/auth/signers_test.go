package auth

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// TestCheckedSigners: a key whose public half is its seed's is vouched
// for (and remembered, up to Max); a key whose halves disagree, a short
// key, or any key beyond Max is not.
func TestCheckedSigners(t *testing.T) {
	good := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	mixed := append(ed25519.PrivateKey{}, good[:ed25519.SeedSize]...)
	mixed = append(mixed, other[ed25519.SeedSize:]...)

	s := CheckedSigners{Max: 1}
	for range 2 { // checked once, then remembered
		if !s.Vouches(good) || s.Len() != 1 {
			t.Fatalf("a sound key: not vouched for, or remembered %d times", s.Len())
		}
	}
	if s.Vouches(mixed) {
		t.Fatal("a key whose public half is another seed's was vouched for")
	}
	if s.Vouches(good[:10]) {
		t.Fatal("a short key was vouched for")
	}
	if s.Vouches(other) || s.Len() != 1 {
		t.Fatal("a sound key beyond Max was vouched for")
	}
	var none CheckedSigners
	if none.Vouches(good) {
		t.Fatal("the zero value vouched for a key")
	}
}
