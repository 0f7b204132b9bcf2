package storage

import (
	"testing"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/proto"
)

// BenchmarkChunkedAddress compares, per object size, the raw
// blake3.Sum256 (which may use goroutines) with the object address alone
// (proto.AddrOf, goroutine-free) and with Split at the default chunk size
// (the address plus every chunk address: the extra work of chunking).
func BenchmarkChunkedAddress(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}} {
		data := randomData(1, size.n)
		b.Run(size.name+"/blake3.Sum256", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_ = blake3.Sum256(data)
			}
		})
		b.Run(size.name+"/address", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_ = proto.AddrOf(data)
			}
		})
		b.Run(size.name+"/split", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_, _ = Split(data, ChunkBytesDefault)
			}
		})
	}
}

// BenchmarkRangeVerify1MiB verifies a 1 MiB range at an unaligned offset
// of a 64 MiB object of 256 KiB chunks, as a get does once the chunks are
// read: format 1 hashed each touched chunk standalone against its own
// address (what the build before format 2 did, reproduced here so that
// both run in one process); format 2 hashes each touched chunk once as a
// subtree and compares its chaining value (chunkMatches). The manifest's
// check against the address is measured apart (manifest64MiB): a local
// manifest is checked when written or recovered, a fetched one once per
// get. Both touch 5 chunks: the range verifies against the address
// itself at no extra hashing.
func BenchmarkRangeVerify1MiB(b *testing.B) {
	data := randomData(2, 64<<20)
	addr, man := Split(data, ChunkBytesDefault)
	offsets := man.offsets()
	first, last, _ := man.span(10<<20+12345, 11<<20+12345)
	oldKeys := make([]proto.Addr, len(man.Chunks))
	for i := range man.Chunks {
		oldKeys[i] = proto.AddrOf(man.chunkData(data, i))
	}
	b.Run("format1_own_hash", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for b.Loop() {
			for i := first; i <= last; i++ {
				if proto.AddrOf(man.chunkData(data, i)) != oldKeys[i] {
					b.Fatal("chunk does not verify")
				}
			}
		}
	})
	b.Run("format2_chaining_value", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for b.Loop() {
			for i := first; i <= last; i++ {
				if !chunkMatches(man.Chunks[i].Addr, offsets[i], man.chunkData(data, i)) {
					b.Fatal("chunk does not verify")
				}
			}
		}
	})
	// The touched groups of chunks whose group CVs are cached (groups.go):
	// 65 groups of 16 KiB for a 1 MiB range at an unaligned offset.
	lo, hi := uint64(10<<20+12345), uint64(11<<20+12345)
	cached := make([][]proto.CV, len(man.Chunks))
	for i := first; i <= last; i++ {
		cvs, ok := chunkGroupsMatch(man.Chunks[i].Addr, offsets[i], man.chunkData(data, i))
		if !ok {
			b.Fatal("chunk does not verify")
		}
		cached[i] = cvs
	}
	b.Run("groups_cached", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for b.Loop() {
			for i := first; i <= last; i++ {
				size := uint64(man.Chunks[i].Size)
				a, z := max(lo, offsets[i])-offsets[i], min(hi, offsets[i]+size)-offsets[i]
				g0, g1 := a/GroupBytes, (z+GroupBytes-1)/GroupBytes
				part := man.chunkData(data, i)[g0*GroupBytes : min(g1*GroupBytes, size)]
				if groupsCheck(man.Chunks[i].Addr, offsets[i], size, g0*GroupBytes, cached[i][g0:g1])(part) != nil {
					b.Fatal("groups do not verify")
				}
			}
		}
	})
	b.Run("groups_fill", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for b.Loop() {
			for i := first; i <= last; i++ {
				if _, ok := chunkGroupsMatch(man.Chunks[i].Addr, offsets[i], man.chunkData(data, i)); !ok {
					b.Fatal("chunk does not verify")
				}
			}
		}
	})
	b.Run("manifest64MiB", func(b *testing.B) {
		for b.Loop() {
			if err := man.checkFor(addr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWholeVerify64MiB: a whole get of a 64 MiB object. Format 1
// verified every chunk against its own address and then hashed the
// whole object again against the manifest's claim (two passes); format 2
// verifies every chunk's chaining value, the manifest merging to the
// address (one pass).
func BenchmarkWholeVerify64MiB(b *testing.B) {
	data := randomData(3, 64<<20)
	addr, man := Split(data, ChunkBytesDefault)
	offsets := man.offsets()
	b.Run("format1_chunks_then_whole", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for i := range man.Chunks {
				_ = proto.AddrOf(man.chunkData(data, i))
			}
			if proto.AddrOf(data) != addr {
				b.Fatal("whole does not verify")
			}
		}
	})
	b.Run("format2_one_pass", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for i := range man.Chunks {
				if !chunkMatches(man.Chunks[i].Addr, offsets[i], man.chunkData(data, i)) {
					b.Fatal("chunk does not verify")
				}
			}
		}
	})
}

// TestRangeStateIsTheRangesNotTheObjects: a get computes the offsets of
// the chunks its range touches only (spanOffsets), so a 1 MiB range of a
// 1 GiB object (4,096 chunks) allocates for its 5 chunks, not 32 KiB of
// offsets for every chunk of the object as the get did before (its
// getOp kept Manifest.offsets). checkGets holds every get's offsets to its
// parts.
func TestRangeStateIsTheRangesNotTheObjects(t *testing.T) {
	man := Manifest{Size: 1 << 30}
	for i := range 4096 {
		man.Chunks = append(man.Chunks, ChunkRef{Addr: proto.Addr{byte(i), byte(i >> 8)}, Size: ChunkBytesDefault})
	}
	lo := uint64(700<<20 + 12345)
	first, last, firstOff := man.span(lo, lo+1<<20)
	if last-first+1 != 5 {
		t.Fatalf("a 1 MiB range at an unaligned offset spans %d chunks, want 5", last-first+1)
	}
	if offs := man.spanOffsets(first, last, firstOff, 0); cap(offs) != 5 {
		t.Fatalf("the offsets of a 5-chunk range of a 4,096-chunk object hold %d entries, want 5", cap(offs))
	}
}
