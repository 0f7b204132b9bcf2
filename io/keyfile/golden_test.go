package keyfile

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

// TestGoldenCapKey: the capability key file format cannot drift
// silently: the golden (made once by NewCapKey and a rotation, under
// -golden-rewrite) parses and marshals back byte for byte.
func TestGoldenCapKey(t *testing.T) {
	var fresh []byte
	if golden.Rewriting() {
		k, err := NewCapKey()
		if err != nil {
			t.Fatal(err)
		}
		fresh = k.Marshal()
	}
	want := goldenBytes(t, "capkey", fresh)
	k, err := ParseCapKey(want)
	if err != nil {
		t.Fatalf("golden does not parse: %v", err)
	}
	if again := k.Marshal(); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %q\nwant %q", again, want)
	}
}
