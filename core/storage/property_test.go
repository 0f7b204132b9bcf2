package storage

import (
	"bytes"
	"testing"
	"time"

	"lukechampine.com/blake3"
	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/proto"
)

// TestPropertyChunking: for any data and chunk size, the address is the
// reference BLAKE3 of the whole bytes (independent of chunking), every
// chunk address is the reference BLAKE3 of its bytes, the chunks reassemble
// exactly, the manifest round-trips, and span covers any range.
func TestPropertyChunking(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 0, 20000).Draw(rt, "data")
		chunk := rapid.IntRange(1, 5000).Draw(rt, "chunk")
		addr, man := Split(data, chunk)
		if addr != proto.Addr(blake3.Sum256(data)) {
			rt.Fatalf("address is not BLAKE3 of the whole bytes")
		}
		if other, _ := Split(data, rapid.IntRange(1, ChunkBytesMax).Draw(rt, "other")); other != addr {
			rt.Fatalf("address depends on the chunk size")
		}
		var joined []byte
		for i, c := range man.Chunks {
			part := man.chunkData(data, i)
			if c.Addr != proto.Addr(blake3.Sum256(part)) || int(c.Size) != len(part) || len(part) > chunk || len(part) == 0 {
				rt.Fatalf("chunk %d wrong", i)
			}
			joined = append(joined, part...)
		}
		if !bytes.Equal(joined, data) || man.Size != uint64(len(data)) {
			rt.Fatalf("reassembly differs")
		}
		dec, err := DecodeManifest(AppendManifest(nil, &man))
		if err != nil || dec.Size != man.Size || len(dec.Chunks) != len(man.Chunks) || man.checkFor(addr) != nil {
			rt.Fatalf("manifest round trip: %v", err)
		}
		for i := range dec.Chunks {
			if dec.Chunks[i] != man.Chunks[i] {
				rt.Fatalf("manifest chunk %d differs", i)
			}
		}
		if len(data) == 0 {
			return
		}
		off := rapid.IntRange(0, len(data)-1).Draw(rt, "off")
		end := rapid.IntRange(off+1, len(data)).Draw(rt, "end")
		first, last, firstOff := man.span(uint64(off), uint64(end))
		lastEnd := man.chunkOffset(last) + uint64(man.Chunks[last].Size)
		if firstOff != man.chunkOffset(first) || firstOff > uint64(off) || uint64(off) >= firstOff+uint64(man.Chunks[first].Size) || lastEnd < uint64(end) || man.chunkOffset(last) >= uint64(end) {
			rt.Fatalf("span [%d,%d) -> chunks %d..%d", off, end, first, last)
		}
	})
}

// TestPropertyRangeGet: through the whole machine (a 3-node cluster, reads
// from a node that is not a replica when there is one), a range get returns
// exactly the slice of the data, including the edges.
func TestPropertyRangeGet(t *testing.T) {
	c := newCluster(t, 4, 30, smallChunks)
	data := randomData(30, 7*ChunkBytesMin+77)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(500 * time.Millisecond)
	size := len(data)
	rapid.Check(t, func(rt *rapid.T) {
		off := rapid.OneOf(rapid.Just(0), rapid.Just(size), rapid.Just(ChunkBytesMin), rapid.IntRange(0, size)).Draw(rt, "off")
		length := rapid.OneOf(rapid.Just(0), rapid.Just(min(1, size-off)), rapid.Just(size-off), rapid.IntRange(0, size-off)).Draw(rt, "length")
		reader := rapid.IntRange(0, len(c.nodes)-1).Draw(rt, "reader")
		got := c.get(reader, res.Addr, uint64(off), uint64(length))
		end := size
		if length > 0 {
			end = off + length
		}
		if got.Err != nil || !bytes.Equal(got.Data, data[off:end]) || got.Size != uint64(size) {
			rt.Fatalf("range [%d,+%d) from node %d: err %v, %d bytes", off, length, reader, got.Err, len(got.Data))
		}
	})
}
