package proto

import (
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// hashBatchChunks is the most chunks hashed per SIMD call: one eigentree
// of guts.MaxSIMD chunks is compressed in one pass on the caller's
// goroutine.
const hashBatchChunks = guts.MaxSIMD

// sum256 is BLAKE3-256 of data, computed without starting goroutines.
//
// Why not blake3.Sum256: for inputs over one chunk (1 KiB) it hashes
// through Hasher.Write, which starts one goroutine per eigentree (and
// guts.CompressEigentree one per 16 chunks beyond that), and core/ may not
// start goroutines (ARCHITECTURE 3). Writing the Hasher one chunk at a time avoids
// them but forgoes SIMD and measured 9x slower. So this walks the same tree
// itself: full chunks in eigentrees of at most hashBatchChunks, each
// compressed with SIMD by guts.CompressEigentree (which is sequential at
// that size), merged on a stack of chaining values exactly as the library's
// Hasher does, and the last chunk finalised as the root. The official test
// vectors and a differential test against blake3.Sum256 check it.
func sum256(data []byte) (out [32]byte) {
	var h treeHasher
	root := h.rootNode(h.pushAllButLast(data, 0))
	words := guts.WordsToBytes(guts.CompressNode(root))
	copy(out[:], words[:])
	return out
}

// treeHasher is the stack of complete subtrees: stack[i] holds a subtree of
// 2^i chunks exactly when bit i of counter (chunks hashed so far) is set.
type treeHasher struct {
	counter uint64
	stack   [64][8]uint32
}

// pushAllButLast pushes every chunk of data but the last (which must
// stay for the root flag, or for the caller's own last compression), in
// eigentrees of at most hashBatchChunks, and returns the last chunk.
// start is the chunk counter of data's first chunk; h.counter counts
// chunks relative to it, since inside an aligned subtree the merge
// pattern is the same as with the absolute counter.
func (h *treeHasher) pushAllButLast(data []byte, start uint64) (last []byte) {
	full := 0
	if len(data) > 0 {
		full = (len(data) - 1) / guts.ChunkSize
	}
	for done := 0; done < full; {
		height := h.nextTreeHeight(uint64(full - done))
		chunks := 1 << height
		buf := data[done*guts.ChunkSize : (done+chunks)*guts.ChunkSize]
		h.pushSubtree(guts.ChainingValue(eigentreeNode(buf, start+h.counter)), height)
		done += chunks
	}
	return data[full*guts.ChunkSize:]
}

// eigentreeNode is guts.CompressEigentree(buf, &guts.IV, counter, 0) for
// buf of 2^k chunks, k <= log2(hashBatchChunks), without its heap
// allocations: CompressEigentree's goroutine branch captures buf by
// reference, so every call moved buf's slice header to the heap (one
// allocation per 16 KiB hashed, 66 per 1 MiB range check). When buf's
// capacity holds a whole SIMD batch, it calls guts.CompressBuffer on it
// directly, as CompressEigentree does itself (the lanes beyond len(buf)
// read bytes inside cap(buf) whose CVs are not used); otherwise on a copy
// padded on the stack, where CompressEigentree allocates the padded copy.
func eigentreeNode(buf []byte, counter uint64) guts.Node {
	const batch = hashBatchChunks * guts.ChunkSize
	switch chunks := len(buf) / guts.ChunkSize; {
	case len(buf)%guts.ChunkSize != 0 || bits.OnesCount(uint(chunks)) != 1 || len(buf) > batch:
		return guts.CompressEigentree(buf, &guts.IV, counter, 0) // which panics below a batch
	case chunks == 1:
		return guts.CompressChunk(buf, &guts.IV, counter, 0)
	case cap(buf) >= batch:
		return guts.CompressBuffer((*[batch]byte)(buf[:batch]), len(buf), &guts.IV, counter, 0)
	default:
		var pad [batch]byte
		copy(pad[:], buf)
		return guts.CompressBuffer(&pad, len(buf), &guts.IV, counter, 0)
	}
}

// nextTreeHeight is the height of the largest subtree that starts at
// counter (aligned), fits in the chunks left and in one SIMD batch.
func (h *treeHasher) nextTreeHeight(chunksLeft uint64) int {
	height := bits.Len64(min(chunksLeft, hashBatchChunks)) - 1
	if h.counter != 0 {
		height = min(height, bits.TrailingZeros64(h.counter))
	}
	return height
}

func (h *treeHasher) pushSubtree(cv [8]uint32, height int) {
	i := height
	for h.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
		i++
	}
	h.stack[i] = cv
	h.counter += 1 << height
}

// rootNode folds the last chunk (1 to ChunkSize bytes, or 0 for empty
// input) into the stack, smallest subtree first, and marks the result root.
func (h *treeHasher) rootNode(last []byte) guts.Node {
	n := guts.CompressChunk(last, &guts.IV, h.counter, 0)
	for i := bits.TrailingZeros64(h.counter); i < bits.Len64(h.counter); i++ {
		if h.counter&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	return n
}
