package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// TreeChunkBytes is BLAKE3's chunk: the leaf of its hash tree. Object
// parts that are verified on their own (core/storage's chunks) are whole
// subtrees of the object's tree, so their sizes and offsets are counted
// in these.
const TreeChunkBytes = guts.ChunkSize

// CV is a BLAKE3 chaining value: the non-root hash of a subtree of an
// object's tree. Unlike an Addr it depends on where the subtree sits in
// the object (its chunk counter), so equal bytes at different offsets
// have different CVs.
type CV [IDBytes]byte

// Short is the first 8 hex digits, for logs.
func (c CV) Short() string { return Addr(c).Short()[len(AddrPrefix):] }

// ErrBadTree is wrapped by every error about parts that do not tile a
// BLAKE3 tree.
var ErrBadTree = errors.New("proto: parts are not subtrees of a BLAKE3 tree")

// IsSubtree reports whether the n bytes (n >= 1) at offset of an object
// form one subtree of its BLAKE3 tree whenever they are the object's last
// bytes: offset is a multiple of the smallest power-of-two number of
// TreeChunkBytes chunks that holds n bytes. IsFullSubtree is the stronger
// property of a part that may be followed by more bytes.
func IsSubtree(offset, n uint64) bool {
	if n == 0 || offset%TreeChunkBytes != 0 {
		return false
	}
	chunks := (n + TreeChunkBytes - 1) / TreeChunkBytes
	span := uint64(1) << bits.Len64(chunks-1) // smallest power of two >= chunks
	return (offset/TreeChunkBytes)%span == 0
}

// IsFullSubtree reports whether the n bytes at offset are a complete
// subtree wherever the object ends after them: n is a power-of-two
// number of chunks and offset a multiple of n.
func IsFullSubtree(offset, n uint64) bool {
	return n >= TreeChunkBytes && n%TreeChunkBytes == 0 && bits.OnesCount64(n/TreeChunkBytes) == 1 && offset%n == 0
}

