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
	// keyScrubCursor is the scrub pass's cursor record (scrub.go): under
	// no prefix that recovery, the sweep or io/datadir scans.
	keyScrubCursor = "s/scrub"
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
	// lies: a get of this node (claimWrong) or the scrub (scrub.go)
	// proved the manifest wrong from bytes verified against their keys,
	// so gets skip it and ask the candidates at once (findManifest). In
	// memory only: forgotten with the object, or at a restart (the next
	// get, or the scrub, proves it again).
	lies bool
	// proven: the manifest's offsets and sizes are proven by verified
	// bytes: this build's commit check accepted it, or the scrub read
	// every chunk where it puts it, with the size it claims (scrub.go).
	// In memory only: a manifest recovered from disk (perhaps an earlier
	// build's commit) is not proven until the scrub has read it.
	proven bool
	// waiters are called once when the commit in flight completes (nil
	// error: committed). At most waitersMax.
	waiters []func(error)
	// deletes are the client Deletes that arrived while the commit was
	// in flight: they take effect when it completes, after its waiters
	// (finishWrite). At most waitersMax; empty once committed.
	deletes []env.RequestID
	// pinWrite: non-nil while the pin record of a pinned put of the
	// committed object is being written (pinExisting): the pinned puts
	// waiting for it to be durable, at most waitersMax. pinned is set
	// meanwhile (GC keeps the object) and cleared if the write fails.
	pinWrite []func(error)
}

// index is the in-memory view of what this node holds.
//
// Invariants: chunkRefs[c].refs is the number of objects (committed or
// committing) whose manifest lists c, counting repeats, and
// chunkRefs[c].off the object offset they list it at, unless they list it
// at several offsets: then offsets[c] counts the listings per offset
// (see chunkRef); sorted holds
// exactly the committed objects in ascending order; bytes is the sum of
// their sizes. The chunks of a committed object were durable when it was
// committed (the manifest is written after them, and only a completed sync
// commits it).
type index struct {
	objects   map[proto.Addr]*object
	sorted    []proto.Addr
	chunkRefs map[proto.Addr]chunkRef
	// offsets holds, for each chunk the held manifests list at more than
	// one offset, the listings per offset (in the order first listed):
	// at most one offset is the chunk's, so some held manifest lies and
	// the chunk's offset is unknown until the lies are dropped. Empty
	// unless a lying manifest was committed here.
	offsets map[proto.Addr][]offsetRefs
	staged  map[proto.Addr]stagedChunk // chunks written for an uncommitted object
	// sessionRefs counts, per chunk, the references of upload sessions
	// and of committed sessions whose put is still running (session.go);
	// a session holds one key per chunk it wrote (a one-chunk session's
	// chunk is committed by a whole put instead), with the offset it
	// hashed the chunk at (sessionRef).
	sessionRefs map[proto.Addr]sessionRef
	// storing counts, per chunk, the StoreChunk writes in flight: such a
	// chunk is staged only when its write completes, and the orphan sweep
	// must not delete it meanwhile (sweep.go). At most DiskJobsMax.
	storing map[proto.Addr]int
	// shares holds, per sender, the staged chunks it pushed and its
	// StoreChunk writes in flight (senderShare): the staged table is
	// shared, so each sender may hold only its share of it
	// (stagedShareRoom, doc.go "Staged shares"). A sender without any
	// is not listed, so it holds at most the table's senders.
	shares map[proto.NodeID]senderShare
	bytes  uint64
}

// senderShare is what one sender holds of the staged table: chunks and
// bytes staged under its pushes, plus its writes in flight (each counted
// with its length, whether or not the chunk is staged already).
type senderShare struct {
	chunks int
	bytes  uint64
}

func newIndex() index {
	return index{objects: map[proto.Addr]*object{}, chunkRefs: map[proto.Addr]chunkRef{}, offsets: map[proto.Addr][]offsetRefs{},
		staged: map[proto.Addr]stagedChunk{}, sessionRefs: map[proto.Addr]sessionRef{}, storing: map[proto.Addr]int{},
		shares: map[proto.NodeID]senderShare{}}
}

// stagedChunk is a chunk pushed for an object not committed yet.
type stagedChunk struct {
	at  env.Time // when it was written
	off uint64   // the object offset its bytes were verified at (its key binds it)
	// size is the length of the bytes verified at off (the key binds it
	// too; a manifest's size for the chunk does not: movesChunks).
	size uint32
	from proto.NodeID // the sender whose push staged it (index.shares)
}

// chunkRef is what the index knows of a chunk its held manifests list:
// how many listings (counting repeats) and at which object offset. A
// chunk key is bound to its offset (a chaining value, or the address of
// a one-chunk object), so honest manifests list a chunk at one offset
// only, the one its bytes verify at; the node verified them there when it
// stored them, if the manifest that listed it first was honest.
type chunkRef struct {
	refs int
	off  uint64 // meaningless while offsets lists the chunk (a conflict)
}

// offsetRefs counts the listings of a chunk at one offset.
type offsetRefs struct {
	off  uint64
	refs int
}

