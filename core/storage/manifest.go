package storage

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/wire"
)

// manifestVersion is the first field of an encoded manifest. Version 2
// (data-dir format 2) names chunks by their BLAKE3 chaining value; version
// 1 named them by the BLAKE3 of their own bytes and is rewritten by
// `rond migrate` (io/datadir).
const manifestVersion = 2

// ChunkRef names one chunk of an object and gives its size. Addr is the
// chunk's key: the BLAKE3 chaining value of the chunk as a subtree of the
// object's hash tree (proto.SubtreeHash at the chunk's offset), or, for
// the only chunk of an object, the object address itself. Either way the
// chunk's bytes and offset hash to it in one pass (chunkMatches).
type ChunkRef struct {
	Addr proto.Addr
	Size uint32
}

// Manifest describes an object as its chunks in order: the top of its
// BLAKE3 tree, an outboard at chunk granularity. Invariant: every chunk is
// 1..ChunkBytesMax bytes, the sizes sum to Size, there are at most
// ManifestChunksMax chunks, every chunk but the last is a power-of-two
// number of BLAKE3 chunks at an offset that is a multiple of its size
// (proto.IsFullSubtree), and the last is a subtree (proto.IsSubtree). An
// empty object has no chunks.
type Manifest struct {
	Size   uint64
	Chunks []ChunkRef
}

// ErrBadManifest is wrapped by every manifest decode or validation error.
var ErrBadManifest = errors.New("storage: bad manifest")

// Split computes the address of data and its manifest for chunks of
// chunkBytes (a power of two in ChunkBytesMin..ChunkBytesMax) in one pass
// over the bytes: each chunk is hashed once as a subtree of the object's
// tree, and the address is merged from the chunks' chaining values (an
// object of one chunk takes the root of that same pass). The address is
// BLAKE3 of the whole bytes (proto.AddrOf), so it never depends on
// chunkBytes.
func Split(data []byte, chunkBytes int) (proto.Addr, Manifest) {
	if !validChunkBytes(chunkBytes) {
		panic(fmt.Sprintf("storage: Split with chunk size %d", chunkBytes))
	}
	m := Manifest{Size: uint64(len(data))}
	if len(data) == 0 {
		return emptyAddr, m
	}
	if len(data) <= chunkBytes {
		_, root := proto.SubtreeHash(data, 0)
		m.Chunks = []ChunkRef{{Addr: root, Size: uint32(len(data))}}
		return root, m
	}
	m.Chunks = make([]ChunkRef, 0, (len(data)+chunkBytes-1)/chunkBytes)
	for off := 0; off < len(data); off += chunkBytes {
		part := data[off:min(off+chunkBytes, len(data))]
		cv, _ := proto.SubtreeHash(part, uint64(off))
		m.Chunks = append(m.Chunks, ChunkRef{Addr: proto.Addr(cv), Size: uint32(len(part))})
	}
	addr, err := proto.TreeRoot(m.parts())
	if err != nil {
		panic("storage: Split built a manifest that is not a tree: " + err.Error())
	}
	return addr, m
}

// validChunkBytes: a chunk size must be a power of two so that every
// chunk but the last is a whole subtree of the object's BLAKE3 tree.
func validChunkBytes(n int) bool {
	return n >= ChunkBytesMin && n <= ChunkBytesMax && n&(n-1) == 0
}

// parts is the manifest as tree parts (chunk keys as chaining values).
func (m *Manifest) parts() []proto.TreePart {
	out := make([]proto.TreePart, len(m.Chunks))
	for i, c := range m.Chunks {
		out[i] = proto.TreePart{CV: proto.CV(c.Addr), Size: uint64(c.Size)}
	}
	return out
}

// offsets returns the object offset of every chunk.
func (m *Manifest) offsets() []uint64 {
	out := make([]uint64, len(m.Chunks))
	var off uint64
	for i, c := range m.Chunks {
		out[i] = off
		off += uint64(c.Size)
	}
	return out
}