// SubtreeHash hashes data as the subtree of an object's BLAKE3 tree that
// starts at byte offset (IsSubtree(offset, len(data)) must hold) in one
// pass over the bytes. It returns the subtree's chaining value and the
// root hash data would have as a whole object; the two differ only in the
// root flag of the last compression, so the root is meaningful when
// offset is 0 and costs one extra 64-byte compression. Like AddrOf it
// starts no goroutine.
func SubtreeHash(data []byte, offset uint64) (cv CV, root Addr) {
	if offset%TreeChunkBytes != 0 {
		panic(fmt.Sprintf("proto: SubtreeHash at offset %d, not a multiple of %d", offset, TreeChunkBytes))
	}
	start := offset / TreeChunkBytes
	var h treeHasher
	n := guts.CompressChunk(h.pushAllButLast(data, start), &guts.IV, start+h.counter, 0)
	for i := bits.TrailingZeros64(h.counter); i < bits.Len64(h.counter); i++ {
		if h.counter&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	cv = cvBytes(guts.ChainingValue(n))
	n.Flags |= guts.FlagRoot
	words := guts.WordsToBytes(guts.CompressNode(n))
	copy(root[:], words[:])
	return cv, root
}

// FullSubtreeCV is the chaining value of data as the complete subtree at
// offset (IsFullSubtree(offset, len(data)) must hold), the CV SubtreeHash
// returns, in fewer compressions: every chunk goes through the SIMD
// batches, none is held back for a root flag, so a 256 KiB chunk is 16
// eigentrees of 16 chunks instead of 15, then 8, 4 and 2 chunks (the last
// two in half-empty SIMD calls, copied out to a 16-chunk buffer first)
// and two chunks compressed one at a time. The root it would have as a
// whole object is not computed: callers checking a part that is not the
// object's only one need the CV alone.
func FullSubtreeCV(data []byte, offset uint64) CV {
	n := uint64(len(data))
	if !IsFullSubtree(offset, n) {
		panic(fmt.Sprintf("proto: FullSubtreeCV of %d bytes at offset %d, not a full subtree", n, offset))
	}
	start := offset / TreeChunkBytes
	chunks := n / TreeChunkBytes
	var h treeHasher
	for done := uint64(0); done < chunks; {
		height := h.nextTreeHeight(chunks - done)
		batch := uint64(1) << height
		buf := data[done*TreeChunkBytes : (done+batch)*TreeChunkBytes]
		h.pushSubtree(guts.ChainingValue(eigentreeNode(buf, start+h.counter)), height)
		done += batch
	}
	return cvBytes(h.stack[bits.TrailingZeros64(chunks)])
}

// TreePart is one part of an object in a tiling by subtrees: its
// chaining value and its size in bytes.
type TreePart struct {
	CV   CV
	Size uint64
}

// TreeRoot merges the chaining values of parts that tile an object, in
// order, into the object's address (BLAKE3 root): len(parts)-1 parent
// compressions, no byte of the object. Every part but the last must be
// IsFullSubtree at its offset and the last IsSubtree; there must be at
// least two parts (one part's root needs its bytes: SubtreeHash).
func TreeRoot(parts []TreePart) (Addr, error) {
	var b TreeBuilder
	for _, p := range parts {
		if err := b.Push(p); err != nil {
			return Addr{}, err
		}
	}
	return b.Root()
}

// TreeBuilder merges the parts of an object as they arrive, so that the
// address of the object ending with the latest part is known at any time
// in O(log parts) (a streamed upload learns its address at its last
// part without a second pass). The zero value is an empty object.
type TreeBuilder struct {
	h       treeHasher // the parts before pending, merged
	off     uint64     // bytes pushed
	pending TreePart   // the latest part: the last one if no other follows
	parts   int
}

// Push appends part. The part before it must be IsFullSubtree (it is no
// longer the last), and part IsSubtree at its offset.
func (b *TreeBuilder) Push(part TreePart) error {
	if b.parts > 0 {
		start := b.off - b.pending.Size
		if !IsFullSubtree(start, b.pending.Size) {
			return fmt.Errorf("%w: part %d of %d bytes at offset %d is followed by another", ErrBadTree, b.parts-1, b.pending.Size, start)
		}
	}
	if !IsSubtree(b.off, part.Size) {
		return fmt.Errorf("%w: part %d of %d bytes at offset %d", ErrBadTree, b.parts, part.Size, b.off)
	}
	if b.parts > 0 {
		b.h.pushSubtree(cvWords(b.pending.CV), bits.TrailingZeros64(b.pending.Size/TreeChunkBytes))
	}
	b.pending = part
	b.off += part.Size
	b.parts++
	return nil
}

// Parts is how many parts were pushed; Size their bytes.
func (b *TreeBuilder) Parts() int   { return b.parts }
func (b *TreeBuilder) Size() uint64 { return b.off }

// Root is the address of the object made of the parts pushed so far. It
// needs at least two parts (a lone part's root needs its bytes:
// SubtreeHash) and does not change the builder.
func (b *TreeBuilder) Root() (Addr, error) {
	if b.parts < 2 {
		return Addr{}, fmt.Errorf("%w: %d parts, need at least 2", ErrBadTree, b.parts)
	}
	cv := cvWords(b.pending.CV)
	var n guts.Node
	for i := bits.TrailingZeros64(b.h.counter); i < bits.Len64(b.h.counter); i++ {
		if b.h.counter&(1<<i) != 0 {
			n = guts.ParentNode(b.h.stack[i], cv, &guts.IV, 0)
			cv = guts.ChainingValue(n)
		}
	}
	n.Flags |= guts.FlagRoot
	words := guts.WordsToBytes(guts.CompressNode(n))
	var root Addr
	copy(root[:], words[:])
	return root, nil
}

func cvBytes(w [8]uint32) (c CV) {
	for i, x := range w {
		binary.LittleEndian.PutUint32(c[4*i:], x)
	}
	return c
}

func cvWords(c CV) (w [8]uint32) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(c[4*i:])
	}
	return w
}

// ErrTreeMismatch is wrapped when bytes or chaining values do not hash to
// what they must: the outboard does not merge to the root, or a part's
// bytes do not hash to its chaining value.
var ErrTreeMismatch = errors.New("proto: bytes do not verify against the BLAKE3 tree")

// VerifyParts checks parts (the outboard: every part's chaining value
// and size, tiling the object) against root, the object's address.
// Zero parts are the empty object and one part is checked with its bytes
// (VerifyPart), so both pass here when the sizes allow them.
func VerifyParts(root Addr, parts []TreePart) error {
	switch len(parts) {
	case 0:
		if root != AddrOf(nil) {
			return fmt.Errorf("%w: no parts for a non-empty object", ErrTreeMismatch)
		}
		return nil
	case 1:
		if !IsSubtree(0, parts[0].Size) {
			return fmt.Errorf("%w: one part of %d bytes", ErrBadTree, parts[0].Size)
		}
		return nil
	}
	got, err := TreeRoot(parts)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: the outboard merges to %s, not %s", ErrTreeMismatch, got.Short(), root.Short())
	}
	return nil
}

