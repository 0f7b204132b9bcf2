package proto

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3"
	"pgregory.net/rapid"
)

// tile cuts n bytes into parts of partBytes (a power-of-two multiple of
// TreeChunkBytes), the last one shorter.
func tile(data []byte, partBytes int) (parts []TreePart, pieces [][]byte) {
	for off := 0; off < len(data); off += partBytes {
		piece := data[off:min(off+partBytes, len(data))]
		cv, _ := SubtreeHash(piece, uint64(off))
		parts = append(parts, TreePart{CV: cv, Size: uint64(len(piece))})
		pieces = append(pieces, piece)
	}
	return parts, pieces
}

// rootOf is the address from a tiling: the lone part's root, or the merge.
func rootOf(t interface {
	Helper()
	Fatal(...any)
}, data []byte, parts []TreePart) Addr {
	t.Helper()
	switch len(parts) {
	case 0:
		return AddrOf(nil)
	case 1:
		_, r := SubtreeHash(data, 0)
		return r
	}
	r, err := TreeRoot(parts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// The tree root equals the library's one-shot BLAKE3 for sizes around
// every boundary and every part size, so the one pass computes the
// object address exactly.
func TestTreeRootMatchesBlake3(t *testing.T) {
	sizes := []int{0, 1, 1023, 1024, 1025, 2048, 3073, 16 << 10, 16<<10 + 1, 64<<10 - 1, 256 << 10, 256<<10 + 1, 3<<18 + 5, 1 << 20}
	for _, n := range sizes {
		data := randomBytes(uint64(n), n)
		want := Addr(blake3.Sum256(data))
		for _, pb := range []int{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10} {
			parts, _ := tile(data, pb)
			if got := rootOf(t, data, parts); got != want {
				t.Fatalf("%d bytes in parts of %d: root %s, want %s", n, pb, got.Short(), want.Short())
			}
		}
	}
}

// Parts of mixed power-of-two sizes, each aligned, tile the same tree.
func TestTreeRootMixedParts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 300<<10).Draw(t, "n")
		data := randomBytes(uint64(n), n)
		var parts []TreePart
		off := 0
		for off < n {
			k := rapid.IntRange(0, 7).Draw(t, "log2")
			size := TreeChunkBytes << k
			for off%size != 0 {
				size /= 2
			}
			if off+size >= n { // the rest is the last part: any size that is a subtree
				size = n - off
				if !IsSubtree(uint64(off), uint64(size)) {
					for !IsFullSubtree(uint64(off), uint64(size)) || off+size >= n {
						size = TreeChunkBytes << (rapid.IntRange(0, 7).Draw(t, "shrink"))
						for off%size != 0 || off+size >= n {
							size /= 2
						}
					}
				}
			}
			cv, _ := SubtreeHash(data[off:off+size], uint64(off))
			parts = append(parts, TreePart{CV: cv, Size: uint64(size)})
			off += size
		}
		if got, want := rootOf(t, data, parts), Addr(blake3.Sum256(data)); got != want {
			t.Fatalf("%d bytes in %d parts: %s, want %s", n, len(parts), got.Short(), want.Short())
		}
	})
}

func TestSubtreeRules(t *testing.T) {
	for _, c := range []struct {
		off, n    uint64
		sub, full bool
	}{
		{0, 1, true, false}, {0, 1024, true, true}, {1024, 1024, true, true}, {1024, 1025, false, false},
		{2048, 1025, true, false}, {2048, 2048, true, true}, {3072, 2048, false, false}, {0, 3072, true, false},
		{512, 1, false, false}, {4096, 0, false, false},
	} {
		if IsSubtree(c.off, c.n) != c.sub || IsFullSubtree(c.off, c.n) != c.full {
			t.Errorf("offset %d n %d: subtree %v full %v, want %v %v", c.off, c.n, IsSubtree(c.off, c.n), IsFullSubtree(c.off, c.n), c.sub, c.full)
		}
	}
	if _, err := TreeRoot([]TreePart{{Size: 3072}, {Size: 1024}}); !errors.Is(err, ErrBadTree) {
		t.Fatalf("a 3 KiB first part: %v", err)
	}
}

