package storage

import (
	"bytes"
	"encoding/hex"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Disk layout: chunk bytes under keyChunk (content-addressed, verified on
// every read, so not sealed), the sealed manifest under keyManifest, and a
// pin flag under keyPin.
const (
	prefixChunk    = "s/c/"
	prefixManifest = "s/n/" // format 2; format 1 used "s/m/" (io/datadir migrates)
	prefixPin      = "s/p/"
)

func diskKey(prefix string, a proto.Addr) []byte {
	b := make([]byte, len(prefix)+2*proto.IDBytes)
	copy(b, prefix)
	hex.Encode(b[len(prefix):], a[:])
	return b
}

// addrFromKey parses the address after prefix; false if malformed.
func addrFromKey(prefix string, key []byte) (proto.Addr, bool) {
	var a proto.Addr
	if !bytes.HasPrefix(key, []byte(prefix)) || len(key) != len(prefix)+2*proto.IDBytes {
		return a, false
	}
	_, err := hex.Decode(a[:], key[len(prefix):])
	return a, err == nil
}

// object is one object this node holds or is committing.
type object struct {
	manifest  Manifest
	pinned    bool
	committed bool // durable and listed in sorted; else a commit is in flight
	// waiters are called once when the commit in flight completes (nil
	// error: committed). At most waitersMax.
	waiters []func(error)
}

// index is the in-memory view of what this node holds.
//
// Invariants: chunkRefs[c] is the number of objects (committed or
// committing) whose manifest lists c, counting repeats; sorted holds
// exactly the committed objects in ascending order; bytes is the sum of
// their sizes. The chunks of a committed object were durable when it was
// committed (the manifest is written after them, and only a completed sync
// commits it).
type index struct {
	objects   map[proto.Addr]*object
	sorted    []proto.Addr
	chunkRefs map[proto.Addr]int
	staged    map[proto.Addr]env.Time // chunk -> when it was written for an uncommitted object
	// sessionRefs counts, per chunk, the references of upload sessions
	// and of committed sessions whose put is still running (session.go);
	// a session holds one key per chunk plus its first chunk's root key.
	sessionRefs map[proto.Addr]int
	// storing counts, per chunk, the StoreChunk writes in flight: such a
	// chunk is staged only when its write completes, and the orphan sweep
	// must not delete it meanwhile (sweep.go). At most DiskJobsMax.
	storing map[proto.Addr]int
	bytes   uint64
}

func newIndex() index {
	return index{objects: map[proto.Addr]*object{}, chunkRefs: map[proto.Addr]int{}, staged: map[proto.Addr]env.Time{},
		sessionRefs: map[proto.Addr]int{}, storing: map[proto.Addr]int{}}
}

// stored ends one StoreChunk write of c (counted in storing).
func (x *index) stored(c proto.Addr) {
	x.storing[c]--
	if x.storing[c] <= 0 {
		delete(x.storing, c)
	}
}

func compareAddr(a, b proto.Addr) int { return bytes.Compare(a[:], b[:]) }

// hold records o under addr (committing); it must not be present.
func (x *index) hold(addr proto.Addr, o *object) {
	if _, ok := x.objects[addr]; ok {
		panic("storage: object held twice")
	}
	x.objects[addr] = o
	for _, c := range o.manifest.Chunks {
		x.chunkRefs[c.Addr]++
	}
}

// commit marks a held object durable.
func (x *index) commit(addr proto.Addr) {
	o := x.objects[addr]
	if o == nil || o.committed {
		panic("storage: commit of an object not being committed")
	}
	o.committed = true
	i, _ := slices.BinarySearchFunc(x.sorted, addr, compareAddr)
	x.sorted = slices.Insert(x.sorted, i, addr)
	x.bytes += o.manifest.Size
	for _, c := range o.manifest.Chunks {
		delete(x.staged, c.Addr)
	}
}

// drop forgets addr and returns the chunks no object references any more.
func (x *index) drop(addr proto.Addr) []proto.Addr {
	o := x.objects[addr]
	if o == nil {
		return nil
	}
	delete(x.objects, addr)
	if o.committed {
		i, found := slices.BinarySearchFunc(x.sorted, addr, compareAddr)
		if !found {
			panic("storage: committed object missing from the sorted list")
		}
		x.sorted = slices.Delete(x.sorted, i, i+1)
		x.bytes -= o.manifest.Size
	}
	var unreferenced []proto.Addr
	for _, c := range o.manifest.Chunks {
		x.chunkRefs[c.Addr]--
		if x.chunkRefs[c.Addr] == 0 {
			delete(x.chunkRefs, c.Addr)
			if _, staged := x.staged[c.Addr]; !staged && x.sessionRefs[c.Addr] == 0 {
				unreferenced = append(unreferenced, c.Addr)
			}
		}
	}
	return unreferenced
}

// committed returns the committed object at addr, or nil.
func (x *index) committed(addr proto.Addr) *object {
	if o := x.objects[addr]; o != nil && o.committed {
		return o
	}
	return nil
}

// hasChunk reports whether the chunk's bytes should be on the local disk.
func (x *index) hasChunk(c proto.Addr) bool {
	_, staged := x.staged[c]
	return x.chunkRefs[c] > 0 || staged || x.sessionRefs[c] > 0
}

// after returns the first committed address strictly after cursor,
// wrapping around; false when there is none.
func (x *index) after(cursor proto.Addr) (proto.Addr, bool) {
	if len(x.sorted) == 0 {
		return proto.Addr{}, false
	}
	i, found := slices.BinarySearchFunc(x.sorted, cursor, compareAddr)
	if found {
		i++
	}
	if i >= len(x.sorted) {
		i = 0
	}
	return x.sorted[i], true
}

// check verifies the invariants; deep recounts the references.
func (x *index) check(deep bool) {
	if len(x.objects) > LocalObjectsMax || len(x.staged) > StagedChunksMax ||
		len(x.sessionRefs) > (SessionsMax+InflightPutsMax)*(SessionChunksMax+1) || len(x.storing) > DiskJobsMax {
		panic("storage: index over its bounds")
	}
	if len(x.sorted) > len(x.objects) {
		panic("storage: more sorted addresses than objects")
	}
	if !deep {
		return
	}
	refs := map[proto.Addr]int{}
	var total uint64
	committed := 0
	for _, addr := range env.SortedKeysFunc(x.objects, compareAddr) {
		o := x.objects[addr]
		for _, c := range o.manifest.Chunks {
			refs[c.Addr]++
		}
		if o.committed {
			committed++
			total += o.manifest.Size
		}
	}
	if committed != len(x.sorted) || total != x.bytes || len(refs) != len(x.chunkRefs) {
		panic("storage: index totals disagree with its objects")
	}
	for _, c := range env.SortedKeysFunc(refs, compareAddr) {
		if x.chunkRefs[c] != refs[c] {
			panic("storage: chunk reference count wrong for " + c.Short())
		}
	}
	if !slices.IsSortedFunc(x.sorted, compareAddr) {
		panic("storage: sorted list out of order")
	}
}