// chunkMatches reports whether data, read or received as the chunk keyed
// c at offset, hashes to c: as a subtree (its chaining value) or, at
// offset 0, as a whole object of one chunk (its root). One pass.
func chunkMatches(c proto.Addr, offset uint64, data []byte) bool {
	if len(data) == 0 || len(data) > ChunkBytesMax || !proto.IsSubtree(offset, uint64(len(data))) {
		return false
	}
	if offset > 0 && proto.IsFullSubtree(offset, uint64(len(data))) {
		// Not a first chunk, so only its CV can be its key: hashed in
		// whole SIMD batches (every full chunk of a GET but the first).
		return proto.Addr(proto.FullSubtreeCV(data, offset)) == c
	}
	cv, root := proto.SubtreeHash(data, offset)
	return proto.Addr(cv) == c || (offset == 0 && root == c)
}

// chunkData returns the bytes of chunk i of data described by m.
func (m *Manifest) chunkData(data []byte, i int) []byte {
	off := m.chunkOffset(i)
	return data[off : off+uint64(m.Chunks[i].Size)]
}

// chunkOffset is the offset of chunk i in the object.
func (m *Manifest) chunkOffset(i int) uint64 {
	var off uint64
	for _, c := range m.Chunks[:i] {
		off += uint64(c.Size)
	}
	return off
}

// spanOffsets returns base plus the object offset of each chunk first..last
// (span's), firstOffset being chunk first's: a get keeps the offsets of
// the chunks it touches only, so a range of a large object does not
// allocate an offset per chunk of the object (span still walks the chunks
// before the range to find it).
func (m *Manifest) spanOffsets(first, last int, firstOffset, base uint64) []uint64 {
	out := make([]uint64, last-first+1)
	off := base + firstOffset
	for k := range out {
		out[k] = off
		off += uint64(m.Chunks[first+k].Size)
	}
	return out
}

// span returns the chunks [first, last] that cover bytes [offset, end) and
// the object offset of chunk first. It needs offset < end <= m.Size.
func (m *Manifest) span(offset, end uint64) (first, last int, firstOffset uint64) {
	first, last = -1, -1
	var off uint64
	for i, c := range m.Chunks {
		next := off + uint64(c.Size)
		if first < 0 && offset < next {
			first, firstOffset = i, off
		}
		if end <= next {
			last = i
			break
		}
		off = next
	}
	if first < 0 || last < first {
		panic("storage: span outside the manifest")
	}
	return first, last, firstOffset
}

// AppendManifest appends the deterministic encoding of m: version, size,
// chunk count, then per chunk its address and size.
func AppendManifest(b []byte, m *Manifest) []byte { return appendManifest(b, m, manifestVersion) }

func appendManifest(b []byte, m *Manifest, version uint64) []byte {
	b = wire.AppendUvarint(b, version)
	b = wire.AppendUvarint(b, m.Size)
	b = wire.AppendUvarint(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = wire.AppendFixed(b, c.Addr[:])
		b = wire.AppendUvarint(b, uint64(c.Size))
	}
	return b
}

// DecodeManifest decodes and validates an encoded manifest. It accepts
// exactly the encodings AppendManifest produces.
func DecodeManifest(b []byte) (Manifest, error) { return decodeManifest(b, manifestVersion) }