// addRef records a listing of chunk c at offset off.
func (x *index) addRef(c proto.Addr, off uint64) {
	r := x.chunkRefs[c]
	switch {
	case r.refs == 0:
		r.off = off
	case x.offsets[c] != nil:
		offs := x.offsets[c]
		i := slices.IndexFunc(offs, func(o offsetRefs) bool { return o.off == off })
		if i < 0 {
			offs = append(offs, offsetRefs{off: off})
			i = len(offs) - 1
		}
		offs[i].refs++
		x.offsets[c] = offs
	case off != r.off:
		// Two listings disagree: one of the manifests lies.
		x.offsets[c] = []offsetRefs{{off: r.off, refs: r.refs}, {off: off, refs: 1}}
	}
	r.refs++
	x.chunkRefs[c] = r
}

// removeRef forgets a listing of chunk c at offset off and reports
// whether no listing is left.
func (x *index) removeRef(c proto.Addr, off uint64) bool {
	r := x.chunkRefs[c]
	r.refs--
	if r.refs <= 0 {
		delete(x.chunkRefs, c)
		delete(x.offsets, c)
		return true
	}
	if offs := x.offsets[c]; offs != nil {
		i := slices.IndexFunc(offs, func(o offsetRefs) bool { return o.off == off })
		if i < 0 {
			panic("storage: a chunk listing at an offset the index does not hold")
		}
		offs[i].refs--
		if offs[i].refs == 0 {
			offs = slices.Delete(offs, i, i+1)
		}
		if len(offs) == 1 {
			// The conflict is resolved: the listings left agree.
			r.off = offs[0].off
			delete(x.offsets, c)
		} else {
			x.offsets[c] = offs
		}
	}
	x.chunkRefs[c] = r
	return false
}

// sessionRef counts an upload session's references to a chunk and the
// object offset the session hashed it at (its key is the chaining value
// the node computed there).
type sessionRef struct {
	refs int
	off  uint64
}

// chunkOffset is the object offset of chunk c: the one this node
// verified it at, if it did (an upload session hashed it there, or a
// push was checked there: evidence, so it goes first), else the one the
// held manifests agree to list it at; false when nothing locates it
// (held manifests that disagree, one of which lies, and no verified
// offset).
func (x *index) chunkOffset(c proto.Addr) (uint64, bool) {
	if r, ok := x.sessionRefs[c]; ok {
		return r.off, true
	}
	if st, ok := x.staged[c]; ok {
		return st.off, true
	}
	if r, ok := x.chunkRefs[c]; ok && x.offsets[c] == nil {
		return r.off, true
	}
	return 0, false
}

// stagedRoom reports whether a chunk may be staged: fewer than
// StagedChunksMax chunks are staged or being written by a StoreChunk
// (storing: such a chunk is staged when its write completes, so its
// write reserved its slot). A chunk written again while staged, or by
// two pushes at once, takes one slot.
func (x *index) stagedRoom() bool { return x.stagedSlots() < StagedChunksMax }

// stagedSlots is the number of chunks staged or being staged: those of
// staged and storing, each once. O(storing), at most DiskJobsMax.
func (x *index) stagedSlots() int {
	n := len(x.staged)
	// map order ok: a count
	for c := range x.storing {
		if _, ok := x.staged[c]; !ok {
			n++
		}
	}
	return n
}

// heldBytesBound bounds the bytes this node holds for its objects and
// its pushes: the committed objects' sizes, the staged chunks' sizes,
// and ChunkBytesMax for each chunk still being written (its size is not
// kept until it is staged). Chunks shared between objects count once per
// object: a bound, not a measure. O(staged + storing).
func (x *index) heldBytesBound() uint64 {
	n := x.bytes
	// map order ok: a sum
	for _, st := range x.staged {
		n += uint64(st.size)
	}
	// map order ok: a sum
	for c := range x.storing {
		if _, ok := x.staged[c]; !ok {
			n += ChunkBytesMax
		}
	}
	return n
}

// stored ends one StoreChunk write of c (counted in storing) by from,
// of size bytes (counted in from's share since storingFor).
func (x *index) stored(c proto.Addr, from proto.NodeID, size uint32) {
	x.storing[c]--
	if x.storing[c] <= 0 {
		delete(x.storing, c)
	}
	x.addShare(from, -1, -int64(size))
}

// storingFor counts one StoreChunk write of c by from, of size bytes, in
// storing and in from's share, until stored.
func (x *index) storingFor(c proto.Addr, from proto.NodeID, size uint32) {
	x.storing[c]++
	x.addShare(from, 1, int64(size))
}

// stage records st (pushed by st.from) as c's staged chunk, in place of
// any earlier one, and moves the chunk's share to st.from.
func (x *index) stage(c proto.Addr, st stagedChunk) {
	x.unstage(c)
	x.staged[c] = st
	x.addShare(st.from, 1, int64(st.size))
}

// unstage forgets c's staged chunk, if any, and its sender's share of it.
func (x *index) unstage(c proto.Addr) {
	if old, ok := x.staged[c]; ok {
		delete(x.staged, c)
		x.addShare(old.from, -1, -int64(old.size))
	}
}

