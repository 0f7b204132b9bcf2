package audit

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

// TestGoldenRecord: the on-disk audit record format cannot drift
// silently. The golden decodes and re-encodes byte for byte, and the
// encoder still writes it for the same record.
func TestGoldenRecord(t *testing.T) {
	r := Record{Seq: 42, Time: 1_700_000_000_000_000_000, Kind: KindQuotaReject, Actor: "token:abc", Tenant: "alice",
		Subject: "PUT /o", Detail: "rate 10/s", Prev: [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}}
	want := goldenBytes(t, "record", r.Marshal())
	got, err := UnmarshalRecord(want)
	if err != nil {
		t.Fatalf("golden does not decode: %v", err)
	}
	if again := got.Marshal(); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
	}
	if enc := r.Marshal(); !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
	if got != r {
		t.Fatalf("golden decodes to %+v, want %+v", got, r)
	}
}
