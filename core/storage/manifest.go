package storage

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/wire"
)

// manifestVersion is the first field of an encoded manifest.
const manifestVersion = 1

// ChunkRef names one chunk of an object: the BLAKE3 address of the chunk's
// own bytes and its size.
type ChunkRef struct {
	Addr proto.Addr
	Size uint32
}

// Manifest describes an object as its chunks in order. Invariant: every
// chunk is 1..ChunkBytesMax bytes, the sizes sum to Size, and there are at
// most ManifestChunksMax chunks. An empty object has no chunks.
type Manifest struct {
	Size   uint64
	Chunks []ChunkRef
}

// ErrBadManifest is wrapped by every manifest decode or validation error.
var ErrBadManifest = errors.New("storage: bad manifest")

// Split computes the address of data and its manifest for chunks of
// chunkBytes (which must be 1..ChunkBytesMax). The address is BLAKE3 of
// the whole bytes, so it never depends on chunkBytes. An object of at most
// one chunk reuses the object address as the chunk address instead of
// hashing the same bytes twice.
func Split(data []byte, chunkBytes int) (proto.Addr, Manifest) {
	if chunkBytes < 1 || chunkBytes > ChunkBytesMax {
		panic(fmt.Sprintf("storage: Split with chunk size %d", chunkBytes))
	}
	addr := proto.AddrOf(data)
	m := Manifest{Size: uint64(len(data))}
	if len(data) == 0 {
		return addr, m
	}
	if len(data) <= chunkBytes {
		m.Chunks = []ChunkRef{{Addr: addr, Size: uint32(len(data))}}
		return addr, m
	}
	m.Chunks = make([]ChunkRef, 0, (len(data)+chunkBytes-1)/chunkBytes)
	for off := 0; off < len(data); off += chunkBytes {
		part := data[off:min(off+chunkBytes, len(data))]
		m.Chunks = append(m.Chunks, ChunkRef{Addr: proto.AddrOf(part), Size: uint32(len(part))})
	}
	return addr, m
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
func AppendManifest(b []byte, m *Manifest) []byte {
	b = wire.AppendUvarint(b, manifestVersion)
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
func DecodeManifest(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) > ManifestBytesMax {
		return m, fmt.Errorf("%w: %d bytes exceed %d", ErrBadManifest, len(b), ManifestBytesMax)
	}
	r := wire.NewReader(b)
	if v := r.Uvarint(); r.Err() == nil && v > manifestVersion {
		return m, fmt.Errorf("%w: version %d, this build reads %d: %w", ErrBadManifest, v, manifestVersion, env.ErrNewerFormat)
	} else if r.Err() == nil && v != manifestVersion {
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
		total += uint64(m.Chunks[i].Size)
	}
	if err := r.Done(); err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if total != m.Size {
		return Manifest{}, fmt.Errorf("%w: chunks hold %d bytes, size says %d", ErrBadManifest, total, m.Size)
	}
	return m, nil
}

// checkFor verifies what can be checked of m against the object address
// without the data: an empty object has the empty address, and a
// one-chunk object's chunk is the object.
func (m *Manifest) checkFor(addr proto.Addr) error {
	switch len(m.Chunks) {
	case 0:
		if addr != emptyAddr {
			return fmt.Errorf("%w: empty manifest for %s", ErrBadManifest, addr.Short())
		}
	case 1:
		if m.Chunks[0].Addr != addr {
			return fmt.Errorf("%w: single chunk %s for %s", ErrBadManifest, m.Chunks[0].Addr.Short(), addr.Short())
		}
	}
	return nil
}

var emptyAddr = proto.AddrOf(nil)