// VerifyPart checks data, the bytes of part i of an object whose parts
// passed VerifyParts(root, parts) and which starts at offset: it hashes
// only data. The only part of a one-part object is checked against root
// itself.
func VerifyPart(root Addr, part TreePart, offset uint64, only bool, data []byte) error {
	if uint64(len(data)) != part.Size || !IsSubtree(offset, part.Size) {
		return fmt.Errorf("%w: %d bytes at offset %d for a part of %d", ErrBadTree, len(data), offset, part.Size)
	}
	cv, r := SubtreeHash(data, offset)
	if cv != part.CV || (only && r != root) {
		return fmt.Errorf("%w: the part at offset %d", ErrTreeMismatch, offset)
	}
	return nil
}

// VerifyRange checks the bytes of parts first..first+len(data)-1 of the
// object root against the object's address: the outboard first, then
// each part's bytes. It hashes only the bytes given.
func VerifyRange(root Addr, parts []TreePart, first int, data [][]byte) error {
	if first < 0 || first+len(data) > len(parts) {
		return fmt.Errorf("%w: parts %d..%d of %d", ErrBadTree, first, first+len(data), len(parts))
	}
	if err := VerifyParts(root, parts); err != nil {
		return err
	}
	var off uint64
	for _, p := range parts[:first] {
		off += p.Size
	}
	for i, d := range data {
		p := parts[first+i]
		if err := VerifyPart(root, p, off, len(parts) == 1, d); err != nil {
			return fmt.Errorf("part %d: %w", first+i, err)
		}
		off += p.Size
	}
	return nil
}

// GroupCVs hashes data, the subtree at offset (IsSubtree(offset,
// len(data)) must hold), as consecutive groups of groupBytes (a power of
// two of at least TreeChunkBytes; offset a multiple of it): it appends
// each group's chaining value to cvs and merges them into the CV and the
// root SubtreeHash returns for the whole of data. It hashes each byte once,
// like SubtreeHash, plus one parent compression per group merged (15 for a
// 256 KiB chunk of 16 KiB groups), so a caller that verifies data against
// its key learns the CVs of its groups for free and can later verify any
// group alone (GroupCV) against them.
func GroupCVs(data []byte, offset, groupBytes uint64, cvs []CV) (_ []CV, cv CV, root Addr) {
	n := uint64(len(data))
	if !IsFullSubtree(0, groupBytes) || offset%groupBytes != 0 || !IsSubtree(offset, n) {
		panic(fmt.Sprintf("proto: GroupCVs of %d bytes at offset %d in groups of %d", n, offset, groupBytes))
	}
	if n <= groupBytes {
		cv, root = SubtreeHash(data, offset)
		return append(cvs, cv), cv, root
	}
	// Every group but the last is a full subtree of the same height;
	// the last is folded in from the smallest stack entry up, as
	// SubtreeHash folds its last chunk.
	var h treeHasher
	height := bits.TrailingZeros64(groupBytes / TreeChunkBytes)
	full := (n - 1) / groupBytes
	for i := uint64(0); i < full; i++ {
		g := FullSubtreeCV(data[i*groupBytes:(i+1)*groupBytes], offset+i*groupBytes)
		cvs = append(cvs, g)
		h.pushSubtree(cvWords(g), height)
	}
	lastCV := GroupCV(data[full*groupBytes:], offset+full*groupBytes)
	cvs = append(cvs, lastCV)
	last := cvWords(lastCV)
	var node guts.Node
	for i := bits.TrailingZeros64(h.counter); i < bits.Len64(h.counter); i++ {
		if h.counter&(1<<i) != 0 {
			node = guts.ParentNode(h.stack[i], last, &guts.IV, 0)
			last = guts.ChainingValue(node)
		}
	}
	cv = cvBytes(last)
	node.Flags |= guts.FlagRoot
	words := guts.WordsToBytes(guts.CompressNode(node))
	copy(root[:], words[:])
	return cvs, cv, root
}

// GroupCV is the chaining value of one group (the bytes at offset, which
// IsSubtree must allow: a group of GroupCVs) without its root: the check
// of a group read alone against the CV GroupCVs gave for it.
func GroupCV(data []byte, offset uint64) CV {
	if IsFullSubtree(offset, uint64(len(data))) {
		return FullSubtreeCV(data, offset)
	}
	cv, _ := SubtreeHash(data, offset)
	return cv
}