// Every flipped byte of the data is caught by every range that covers it
// and by no other; every flipped byte of the outboard by every range.
func TestVerifyRangeDetectsEveryFlip(t *testing.T) {
	const pb = 4 << 10
	for _, n := range []int{0, 1, 1024, pb, pb + 1, 3*pb - 1, 3 * pb, 5*pb + 700} {
		data := randomBytes(uint64(n)+1, n)
		parts, pieces := tile(data, pb)
		root := Addr(blake3.Sum256(data))
		for first := 0; first < len(parts); first++ {
			for last := first; last < len(parts); last++ {
				if err := VerifyRange(root, parts, first, pieces[first:last+1]); err != nil {
					t.Fatalf("n %d parts %d..%d: intact range fails: %v", n, first, last, err)
				}
			}
		}
		if n == 0 {
			if err := VerifyRange(root, parts, 0, nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r := rand.New(rand.NewPCG(uint64(n), 3))
		for range 8 {
			pos := r.IntN(n)
			bad := bytes.Clone(data)
			bad[pos] ^= 1 << r.IntN(8)
			_, badPieces := tile(bad, pb)
			hit := pos / pb
			for first := 0; first < len(parts); first++ {
				for last := first; last < len(parts); last++ {
					err := VerifyRange(root, parts, first, badPieces[first:last+1])
					covers := first <= hit && hit <= last
					if covers != (err != nil) || (err != nil && !errors.Is(err, ErrTreeMismatch)) {
						t.Fatalf("n %d flip at %d, parts %d..%d: %v", n, pos, first, last, err)
					}
				}
			}
			if len(parts) > 1 {
				badParts := append([]TreePart(nil), parts...)
				i := r.IntN(len(parts))
				badParts[i].CV[r.IntN(IDBytes)] ^= 1 << r.IntN(8)
				if err := VerifyRange(root, badParts, 0, pieces[:1]); !errors.Is(err, ErrTreeMismatch) {
					t.Fatalf("n %d: flipped outboard entry %d not detected: %v", n, i, err)
				}
			}
		}
	}
}

// A range of a one-part object is checked against the root itself.
func TestVerifyRangeOnePartAgainstRoot(t *testing.T) {
	data := randomBytes(9, 3000)
	parts, pieces := tile(data, 4<<10)
	if err := VerifyRange(AddrOf(data), parts, 0, pieces); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRange(AddrOf([]byte("other")), parts, 0, pieces); !errors.Is(err, ErrTreeMismatch) {
		t.Fatalf("a lone part under a wrong root: %v", err)
	}
}

// FuzzVerifyRange: the verifier never panics, and accepts exactly the
// bytes that were tiled.
func FuzzVerifyRange(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint8(0), uint8(0), uint16(0))
	f.Add(bytes.Repeat([]byte{1}, 5000), uint16(4), uint8(1), uint8(1), uint16(4099))
	f.Add(bytes.Repeat([]byte{7}, 9000), uint16(1), uint8(2), uint8(5), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, seed uint16, first, count uint8, flip uint16) {
		pb := TreeChunkBytes << (seed % 4)
		parts, pieces := tile(data, pb)
		root := Addr(blake3.Sum256(data))
		lo := 0
		if len(parts) > 0 {
			lo = int(first) % len(parts)
		}
		hi := min(len(parts), lo+int(count)%4)
		if err := VerifyRange(root, parts, lo, pieces[lo:hi]); err != nil {
			t.Fatalf("intact: %v", err)
		}
		if len(data) == 0 || hi == lo {
			return
		}
		pos := int(flip) % len(data)
		bad := bytes.Clone(data)
		bad[pos] ^= 0x80
		_, badPieces := tile(bad, pb)
		err := VerifyRange(root, parts, lo, badPieces[lo:hi])
		if covers := pos/pb >= lo && pos/pb < hi; covers != (err != nil) {
			t.Fatalf("flip at %d, parts %d..%d of %d: %v", pos, lo, hi, len(parts), err)
		}
	})
}

// A TreeBuilder knows the address of every prefix that ends at a part.
func TestTreeBuilderPrefixes(t *testing.T) {
	data := randomBytes(11, 9*4096+17)
	parts, _ := tile(data, 4096)
	var b TreeBuilder
	for i, p := range parts {
		if err := b.Push(p); err != nil {
			t.Fatal(err)
		}
		end := min(len(data), (i+1)*4096)
		if i == 0 {
			continue // a lone part's root needs its bytes
		}
		if got, err := b.Root(); err != nil || got != Addr(blake3.Sum256(data[:end])) {
			t.Fatalf("prefix of %d bytes: %s, %v", end, got.Short(), err)
		}
	}
	if err := b.Push(TreePart{Size: 4096}); !errors.Is(err, ErrBadTree) {
		t.Fatalf("a part after a short last part: %v", err)
	}
}

