package storage

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// GroupBytes is the verified group inside a chunk (see "Granularity" in
// doc.go): a range get of a chunk whose group CVs are cached reads and
// hashes only the groups it touches.
const GroupBytes = 16 << 10

// GroupCacheBytesMax bounds the memory of the group CV cache: 32 bytes
// per group plus groupEntryOverhead per chunk, so 2 MiB / (512 + 160)
// bytes = about 3,100 chunks of 256 KiB (16 groups each), the groups of
// about 780 MiB of chunk data.
const GroupCacheBytesMax = 2 << 20

// groupEntryOverhead is what an entry costs beyond its CVs' array,
// estimated from the layouts on 64-bit Go: the groupEntry (a groupKey of
// 32+8 bytes, a slice header of 24, the size 8 and two list pointers 16:
// 88 bytes, allocated in the 96-byte size class), its map slot (key 40
// and pointer value 8: 48 bytes, plus a control byte per slot and the
// swiss table's load factor of 7/8, so about 56), rounded up to 160.
const groupEntryOverhead = 160

// groupKey names a chunk at its place: a chunk key is a CV at an offset,
// so the offset is part of what the CVs were derived from.
type groupKey struct {
	chunk  proto.Addr
	offset uint64
}

type groupEntry struct {
	key groupKey
	cvs []proto.CV // never written after insertion: checks on other goroutines hold it
	// size is the length of the bytes the CVs were derived from (verified
	// against the key): a manifest's chunk size that differs from it is a
	// claim the cache must not trust (groupRead reads the chunk whole then).
	size       uint64
	prev, next *groupEntry
}

// groupCache is a bounded LRU of the group CVs of chunks verified whole
// against their keys. Its eviction order is the order of get and put
// calls alone (a doubly linked list, the map only finds entries), so it
// is deterministic.
type groupCache struct {
	m     map[groupKey]*groupEntry
	head  groupEntry // head.next is the most recent, head.prev the least
	bytes int
	max   int
}

