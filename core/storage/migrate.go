package storage

import (
	"fmt"

	"github.com/ron-network/ron/core/proto"
)

// Data-dir format 2 (io/datadir's migration 2) names chunks by their
// BLAKE3 chaining value and keeps manifests of version 2 under
// DiskPrefixManifest; format 1 named chunks by the BLAKE3 of their own
// bytes and kept version 1 manifests under DiskPrefixManifestV1. The
// migration builds one format beside the other with these pure helpers
// and commits with the format record.
const (
	DiskPrefixChunk      = prefixChunk
	DiskPrefixManifest   = prefixManifest
	DiskPrefixManifestV1 = "s/m/"
	DiskPrefixPin        = prefixPin
)

// DiskKey is the disk key of a under prefix.
func DiskKey(prefix string, a proto.Addr) []byte { return diskKey(prefix, a) }

// AddrFromDiskKey parses the address after prefix; false if malformed.
func AddrFromDiskKey(prefix string, key []byte) (proto.Addr, bool) { return addrFromKey(prefix, key) }

// DecodeManifestV1 decodes a format 1 manifest: chunk keys are the BLAKE3
// of each chunk's own bytes, and chunks may have any size.
func DecodeManifestV1(b []byte) (Manifest, error) { return decodeManifest(b, 1) }

// AppendManifestV1 encodes m as a format 1 manifest (the migration down).
func AppendManifestV1(b []byte, m *Manifest) []byte { return appendManifest(b, m, 1) }

// ChunkMatches reports whether data, as the chunk keyed key at object
// offset off, verifies under format 2's rule (chunkMatches).
func ChunkMatches(key proto.Addr, off uint64, data []byte) bool { return chunkMatches(key, off, data) }

// Rechunker cuts the bytes of one object, fed in order in any pieces,
// into format 2 chunks of ChunkBytesDefault, keys each (its chaining
// value; the address for a one-chunk object) in the same pass, and
// checks at Finish that they make the object addr of size bytes.
type Rechunker struct {
	addr proto.Addr
	size uint64
	buf  []byte
	off  uint64
	man  Manifest
	emit func(key proto.Addr, chunk []byte) error
}

// NewRechunker starts an object; emit receives every chunk with its key
// (it owns the chunk).
func NewRechunker(addr proto.Addr, size uint64, emit func(key proto.Addr, chunk []byte) error) *Rechunker {
	return &Rechunker{addr: addr, size: size, man: Manifest{Size: size}, emit: emit}
}

// Write feeds the next bytes of the object.
func (r *Rechunker) Write(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), ChunkBytesDefault-len(r.buf))
		r.buf = append(r.buf, p[:n]...)
		p = p[n:]
		if len(r.buf) == ChunkBytesDefault && r.off+uint64(len(r.buf)) < r.size {
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Rechunker) flush() error {
	if r.off+uint64(len(r.buf)) > r.size {
		return fmt.Errorf("%w: %s holds more than its %d bytes", ErrBadManifest, r.addr.Short(), r.size)
	}
	cv, root := proto.SubtreeHash(r.buf, r.off)
	key := proto.Addr(cv)
	if r.off == 0 && uint64(len(r.buf)) == r.size {
		key = root // the only chunk is keyed by the object address
	}
	r.man.Chunks = append(r.man.Chunks, ChunkRef{Addr: key, Size: uint32(len(r.buf))})
	r.off += uint64(len(r.buf))
	chunk := r.buf
	r.buf = nil
	return r.emit(key, chunk)
}

// Finish emits the last chunk and returns the format 2 manifest, after
// checking that the chunks merge to the object address.
func (r *Rechunker) Finish() (Manifest, error) {
	if len(r.buf) > 0 {
		if err := r.flush(); err != nil {
			return Manifest{}, err
		}
	}
	if r.off != r.size {
		return Manifest{}, fmt.Errorf("%w: %s has %d bytes, its manifest says %d", ErrBadManifest, r.addr.Short(), r.off, r.size)
	}
	if err := r.man.checkFor(r.addr); err != nil {
		return Manifest{}, err
	}
	if len(r.man.Chunks) == 1 && r.man.Chunks[0].Addr != r.addr {
		return Manifest{}, fmt.Errorf("%w: %s does not hash to its address", ErrBadManifest, r.addr.Short())
	}
	return r.man, nil
}

// CheckManifest verifies a format 2 manifest against the object address
// without its bytes (checkFor).
func CheckManifest(addr proto.Addr, m *Manifest) error { return m.checkFor(addr) }
