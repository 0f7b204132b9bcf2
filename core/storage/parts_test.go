package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// getParts is get with Get.Parts set.
func (c *cluster) getParts(i int, res Get) GetResult {
	c.t.Helper()
	res.Parts = true
	r, ok := c.request(i, res, time.Minute).(GetResult)
	if !ok {
		c.t.Fatalf("get on node %d: no GetResult", i)
	}
	return r
}

// TestGetPartsRange: a Get.Parts read over several chunks replies the
// chunks' slices (Data nil) whose concatenation is exactly the range, at
// unaligned edges too, with or without buffers lent (Get.Into); a read
// within one chunk replies Data as before.
func TestGetPartsRange(t *testing.T) {
	c := newCluster(t, 1, 60, smallChunks)
	data := randomData(60, 5*ChunkBytesMin+123)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, r := range []struct{ off, length int }{
		{0, 2 * ChunkBytesMin},
		{ChunkBytesMin - 1, 2},
		{17, 3*ChunkBytesMin + 5},
		{ChunkBytesMin + 3, len(data) - ChunkBytesMin - 3},
		{5, 10}, // within one chunk: Data
	} {
		// Lent buffers full of other bytes (Get.Into) change nothing.
		into := [][]byte{bytes.Repeat([]byte{1}, ChunkBytesMin), bytes.Repeat([]byte{2}, ChunkBytesMin), make([]byte, 10)}
		got := c.getParts(0, Get{Addr: res.Addr, Offset: uint64(r.off), Length: uint64(r.length), Into: into})
		want := data[r.off : r.off+r.length]
		spans := (r.off+r.length-1)/ChunkBytesMin - r.off/ChunkBytesMin + 1
		joined := bytes.Join(got.Parts, nil)
		if spans == 1 {
			joined = got.Data
		}
		if got.Err != nil || !bytes.Equal(joined, want) || got.Size != uint64(len(data)) {
			t.Fatalf("range [%d,+%d): err %v, %d parts, equal %v", r.off, r.length, got.Err, len(got.Parts), bytes.Equal(joined, want))
		}
		if spans > 1 && (got.Data != nil || len(got.Parts) != spans) {
			t.Fatalf("range [%d,+%d) over %d chunks: %d parts, Data of %d bytes", r.off, r.length, spans, len(got.Parts), len(got.Data))
		}
	}
}

// TestGetPartsNeverServeCorrupt: a Get.Parts range over a chunk that is
// corrupt on its only copy fails (no other copy to fetch) with
// ErrCorruption (retryable, not ErrNotFound: the node holds the object),
// no part and the corruption counted, whether the disk or the loop checks
// the chunk.
func TestGetPartsNeverServeCorrupt(t *testing.T) {
	for _, diskChecks := range []bool{true, false} {
		t.Run(fmt.Sprintf("diskChecks=%v", diskChecks), func(t *testing.T) {
			c := newCluster(t, 1, 61, smallChunks)
			c.nodes[0].disk.IgnoreChecks = !diskChecks
			data := randomData(61, 4*ChunkBytesMin)
			res := c.put(0, data, false)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			c.rotChunk(res.Addr, data, 2, 7, 0x10)
			got := c.getParts(0, Get{Addr: res.Addr, Offset: ChunkBytesMin + 9, Length: 2 * ChunkBytesMin})
			if !errors.Is(got.Err, ErrCorruption) || errors.Is(got.Err, ErrNotFound) || got.Parts != nil || got.Data != nil {
				t.Fatalf("range over a corrupt chunk: err %v, %d parts, %d bytes", got.Err, len(got.Parts), len(got.Data))
			}
			if c.metric(0, MetricCorruption, "") < 1 {
				t.Fatal("corruption not counted")
			}
		})
	}
}