func (x *index) addShare(from proto.NodeID, chunks int, bytes int64) {
	sh := x.shares[from]
	sh.chunks += chunks
	sh.bytes = uint64(int64(sh.bytes) + bytes)
	if sh.chunks < 0 || int64(sh.bytes) < 0 {
		panic("storage: a sender's staged share below zero")
	}
	if sh.chunks == 0 {
		delete(x.shares, from)
		return
	}
	x.shares[from] = sh
}

// stagedShareRoom reports whether from may stage one more chunk of size
// bytes (at c: a chunk it staged already there is replaced, not added)
// within its share: StagedSenderChunksMax chunks and StagedSenderBytesMax bytes,
// counting what it has staged and its writes in flight.
func (x *index) stagedShareRoom(from proto.NodeID, c proto.Addr, size uint32) bool {
	sh := x.shares[from]
	if old, ok := x.staged[c]; ok && old.from == from {
		sh.chunks--
		sh.bytes -= uint64(old.size)
	}
	return sh.chunks < StagedSenderChunksMax && sh.bytes+uint64(size) <= StagedSenderBytesMax
}

func compareAddr(a, b proto.Addr) int { return bytes.Compare(a[:], b[:]) }

// hold records o under addr (committing); it must not be present.
func (x *index) hold(addr proto.Addr, o *object) {
	if _, ok := x.objects[addr]; ok {
		panic("storage: object held twice")
	}
	x.objects[addr] = o
	var off uint64
	for _, c := range o.manifest.Chunks {
		x.addRef(c.Addr, off)
		off += uint64(c.Size)
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
		x.unstage(c.Addr)
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
	var off uint64
	for _, c := range o.manifest.Chunks {
		if x.removeRef(c.Addr, off) {
			if _, staged := x.staged[c.Addr]; !staged && x.sessionRefs[c.Addr].refs == 0 {
				unreferenced = append(unreferenced, c.Addr)
			}
		}
		off += uint64(c.Size)
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
	return x.chunkRefs[c].refs > 0 || staged || x.sessionRefs[c].refs > 0
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
	if len(x.objects) > LocalObjectsMax || x.stagedSlots() > StagedChunksMax ||
		len(x.sessionRefs) > (SessionsMax+InflightPutsMax+TrailingPutsMax)*(SessionChunksMax+1) || len(x.storing) > DiskJobsMax {
		panic("storage: index over its bounds")
	}
	if len(x.shares) > len(x.staged)+DiskJobsMax {
		panic("storage: more senders with a staged share than staged chunks and writes")
	}
	// map order ok: each share checked alone
	for _, sh := range x.shares {
		if sh.chunks > StagedChunksMax+DiskJobsMax {
			panic("storage: a sender's staged share over the table and the writes")
		}
	}
	if len(x.sorted) > len(x.objects) {
		panic("storage: more sorted addresses than objects")
	}
	if len(x.offsets) > len(x.chunkRefs) {
		panic("storage: more chunk offset conflicts than chunks")
	}
	if !deep {
		return
	}
	refs := map[proto.Addr]map[uint64]int{} // chunk -> offset -> listings
	var total uint64
	committed := 0
	for _, addr := range env.SortedKeysFunc(x.objects, compareAddr) {
		o := x.objects[addr]
		var off uint64
		for _, c := range o.manifest.Chunks {
			if refs[c.Addr] == nil {
				refs[c.Addr] = map[uint64]int{}
			}
			refs[c.Addr][off]++
			off += uint64(c.Size)
		}
		if o.committed {
			committed++
			total += o.manifest.Size
			if len(o.deletes) > 0 {
				panic("storage: deletes waiting for a committed object")
			}
		}
		if o.pinWrite != nil && (!o.committed || !o.pinned || len(o.pinWrite) > waitersMax) {
			panic("storage: a pin write in flight for an object not committed and pinned, or with too many waiters")
		}
	}
	if committed != len(x.sorted) || total != x.bytes || len(refs) != len(x.chunkRefs) {
		panic("storage: index totals disagree with its objects")
	}
	for _, c := range env.SortedKeysFunc(refs, compareAddr) {
		byOff := refs[c]
		n := 0
		// map order ok: a sum
		for _, k := range byOff {
			n += k
		}
		r, offs := x.chunkRefs[c], x.offsets[c]
		if r.refs != n {
			panic("storage: chunk reference count wrong for " + c.Short())
		}
		if len(byOff) == 1 {
			if offs != nil || byOff[r.off] != n {
				panic("storage: chunk offset wrong for " + c.Short())
			}
			continue
		}
		if len(offs) != len(byOff) {
			panic("storage: chunk offset conflict not recorded for " + c.Short())
		}
		for _, o := range offs {
			if o.refs <= 0 || byOff[o.off] != o.refs {
				panic("storage: chunk listings per offset wrong for " + c.Short())
			}
		}
	}
	if !slices.IsSortedFunc(x.sorted, compareAddr) {
		panic("storage: sorted list out of order")
	}
}