func newGroupCache(max int) *groupCache {
	c := &groupCache{m: map[groupKey]*groupEntry{}, max: max}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func entryBytes(cvs []proto.CV) int { return len(cvs)*len(proto.CV{}) + groupEntryOverhead }

func (c *groupCache) unlink(e *groupEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *groupCache) pushFront(e *groupEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// get returns the CVs of chunk at offset (nil if not cached) and the
// verified length of the bytes they were derived from, and marks them
// recently used.
func (c *groupCache) get(chunk proto.Addr, offset uint64) ([]proto.CV, uint64) {
	e := c.m[groupKey{chunk, offset}]
	if e == nil {
		return nil, 0
	}
	c.unlink(e)
	c.pushFront(e)
	return e.cvs, e.size
}

// verified returns the verified length of chunk at offset when cached
// (0 otherwise), without marking it used: a peek that leaves the eviction
// order alone.
func (c *groupCache) verified(chunk proto.Addr, offset uint64) uint64 {
	if e := c.m[groupKey{chunk, offset}]; e != nil {
		return e.size
	}
	return 0
}

// put keeps cvs for chunk at offset, derived from size bytes that matched
// the key, evicting the least recently used entries beyond the bound.
// cvs must not be written afterwards.
func (c *groupCache) put(chunk proto.Addr, offset, size uint64, cvs []proto.CV) {
	k := groupKey{chunk, offset}
	if e := c.m[k]; e != nil {
		if e.cvs != nil || cvs == nil {
			c.unlink(e)
			c.pushFront(e)
			return // the same key at the same offset: the same CVs
		}
		// A verdict cached without CVs (checkEnd) takes the CVs of a
		// whole read.
		c.unlink(e)
		delete(c.m, k)
		c.bytes -= entryBytes(e.cvs)
	}
	n := entryBytes(cvs)
	if n > c.max {
		return
	}
	e := &groupEntry{key: k, cvs: cvs, size: size}
	c.m[k] = e
	c.pushFront(e)
	c.bytes += n
	for c.bytes > c.max {
		old := c.head.prev
		c.unlink(old)
		delete(c.m, old.key)
		c.bytes -= entryBytes(old.cvs)
	}
}

func (c *groupCache) len() int { return len(c.m) }

// wholeChunkCheck is chunkCheck that also derives the chunk's group CVs
// (proto.GroupCVs: the same bytes hashed once, plus a parent compression
// per group) and leaves them in *out when the chunk matches its key and
// holds size bytes, the size its manifest (or a GetChunk) claims. Bytes
// that match the key but not the size fail with errChunkSize, not as
// corruption: the key binds the length of its bytes, so the claim lies,
// not the chunk. The check may run on the disk's goroutine: *out is read
// by the node only after the read completed.
func wholeChunkCheck(c proto.Addr, off, size uint64, out *[]proto.CV) func([]byte) error {
	return func(data []byte) error {
		cvs, ok := chunkGroupsMatch(c, off, data)
		if !ok {
			return fmt.Errorf("%w: %d bytes read as chunk %s at offset %d do not hash to it", env.ErrCorruption, len(data), c.Short(), off)
		}
		*out = cvs // the bytes matched the key, whatever the claim
		if uint64(len(data)) != size {
			return sizeLie(c, off, uint64(len(data)), size)
		}
		return nil
	}
}

// errChunkSize is wrapped when a chunk's bytes match its key but their
// length is not the size claimed for them (by a manifest, or a GetChunk):
// the claim is wrong, the chunk is healthy.
var errChunkSize = errors.New("storage: the chunk's size is not the one claimed")

// errChunkOffset: a manifest (or request) places a chunk at an offset
// other than the one this node's held manifests agree on (claimWrong).
var errChunkOffset = errors.New("storage: the chunk's offset is not the one claimed")

// errOffsetRefused: the peers asked for a chunk at an offset said they
// hold it at another (fetchChunkFrom).
var errOffsetRefused = errors.New("storage: the chunk's holders refused its offset")

func sizeLie(c proto.Addr, off, got, claimed uint64) error {
	return fmt.Errorf("%w: chunk %s at offset %d holds %d bytes, claimed %d", errChunkSize, c.Short(), off, got, claimed)
}

// chunkGroupsMatch is chunkMatches that returns the chunk's group CVs
// when it has more than one group (nil otherwise: a chunk of one group
// is read whole anyway).
func chunkGroupsMatch(c proto.Addr, off uint64, data []byte) ([]proto.CV, bool) {
	if len(data) <= GroupBytes || off%GroupBytes != 0 {
		return nil, chunkMatches(c, off, data)
	}
	if len(data) > ChunkBytesMax || !proto.IsSubtree(off, uint64(len(data))) {
		return nil, false
	}
	cvs, cv, root := chunkHash(data, off)
	if proto.Addr(cv) == c || (off == 0 && root == c) {
		return cvs, true
	}
	return nil, false
}

// groupsCheck checks part, the bytes of a chunk at object offset off
// from chunk offset partOff (a multiple of GroupBytes), group by group
// against cvs, the cached CVs of the groups it covers. size is the
// chunk's size: every group is whole but the chunk's last. The CVs were
// derived from bytes that matched the chunk's key (chunkGroupsMatch), so
// a group that hashes to its CV is the group the key names.
func groupsCheck(c proto.Addr, off, size, partOff uint64, cvs []proto.CV) func([]byte) error {
	return func(part []byte) error {
		want := min(partOff+uint64(len(cvs))*GroupBytes, size) - partOff
		if uint64(len(part)) != want {
			return fmt.Errorf("%w: %d bytes read as groups of chunk %s at %d+%d, want %d", env.ErrCorruption, len(part), c.Short(), off, partOff, want)
		}
		for j, cv := range cvs {
			lo := uint64(j) * GroupBytes
			hi := min(lo+GroupBytes, uint64(len(part)))
			if proto.GroupCV(part[lo:hi], off+partOff+lo) != cv {
				return fmt.Errorf("%w: group at %d of chunk %s at offset %d does not hash to its CV", env.ErrCorruption, partOff+lo, c.Short(), off)
			}
		}
		return nil
	}
}

// chunkHash is proto.SubtreeHash of a chunk at object offset off (a
// chunk an upload session receives, or one a whole check verifies),
// computed as its groups when it has more than one (the same bytes hashed
// once), with their CVs; nil CVs otherwise.
func chunkHash(data []byte, off uint64) ([]proto.CV, proto.CV, proto.Addr) {
	if len(data) <= GroupBytes || off%GroupBytes != 0 {
		cv, root := proto.SubtreeHash(data, off)
		return nil, cv, root
	}
	return proto.GroupCVs(data, off, GroupBytes, make([]proto.CV, 0, (len(data)+GroupBytes-1)/GroupBytes))
}