// TestGetChunks: GetChunks reads a run of consecutive chunks in one call,
// every read submitted in its first step, and replies their verified
// bytes as Parts (Data for one chunk), into lent buffers or not; a run
// over a chunk that is corrupt on its only copy fails with no part; an
// empty run, one over GetChunksMax or with a chunk of size 0 is a bad
// request.
func TestGetChunks(t *testing.T) {
	c := newClusterDisk(t, 1, 63, smallChunks, time.Millisecond)
	data := randomData(63, 7*ChunkBytesMin+99)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	_, man := Split(data, ChunkBytesMin)
	offsets := man.offsets()
	for _, r := range []struct{ first, n int }{{0, 1}, {1, GetChunksMax}, {3, 3}, {4, GetChunksMax}, {7, 1}} {
		into := [][]byte{bytes.Repeat([]byte{1}, ChunkBytesMin), nil, bytes.Repeat([]byte{2}, ChunkBytesMin)}
		id := c.c.Request(0, ServiceName, GetChunks{Addr: res.Addr, Chunks: man.Chunks[r.first : r.first+r.n], Offset: offsets[r.first], Into: into})
		ops := c.c.PendingDisk(0)
		if len(ops) != r.n {
			t.Fatalf("chunks %d+%d: %d reads submitted in the first step", r.first, r.n, len(ops))
		}
		for k, op := range ops { // Into[k] is lent to chunk k's read, none to the others
			lent := k < len(into) && into[k] != nil
			if lent && (len(op.Into) == 0 || &op.Into[0] != &into[k][0]) || !lent && op.Into != nil {
				t.Fatalf("chunks %d+%d: read %d was lent %d bytes, want Into[%d] (lent %v)", r.first, r.n, k, len(op.Into), k, lent)
			}
		}
		reply, _ := c.c.Await(0, id, time.Minute)
		got, ok := reply.(GetResult)
		end := offsets[r.first+r.n-1] + uint64(man.Chunks[r.first+r.n-1].Size)
		joined := bytes.Join(got.Parts, nil)
		if r.n == 1 {
			joined = got.Data
		}
		if !ok || got.Err != nil || !bytes.Equal(joined, data[offsets[r.first]:end]) || got.Size != end-offsets[r.first] {
			t.Fatalf("chunks %d+%d: ok %v, err %v, %d parts, size %d, equal %v (%d vs %d bytes)", r.first, r.n, ok, got.Err, len(got.Parts), got.Size, bytes.Equal(joined, data[offsets[r.first]:end]), len(joined), end-offsets[r.first])
		}
		if r.n > 1 && len(got.Parts) != r.n {
			t.Fatalf("chunks %d+%d: %d parts", r.first, r.n, len(got.Parts))
		}
	}
	// Runs that cannot be consecutive chunks at their offsets are bad
	// requests, refused before any read: none is taken for corruption.
	for _, bad := range []struct {
		name   string
		body   any
		chunks int
	}{
		{"offset overflow", GetChunks{Addr: res.Addr, Chunks: man.Chunks[:2], Offset: math.MaxUint64 - ChunkBytesMin + 1}, 2},
		{"misaligned run", GetChunks{Addr: res.Addr, Chunks: man.Chunks[1:3], Offset: offsets[1] + proto.TreeChunkBytes}, 2},
		{"short chunk inside the run", GetChunks{Addr: res.Addr, Chunks: []ChunkRef{man.Chunks[7], man.Chunks[0]}, Offset: offsets[6]}, 2},
		{"misaligned chunk", GetChunk{Addr: res.Addr, Chunk: man.Chunks[1], Offset: offsets[1] + proto.TreeChunkBytes}, 1},
	} {
		got, _ := c.request(0, bad.body, time.Minute).(GetResult)
		if !errors.Is(got.Err, ErrBadRequest) || c.metric(0, MetricCorruption, "") != 0 {
			t.Fatalf("%s: err %v, corruption %v, want a bad request and none", bad.name, got.Err, c.metric(0, MetricCorruption, ""))
		}
	}
	c.rotChunk(res.Addr, data, 4, 11, 0x20)
	got, _ := c.request(0, GetChunks{Addr: res.Addr, Chunks: man.Chunks[2:6], Offset: offsets[2]}, time.Minute).(GetResult)
	if got.Err == nil || got.Parts != nil || got.Data != nil || c.metric(0, MetricCorruption, "") < 1 {
		t.Fatalf("run over a corrupt chunk: err %v, %d parts, %d bytes", got.Err, len(got.Parts), len(got.Data))
	}
	zero := []ChunkRef{man.Chunks[0], {Addr: man.Chunks[1].Addr}}
	for _, chunks := range [][]ChunkRef{nil, zero, man.Chunks[:GetChunksMax+1]} {
		got, _ := c.request(0, GetChunks{Addr: res.Addr, Chunks: chunks}, time.Minute).(GetResult)
		if !errors.Is(got.Err, ErrBadRequest) {
			t.Fatalf("%d chunks: err %v, want a bad request", len(chunks), got.Err)
		}
	}
}
