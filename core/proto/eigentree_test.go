package proto

import (
	"testing"

	"lukechampine.com/blake3/guts"
)

// eigentreeNode is guts.CompressEigentree for every batch size it is
// called with (1 to hashBatchChunks chunks, a power of two), whether the
// buffer's capacity holds a whole SIMD batch (CompressBuffer directly,
// lanes beyond len reading other bytes) or not (the padded fallback).
func TestEigentreeNodeIsCompressEigentree(t *testing.T) {
	backing := randomBytes(3, 3*hashBatchChunks*guts.ChunkSize)
	for chunks := 1; chunks <= hashBatchChunks; chunks *= 2 {
		n := chunks * guts.ChunkSize
		for _, start := range []int{0, guts.ChunkSize, len(backing) - hashBatchChunks*guts.ChunkSize, len(backing) - n} {
			for _, counter := range []uint64{0, uint64(chunks), 1 << 20} {
				wide := backing[start : start+n]            // cap to the end of backing
				tight := backing[start : start+n : start+n] // cap == len
				want := guts.CompressEigentree(append([]byte(nil), wide...), &guts.IV, counter, 0)
				for name, buf := range map[string][]byte{"wide": wide, "tight": tight} {
					if got := eigentreeNode(buf, counter); got != want {
						t.Fatalf("%d chunks at %d, counter %d, %s: node differs", chunks, start, counter, name)
					}
				}
			}
		}
	}
}