// TestFullSubtreeCV: FullSubtreeCV is SubtreeHash's CV for complete
// subtrees of 1 to 1024 chunks at several offsets, and the tiling of an
// object by such parts still merges to the library's BLAKE3 of it.
func TestFullSubtreeCV(t *testing.T) {
	for _, chunks := range []uint64{1, 2, 4, 8, 16, 32, 64, 256, 1024} {
		n := chunks * TreeChunkBytes
		data := randomBytes(chunks, int(n))
		for _, k := range []uint64{0, 1, 2, 7} {
			offset := k * n
			want, _ := SubtreeHash(data, offset)
			if got := FullSubtreeCV(data, offset); got != want {
				t.Fatalf("%d chunks at offset %d: CV %s, want %s", chunks, offset, got.Short(), want.Short())
			}
		}
	}
	obj := randomBytes(99, 5*256<<10)
	var parts []TreePart
	for off := 0; off < len(obj); off += 256 << 10 {
		parts = append(parts, TreePart{CV: FullSubtreeCV(obj[off:off+256<<10], uint64(off)), Size: 256 << 10})
	}
	if r, err := TreeRoot(parts); err != nil || r != Addr(blake3.Sum256(obj)) {
		t.Fatalf("merged full-subtree CVs: %v, %v", r.Short(), err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("FullSubtreeCV of a part that is not a full subtree did not panic")
		}
	}()
	FullSubtreeCV(make([]byte, 3*TreeChunkBytes), 0)
}

// BenchmarkChunkCV: the CV of a 256 KiB chunk at a nonzero offset, as
// chunkMatches computes it (FullSubtreeCV) and as SubtreeHash did.
func BenchmarkChunkCV(b *testing.B) {
	data := randomBytes(1, 256<<10)
	b.Run("FullSubtreeCV", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			FullSubtreeCV(data, 256<<10)
		}
	})
	b.Run("SubtreeHash", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			SubtreeHash(data, 256<<10)
		}
	})
}

// TestGroupCVs: the groups' CVs merge to the CV and root SubtreeHash
// gives for the whole part, and each is the group's own GroupCV, for
// full chunks, short last chunks and chunks of one group.
func TestGroupCVs(t *testing.T) {
	const group = 16 << 10
	cases := []struct{ n, offset uint64 }{
		{256 << 10, 0}, {256 << 10, 256 << 10}, {256 << 10, 3 * 256 << 10},
		{1 << 20, 1 << 20}, {32 << 10, 64 << 10}, {16 << 10, 0}, {5000, 0},
		{100 << 10, 256 << 10}, {16<<10 + 1, 0}, {200<<10 + 3, 512 << 10}, {48 << 10, 0},
	}
	for _, c := range cases {
		data := randomBytes(c.n+c.offset, int(c.n))
		wantCV, wantRoot := SubtreeHash(data, c.offset)
		cvs, cv, root := GroupCVs(data, c.offset, group, nil)
		if cv != wantCV || root != wantRoot {
			t.Fatalf("%d bytes at %d: merged groups give %s/%s, want %s/%s", c.n, c.offset, cv.Short(), root.Short(), wantCV.Short(), wantRoot.Short())
		}
		if want := (c.n + group - 1) / group; uint64(len(cvs)) != want {
			t.Fatalf("%d bytes: %d group CVs, want %d", c.n, len(cvs), want)
		}
		for i, g := range cvs {
			lo, hi := uint64(i)*group, min(uint64(i+1)*group, c.n)
			if got := GroupCV(data[lo:hi], c.offset+lo); got != g {
				t.Fatalf("%d bytes at %d: group %d CV %s, GroupCVs said %s", c.n, c.offset, i, got.Short(), g.Short())
			}
		}
	}
}

// The CV of a group, a chunk and a chunk's groups are computed without
// allocating (guts.CompressEigentree allocated once per 16 KiB: 66 times
// per 1 MiB range check) when the bytes sit in a buffer like the disk's
// (GroupCVs' result slice is the caller's).
func TestTreeHashesDoNotAllocate(t *testing.T) {
	data := randomBytes(4, 256<<10)
	cvs := make([]CV, 0, 16)
	for name, f := range map[string]func(){
		"GroupCV":       func() { GroupCV(data[16<<10:32<<10], 256<<10+16<<10) },
		"FullSubtreeCV": func() { FullSubtreeCV(data, 256<<10) },
		"SubtreeHash":   func() { SubtreeHash(data, 256<<10) },
		"GroupCVs":      func() { GroupCVs(data, 256<<10, 16<<10, cvs[:0]) },
	} {
		if n := testing.AllocsPerRun(20, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

// BenchmarkGroupCVs: a 256 KiB chunk hashed as its 16 KiB groups, as a
// whole check of a range's interior chunk computes it, and one 16 KiB
// group as a range's edge chunks check it (allocations per call).
func BenchmarkGroupCVs(b *testing.B) {
	data := randomBytes(1, 256<<10)
	cvs := make([]CV, 0, 16)
	b.Run("chunk", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			GroupCVs(data, 256<<10, 16<<10, cvs[:0])
		}
	})
	b.Run("group", func(b *testing.B) {
		b.SetBytes(16 << 10)
		b.ReportAllocs()
		for b.Loop() {
			GroupCV(data[16<<10:32<<10], 256<<10+16<<10)
		}
	})
}