// decodeManifest decodes a manifest of version want: 2 checks the tree
// shape, 1 (format 1, for the migration) does not.
func decodeManifest(b []byte, want uint64) (Manifest, error) {
	var m Manifest
	if len(b) > ManifestBytesMax {
		return m, fmt.Errorf("%w: %d bytes exceed %d", ErrBadManifest, len(b), ManifestBytesMax)
	}
	r := wire.NewReader(b)
	if v := r.Uvarint(); r.Err() == nil && v > manifestVersion {
		return m, fmt.Errorf("%w: version %d, this build reads %d: %w", ErrBadManifest, v, manifestVersion, env.ErrNewerFormat)
	} else if r.Err() == nil && v == 1 && want != 1 {
		return m, fmt.Errorf("%w: version 1 (chunks named by their own hash): the data dir needs `rond migrate` to format 2", ErrBadManifest)
	} else if r.Err() == nil && v != want {
		return m, fmt.Errorf("%w: version %d", ErrBadManifest, v)
	}
	m.Size = r.Uint(StreamObjectBytesMax)
	n := r.Count(ManifestChunksMax)
	if r.Err() == nil && n > r.Remaining()/(proto.IDBytes+1) {
		return m, fmt.Errorf("%w: %d chunks in %d bytes", ErrBadManifest, n, r.Remaining())
	}
	if n > 0 && r.Err() == nil {
		m.Chunks = make([]ChunkRef, n)
	}
	var total uint64
	for i := 0; i < n && r.Err() == nil; i++ {
		r.Fixed(m.Chunks[i].Addr[:])
		m.Chunks[i].Size = uint32(r.Uint(ChunkBytesMax))
		if r.Err() == nil && m.Chunks[i].Size == 0 {
			return Manifest{}, fmt.Errorf("%w: chunk %d is empty", ErrBadManifest, i)
		}
		size := uint64(m.Chunks[i].Size)
		if r.Err() == nil && want >= 2 && ((i < n-1 && !proto.IsFullSubtree(total, size)) || (i == n-1 && !proto.IsSubtree(total, size))) {
			return Manifest{}, fmt.Errorf("%w: chunk %d of %d bytes at offset %d is not a BLAKE3 subtree", ErrBadManifest, i, size, total)
		}
		total += size
	}
	if err := r.Done(); err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if total != m.Size {
		return Manifest{}, fmt.Errorf("%w: chunks hold %d bytes, size says %d", ErrBadManifest, total, m.Size)
	}
	return m, nil
}

// validate checks Manifest's invariant, everything about m that holds
// without its address or a byte of the object: what decodeManifest checks
// of a version 2 encoding, for a manifest built or received in memory
// too (checkFor runs it first). Every chunk 1..ChunkBytesMax bytes, at most
// ManifestChunksMax of them, every one but the last a full subtree at its
// offset, the last a subtree there, the sizes summing to Size.
//
// What no check without the bytes can refuse is a wrong size of the last
// chunk that keeps it a subtree at its offset (and Size summing with
// it): proto.TreeRoot merges the last part's CV whatever its size, and a
// one-chunk object's key is its address whatever size is claimed. The
// key binds the length of the chunk's bytes, so every read compares the
// verified bytes' length with the claimed size (wholeChunkCheck,
// fetchChunk, groupRead) and fails the get with ErrBadManifest.
// Chunks of different sizes are allowed (an upload session takes any
// power-of-two chunk that is a full subtree where it lands), so "every
// chunk but the last is the chunk size" is not part of the invariant.
func (m *Manifest) validate() error {
	n := len(m.Chunks)
	if n > ManifestChunksMax {
		return fmt.Errorf("%w: %d chunks exceed %d", ErrBadManifest, n, ManifestChunksMax)
	}
	total, err := runShape(m.Chunks, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if total != m.Size {
		return fmt.Errorf("%w: chunks hold %d bytes, size says %d", ErrBadManifest, total, m.Size)
	}
	return nil
}

// checkFor verifies m against the object address without the data: an
// empty object has the empty address, a one-chunk object's chunk key is
// the object address (its bytes are checked against it when read), and
// the chunk keys of a larger object merge to the address (proto.TreeRoot:
// one parent compression per chunk, no byte of the object).
func (m *Manifest) checkFor(addr proto.Addr) error {
	if err := m.validate(); err != nil {
		return err
	}
	switch len(m.Chunks) {
	case 0:
		if addr != emptyAddr {
			return fmt.Errorf("%w: empty manifest for %s", ErrBadManifest, addr.Short())
		}
	case 1:
		if m.Chunks[0].Addr != addr {
			return fmt.Errorf("%w: single chunk %s for %s", ErrBadManifest, m.Chunks[0].Addr.Short(), addr.Short())
		}
	default:
		if err := proto.VerifyParts(addr, m.parts()); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadManifest, addr.Short(), err)
		}
	}
	return nil
}

var emptyAddr = proto.AddrOf(nil)
