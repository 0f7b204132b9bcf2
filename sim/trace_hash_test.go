package sim

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"lukechampine.com/blake3"
)

// The trace hash is defined as BLAKE3-256 over every event's record
// (time u64 | node u32 | kind u8 | content hash u64, little-endian), in
// order. Rebuilding that stream from the digests and hashing it in one call
// checks that the tracer's batching and chunked feeding of the hasher
// (several flushes, records straddling chunk boundaries) change nothing.
func TestTraceHashIsBLAKE3OfTheEventRecords(t *testing.T) {
	hash, digests, events := runChatty(t, 3, nil)
	if uint64(len(digests)) != events || events*traceRecordBytes < 4*traceFlushBytes {
		t.Fatalf("%d events, %d digests: too few to cross several flushes", events, len(digests))
	}
	stream := make([]byte, 0, len(digests)*traceRecordBytes)
	for _, d := range digests {
		stream = binary.LittleEndian.AppendUint64(stream, uint64(d.At))
		stream = binary.LittleEndian.AppendUint32(stream, uint32(d.Node))
		stream = append(stream, byte(d.Kind))
		stream = binary.LittleEndian.AppendUint64(stream, d.Hash)
	}
	want := blake3.Sum256(stream)
	if hash != hex.EncodeToString(want[:]) {
		t.Fatalf("trace hash %s, BLAKE3 of the records %x", hash, want)
	}
}
