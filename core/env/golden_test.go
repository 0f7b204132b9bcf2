package env

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/internal/golden"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// TestGoldenSeal: the checksum sealed onto raft entries, hard state,
// registry state and records on disk (CRC-32C, big-endian, appended)
// cannot drift silently: the golden unseals, and sealing its value again
// gives the golden byte for byte.
func TestGoldenSeal(t *testing.T) {
	value := []byte("raft hard state: term 7, vote 2, commit 41")
	want := goldenBytes(t, "seal", Seal(value))
	got, err := Unseal(want)
	if err != nil {
		t.Fatalf("golden does not unseal: %v", err)
	}
	if !bytes.Equal(got, value) || !bytes.Equal(Seal(got), want) {
		t.Fatalf("golden reseals differently: value %q, sealed %x", got, Seal(got))
	}
}
