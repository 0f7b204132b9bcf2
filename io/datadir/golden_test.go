package datadir

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/internal/golden"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// writeRecordFile writes rec with Write into a fresh directory and returns
// the bytes of its FORMAT file.
func writeRecordFile(t *testing.T, rec Record) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir, rec, func(string) {}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, RecordName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGoldenFormatRecord: the format 1 FORMAT record reads back (Read and
// Format) to its fields, Write writes the read record back byte for byte,
// and Write still writes the golden. The golden is format 1 on purpose,
// not FormatCurrent: a later build must still read it (and add a golden
// of its own format).
func TestGoldenFormatRecord(t *testing.T) {
	rec := Record{Format: 1, WrittenBy: "rond v0.1.0 (golden)",
		NodeID: "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988"}
	enc := writeRecordFile(t, rec)
	want := goldenBytes(t, "format-v1", enc)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RecordName), want, 0o600); err != nil {
		t.Fatal(err)
	}
	got, present, err := Read(dir)
	if err != nil || !present {
		t.Fatalf("golden does not read: present %v, %v", present, err)
	}
	if got != rec {
		t.Fatalf("golden reads as %+v, want %+v", got, rec)
	}
	if format, isNew, err := Format(dir); err != nil || isNew || format != 1 {
		t.Fatalf("golden dir has format %d (new %v, %v), want 1", format, isNew, err)
	}
	if again := writeRecordFile(t, got); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %q\nwant %q", again, want)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %q\nwant %q", enc, want)
	}
}
