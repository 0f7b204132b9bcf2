package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lukechampine.com/blake3"
)

// TestKeyIDIsBlake3OfThePublicKey: ARCHITECTURE 5.2 defines NodeID =
// BLAKE3(public key); `ronctl key id` must print exactly that for the key
// file format rond's --node-key reads (hex seed and a newline), computed
// here straight from the blake3 package rather than through core/proto.
func TestKeyIDIsBlake3OfThePublicKey(t *testing.T) {
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	path := filepath.Join(dir, "node.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"key", "id", path}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	want := blake3.Sum256(pub)
	if got := strings.TrimSpace(out.String()); got != hex.EncodeToString(want[:]) {
		t.Fatalf("key id = %s, want %x", got, want)
	}
}

// TestKeyIDOfGeneratedKey: a key made by `key gen` is accepted by `key id`.
func TestKeyIDOfGeneratedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var out, errOut bytes.Buffer
	if code := run([]string{"key", "gen", path}, nil, &out, &errOut); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"key", "id", path}, nil, &out, &errOut); code != 0 {
		t.Fatalf("id: exit %d: %s", code, errOut.String())
	}
	if id := strings.TrimSpace(out.String()); len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("key id printed %q, want 64 lowercase hex digits", id)
	}
}

// TestKeyIDRejectsBadFiles: a missing file or one that is not a 32-byte hex
// seed fails with exit 1 and names the problem.
func TestKeyIDRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{short, filepath.Join(dir, "missing")} {
		var out, errOut bytes.Buffer
		if code := run([]string{"key", "id", path}, nil, &out, &errOut); code != 1 || out.Len() != 0 {
			t.Fatalf("%s: exit %d, stdout %q", path, code, out.String())
		}
		if !strings.Contains(errOut.String(), filepath.Base(path)) {
			t.Fatalf("%s: error %q does not name the file", path, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"key", "id"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("key id without FILE: exit %d, want 2 (usage)", code)
	}
}
