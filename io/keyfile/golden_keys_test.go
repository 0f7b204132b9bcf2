package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/core/auth"
)

// goldenSeed is a fixed, obviously fake key for the goldens below.
func goldenSeed(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xa0 + i)
	}
	return b
}

// writePrivate writes data to a fresh Mode file and returns its path.
func writePrivate(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, Mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGoldenNodeKeyFile: the node key file (rond's identity seed, also the
// admin and bench seeds) is the lowercase hex of the key and a newline.
// The golden reads back to its key, the key encodes back to the golden
// byte for byte, and a file Create writes today has that same shape.
func TestGoldenNodeKeyFile(t *testing.T) {
	seed := goldenSeed(ed25519.SeedSize)
	want := goldenBytes(t, "node-key", []byte(hex.EncodeToString(seed)+"\n"))
	got, err := Read(writePrivate(t, "node.key", want), ed25519.SeedSize)
	if err != nil {
		t.Fatalf("golden does not read: %v", err)
	}
	if !bytes.Equal(got, seed) {
		t.Fatalf("golden reads as %x, want %x", got, seed)
	}
	if again := []byte(hex.EncodeToString(got) + "\n"); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %q\nwant %q", again, want)
	}
	// The encoder (Create) still writes this format: its file is the
	// encoding of the key it returns, laid out as the golden is.
	path := filepath.Join(t.TempDir(), "fresh.key")
	fresh, err := Create(path, ed25519.SeedSize)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if wantText := hex.EncodeToString(fresh) + "\n"; string(text) != wantText || len(text) != len(want) {
		t.Fatalf("Create wrote %d bytes %q, want the golden's layout (%d bytes)", len(text), text, len(want))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != Mode {
		t.Fatalf("Create wrote mode %v (%v), want %v", st.Mode().Perm(), err, Mode)
	}
}

// TestGoldenCapKeyLegacy: the single-key cap file of before versions (one
// key in hex) still parses, as version 1 of the key Read returns, and the
// versioned encoder upgrades it to the
// "capkey-legacy-upgraded" golden byte for byte.
func TestGoldenCapKeyLegacy(t *testing.T) {
	seed := goldenSeed(auth.KeyBytes)
	legacy := goldenBytes(t, "capkey-legacy", []byte(hex.EncodeToString(seed)+"\n"))
	k, err := ParseCapKey(legacy)
	if err != nil {
		t.Fatalf("legacy golden does not parse: %v", err)
	}
	if v := k.Versions(); len(v) != 1 || v[0] != 1 {
		t.Fatalf("legacy golden parses to versions %v, want [1]", v)
	}
	raw, err := Read(writePrivate(t, "cap.key", legacy), auth.KeyBytes)
	if err != nil || !bytes.Equal(raw, seed) {
		t.Fatalf("legacy golden reads as %x (%v), want %x", raw, err, seed)
	}
	enc := k.Marshal()
	want := goldenBytes(t, "capkey-legacy-upgraded", enc)
	up, err := ParseCapKey(want)
	if err != nil {
		t.Fatalf("upgraded golden does not parse: %v", err)
	}
	if !up.Equal(k) {
		t.Fatal("upgraded golden holds another key than the legacy file")
	}
	if again := up.Marshal(); !bytes.Equal(again, want) {
		t.Fatalf("upgraded golden re-encodes differently:\n got %q\nwant %q", again, want)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %q\nwant %q", enc, want)
	}
}
