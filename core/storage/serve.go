package storage

import (
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// waitersMax bounds the commit replies one object may owe (duplicated
// commit frames and concurrent puts of the same bytes wait for the one
// commit in flight), and, separately, the Deletes queued on its local
// write in flight (put.go: one more answers ErrUnavailable).
const waitersMax = 16

func (s *Storage) onMessage(from proto.NodeID, frame []byte) {
	h, m, err := decodeFrame(frame)
	if err != nil {
		s.reject(ReasonMalformed)
		return
	}
	if m.kind == kindReply {
		s.onReply(from, h.CorrID, &m)
		return
	}
	if !s.member(from) {
		// A closed membership (Config.Members): a sender outside it
		// neither stores, commits nor reads here. Refused before any
		// state is touched or byte served; statusBad tells an honest
		// peer missing from this node's list why, and the log names
		// the sender (refusedNotMember).
		s.refusedNotMember(from)
		s.respond(from, h.CorrID, m.addr, statusBad, nil)
		return
	}
	if !s.ready {
		s.reject(ReasonRecovering)
		s.respond(from, h.CorrID, m.addr, statusBusy, nil)
		return
	}
	switch m.kind {
	case kindStoreChunk:
		s.serveStoreChunk(from, h.CorrID, &m)
	case kindCommit:
		s.serveCommit(from, h.CorrID, &m)
	case kindCheck:
		st := statusNotFound
		if s.HasLocal(m.addr) {
			st = statusOK
		}
		s.respond(from, h.CorrID, m.addr, st, nil)
	case kindFetchManifest:
		if o := s.index.committed(m.addr); o != nil {
			s.respond(from, h.CorrID, m.addr, statusOK, AppendManifest(nil, &o.manifest))
		} else {
			s.respond(from, h.CorrID, m.addr, statusNotFound, nil)
		}
	case kindFetchChunk:
		s.serveFetchChunk(from, h.CorrID, m.addr, m.offset)
	}
}

// serveStoreChunk writes a verified chunk and stages it for a commit.
// Idempotent: a chunk already held is acknowledged at once, unless it is
// marked damaged at the pushed offset: the pushed bytes, just verified
// there, heal it (healWith) before the acknowledgement.
func (s *Storage) serveStoreChunk(from proto.NodeID, corr uint64, m *message) {
	if !chunkMatches(m.addr, m.offset, m.data) {
		s.reject(ReasonBadChunk)
		s.respond(from, corr, m.addr, statusBad, nil)
		return
	}
	if s.damagedAt(m.addr, m.offset) {
		addr := m.addr
		ok := s.healWith(addr, m.data, HealPush, func(err error) {
			if err != nil {
				s.respond(from, corr, addr, statusFailed, nil)
				return
			}
			s.respond(from, corr, addr, statusOK, nil)
		})
		if !ok {
			s.respond(from, corr, addr, statusBusy, nil)
		}
		return
	}
	if s.index.hasChunk(m.addr) {
		if known, ok := s.index.chunkOffset(m.addr); (!ok || known != m.offset) && s.index.stagedRoom() &&
			!s.overStagedShare(from, m.addr, uint32(len(m.data))) {
			// Held at conflicting offsets, or at a lie's (an earlier
			// build's commit): the push just verified the chunk's own,
			// which locates it (chunkOffset puts verified offsets first)
			// and judges the commit that follows.
			s.index.stage(m.addr, stagedChunk{at: s.env.Now(), off: m.offset, size: uint32(len(m.data)), from: from})
		}
		s.respond(from, corr, m.addr, statusOK, nil)
		return
	}
	// The chunk's staged slot is taken before its write (index.storing
	// counts toward the table: stagedRoom), so a write that completes
	// is always staged: a chunk written but not staged would be missing
	// at the commit and its bytes orphaned until the sweep after a
	// restart. A full table refuses the push before any byte is written.
	if !s.index.stagedRoom() {
		s.pruneStaged()
	}
	if s.overStagedShare(from, m.addr, uint32(len(m.data))) {
		// Before the table's own bound: a sender over its share is
		// refused as such once the table is under pressure (full
		// included), and the others' pushes keep the reserve (doc.go,
		// "Staged shares").
		s.refusedSenderShare(from)
		s.respond(from, corr, m.addr, statusBusy, nil)
		return
	}
	if !s.index.stagedRoom() {
		s.reject(ReasonOverload)
		s.respond(from, corr, m.addr, statusBusy, nil)
		return
	}
	if max := s.cfg.HeldBytesMax; max > 0 && s.index.heldBytesBound()+uint64(len(m.data)) > uint64(max) {
		// A micronode's memory budget bounds what peers replicate into
		// it too, not only its own clients' writes (the gateway's).
		s.reject(ReasonFull)
		s.respond(from, corr, m.addr, statusBusy, nil)
		return
	}
	addr, off, size := m.addr, m.offset, uint32(len(m.data)) // chunkMatches: at most ChunkBytesMax
	op := env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixChunk, addr), Value: m.data}
	ok := s.submitJob([]env.DiskOp{op}, func(res []env.DiskResult) {
		s.index.stored(addr, from, size)
		if res[0].Err != nil {
			s.respond(from, corr, addr, statusFailed, nil)
			return
		}
		s.index.stage(addr, stagedChunk{at: s.env.Now(), off: off, size: size, from: from}) // its slot was reserved
		s.stats.ChunksWritten++
		s.respond(from, corr, addr, statusOK, nil)
	})
	if !ok {
		s.respond(from, corr, addr, statusBusy, nil)
		return
	}
	s.index.storingFor(addr, from, size) // until it is staged: the orphan sweep spares it
}

// overStagedShare reports whether from's push of a chunk of size bytes
// at c is refused for its share of the staged table: it would take from
// past its share (index.stagedShareRoom) while the table is under
// pressure, that is with this chunk fewer than StagedReserveChunks slots
// would be free (writes in flight included), or, with
// Config.HeldBytesMax, less than a quarter of it. Without pressure a
// lone sender's push (a stream, or several puts at once: each stages all
// its chunks until its commit) stages beyond its share.
func (s *Storage) overStagedShare(from proto.NodeID, c proto.Addr, size uint32) bool {
	if s.index.stagedShareRoom(from, c, size) {
		return false
	}
	if s.index.stagedSlots()+1 > StagedChunksMax-StagedReserveChunks {
		return true
	}
	max := uint64(max(s.cfg.HeldBytesMax, 0))
	return max > 0 && s.index.heldBytesBound()+uint64(size) > max-max/4
}

// serveCommit makes an object durable on this node once every chunk it
// lists is here: it writes the manifest, syncs, and only then replies OK.
func (s *Storage) serveCommit(from proto.NodeID, corr uint64, m *message) {
	man, err := DecodeManifest(m.data)
	if err == nil {
		err = man.checkFor(m.addr)
	}
	if err != nil {
		s.reject(ReasonMalformed)
		s.respond(from, corr, m.addr, statusBad, nil)
		return
	}
	s.commitManifest(from, corr, m.addr, man, false)
}

// commitManifest commits man (checked against addr) once every chunk is
// here and the manifest neither moves a chunk nor claims another size
// than this node verified (movesChunks). lastRead says the last chunk's
// length was read and matched the claim: a held chunk whose length this
// node never verified (not staged by a push, no group cache verdict: one
// held through another object or a session) is read first, since the
// keys do not bind the last chunk's size.
func (s *Storage) commitManifest(from proto.NodeID, corr uint64, addr proto.Addr, man Manifest, lastRead bool) {
	reply := func(err error) {
		st := statusOK
		if err != nil {
			st = statusFailed
		}
		s.respond(from, corr, addr, st, nil)
	}
	if o := s.index.objects[addr]; o != nil {
		s.whenCommitted(addr, o, reply)
		return
	}
	if missing := s.missingChunks(&man); len(missing) > 0 {
		s.respond(from, corr, addr, statusMissing, appendAddrs(nil, missing))
		return
	}
	if s.movesChunks(&man) {
		s.reject(ReasonMalformed)
		s.respond(from, corr, addr, statusBad, nil)
		return
	}
	if last, off, unknown := s.lastSizeUnknown(&man); unknown && !lastRead {
		s.readLastForCommit(from, corr, addr, man, last, off)
		return
	}
	if !s.writeObject(addr, &object{manifest: man}, nil, nil, reply) {
		s.respond(from, corr, addr, statusBusy, nil)
	}
}

// lastSizeUnknown reports the last chunk of man and its offset when this
// node has not verified its length there: no push staged it at that
// offset (movesChunks then compared the sizes) and the group cache has
// no verdict for it.
func (s *Storage) lastSizeUnknown(man *Manifest) (ChunkRef, uint64, bool) {
	if len(man.Chunks) == 0 {
		return ChunkRef{}, 0, false
	}
	i := len(man.Chunks) - 1
	last, off := man.Chunks[i], man.chunkOffset(i)
	if st, staged := s.index.staged[last.Addr]; staged && st.off == off {
		return last, off, false
	}
	return last, off, s.groups.verified(last.Addr, off) == 0
}

// readLastForCommit reads and verifies the held last chunk of a commit's
// manifest at its offset, refuses the commit when its length is not the
// claimed size (statusBad: the keys merge to the address, the size lies),
// and else commits. A copy that fails its check is damage only at the
// chunk's known offset (chunkIntact); either way the commit fails
// (statusFailed) and the pusher may try again.
func (s *Storage) readLastForCommit(from proto.NodeID, corr uint64, addr proto.Addr, man Manifest, last ChunkRef, off uint64) {
	if s.damagedAt(last.Addr, off) {
		s.respond(from, corr, addr, statusFailed, nil) // not read again before its heal
		return
	}
	ok := s.submitJob([]env.DiskOp{s.chunkRead(last.Addr, off)}, func(res []env.DiskResult) {
		if !s.chunkIntact(last.Addr, off, res[0], addr) {
			s.respond(from, corr, addr, statusFailed, nil)
			return
		}
		// The bytes verified at off: their length is the chunk's there,
		// cached so a retried commit, a range's side check or checkEnd
		// judge the claim without another read.
		s.groups.put(last.Addr, off, uint64(len(res[0].Value)), nil)
		switch {
		case len(res[0].Value) != int(last.Size):
			s.reject(ReasonMalformed)
			s.respond(from, corr, addr, statusBad, nil)
		default:
			s.commitManifest(from, corr, addr, man, true)
		}
	})
	if !ok {
		s.respond(from, corr, addr, statusBusy, nil)
	}
}

// missingChunks lists (once each) the chunks of man not on this node.
func (s *Storage) missingChunks(man *Manifest) []proto.Addr {
	var missing []proto.Addr
	seen := map[proto.Addr]bool{}
	for _, c := range man.Chunks {
		if !s.index.hasChunk(c.Addr) && !seen[c.Addr] {
			seen[c.Addr] = true
			missing = append(missing, c.Addr)
		}
	}
	return missing
}

// movesChunks reports whether man places a chunk at an offset other than
// the one this node knows it at (index.chunkOffset: where a session or a
// push verified it, else where its held manifests agree to list it), or
// claims another size for it than the length this node verified. A
// chunk key binds its offset and its length, but the keys do not bind the
// sizes of the chunks (the last one's, and so the object's Size, nor
// those before it), so a manifest whose keys merge to the address may
// still move a chunk or lie about its size; committed here, the lie would
// make the index locate the chunk where it does not verify (readIntact,
// serveFetchChunk), or this node's gets believe a Size that is not the
// object's. The length known is the one a push verified (staged), else
// the group cache's verified length at the manifest's offset (a whole
// check passed there; a peek, without a read). The sizes the held
// manifests list are not used: a manifest written by an earlier build,
// or over chunks of a session, was committed without this check, so its
// sizes are claims, not verified lengths. A chunk nothing locates (listed
// at conflicting offsets, never verified here) is not judged on its
// offset.
func (s *Storage) movesChunks(man *Manifest) bool {
	var off uint64
	for _, c := range man.Chunks {
		if known, ok := s.index.chunkOffset(c.Addr); ok && known != off {
			return true
		}
		st, staged := s.index.staged[c.Addr]
		switch {
		case staged && st.off == off:
			if st.size != c.Size {
				return true
			}
		default:
			if n := s.groups.verified(c.Addr, off); n > 0 && n != uint64(c.Size) {
				return true
			}
		}
		off += uint64(c.Size)
	}
	return false
}

// whenCommitted calls done when the held object o is durable: at once if
// it is, else when its commit in flight completes.
func (s *Storage) whenCommitted(addr proto.Addr, o *object, done func(error)) {
	if o.committed {
		done(nil)
		return
	}
	if len(o.waiters) >= waitersMax {
		s.reject(ReasonOverload)
		done(errBusy)
		return
	}
	o.waiters = append(o.waiters, done)
}

// writeObject holds o and writes, in one FIFO job: the given chunks, the
// sealed manifest, the pin flag (if pin), then a sync. The object is
// committed (and done called) only after the sync completed. False when
// the disk job or the index is full (done not called).
//
// A kept pin's object (keptPins) is never written: its manifest on disk
// may be a newer build's, which the write would overwrite, and it is
// pinned there though not indexed here (recoverPin). Every write of it
// is refused (false): a put's local write fails, a peer's commit is
// answered busy, a put's hand-offs keep no copy here.
func (s *Storage) writeObject(addr proto.Addr, o *object, chunks [][]byte, pinOp *env.DiskOp, done func(error)) bool {
	if s.keptPin(addr) {
		s.reject(ReasonNewerFormat)
		return false
	}
	if len(s.index.objects) >= LocalObjectsMax || len(s.jobs) >= DiskJobsMax {
		s.reject(ReasonOverload)
		return false
	}
	ops := make([]env.DiskOp, 0, len(chunks)+3)
	for i, data := range chunks {
		if data != nil {
			ops = append(ops, env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixChunk, o.manifest.Chunks[i].Addr), Value: data})
		}
	}
	ops = append(ops, env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixManifest, addr), Value: env.Seal(AppendManifest(nil, &o.manifest))})
	if pinOp != nil {
		ops = append(ops, *pinOp)
	}
	if !s.cfg.BugAckBeforeSync {
		ops = append(ops, s.syncOp())
	}
	if _, lost := s.findLostPin(addr); lost {
		o.pinned = true // its pin record survived the manifest (recoverPin)
	}
	o.waiters = append(o.waiters, done)
	s.index.hold(addr, o)
	s.submitJob(ops, func(res []env.DiskResult) { s.finishWrite(addr, o, firstErr(res)) })
	return true
}

func (s *Storage) finishWrite(addr proto.Addr, o *object, err error) {
	if s.index.objects[addr] != o {
		return // dropped meanwhile (a restart resets the index)
	}
	if err != nil {
		s.index.drop(addr)
	} else {
		s.index.commit(addr)
		s.foundLostPin(addr)
		// Every commit of this build passed its commit check (a put's
		// manifest is split from its bytes, a session's hashed from
		// them, a peer's checked by commitManifest): the scrub need not
		// prove it, only read its bytes for rot.
		o.proven = true
		s.stats.ChunksWritten += uint64(len(o.manifest.Chunks))
		s.setGauges()
		s.enqueueProvide(addr)
	}
	waiters, deletes := o.waiters, o.deletes
	o.waiters, o.deletes = nil, nil
	for _, w := range waiters {
		w(err)
	}
	// The Deletes that waited go last, after every waiter (those that
	// arrived after them too: a request that overlapped a Delete may be
	// ordered before it), so that no waiter is told of a copy removed.
	if len(deletes) > 0 {
		s.runDeletes(addr, o, deletes, err)
	}
}

// serveFetchChunk reads, verifies and returns a chunk at the object
// offset the requester names. A chunk key is bound to its offset, so the
// requester's offset is a claim: a chunk the held manifests list at
// another offset is refused (statusBad, without a read: the requester's
// manifest lies, or the requester does) and one whose offset is unknown
// here (staged, in a session, or listed at conflicting offsets) and fails
// its check at the requester's offset is not served there
// (statusNotFound); neither counts corruption or marks the chunk damaged,
// which a peer's word cannot justify. Only a copy that fails its check at
// the chunk's known offset is corrupt: counted, never served
// (statusCorrupt), and queued for healing; until it is healed a request
// for it there is answered statusCorrupt without a read (damagedAt).
func (s *Storage) serveFetchChunk(from proto.NodeID, corr uint64, c proto.Addr, off uint64) {
	req := fetchReq{from, corr}
	if s.fetching[req] {
		// A resend of a request being read (RPCAttemptsMax: a slow
		// disk): the read answers it, and it is not counted against
		// the sender's reads again.
		return
	}
	if !s.index.hasChunk(c) {
		s.respond(from, corr, c, statusNotFound, nil)
		return
	}
	known, located := s.index.chunkOffset(c)
	if located && known != off {
		s.reject(ReasonBadRequest)
		s.respond(from, corr, c, statusBad, nil)
		return
	}
	if s.damagedAt(c, off) {
		// Found corrupt here and not yet healed: answered as a read
		// that fails its check is, without the read (counted once).
		s.respond(from, corr, c, statusCorrupt, nil)
		return
	}
	if s.fetchReads[from] >= FetchReadsPerSenderMax {
		// One sender's reads in flight hold their chunks' bytes until
		// answered: it may not hold more than its share of them.
		s.reject(ReasonFetchShare)
		s.respond(from, corr, c, statusBusy, nil)
		return
	}
	ok := s.submitJob([]env.DiskOp{s.chunkRead(c, off)}, func(res []env.DiskResult) {
		if s.fetchReads[from]--; s.fetchReads[from] <= 0 {
			delete(s.fetchReads, from)
		}
		delete(s.fetching, req)
		known, located := s.index.chunkOffset(c) // as chunkIntact judges it
		switch {
		case res[0].Err != nil && !isCorruption(res[0].Err):
			s.respond(from, corr, c, statusFailed, nil)
		case s.chunkIntact(c, off, res[0], proto.Addr{}):
			s.respond(from, corr, c, statusOK, res[0].Value)
		case located && known == off:
			s.respond(from, corr, c, statusCorrupt, nil)
		case located:
			s.respond(from, corr, c, statusBad, nil) // listed elsewhere since the request came
		default:
			// Its offset is unknown here: the failed check says nothing
			// of the disk (chunkIntact counted nothing).
			s.respond(from, corr, c, statusNotFound, nil)
		}
	})
	if !ok {
		s.respond(from, corr, c, statusBusy, nil)
		return
	}
	s.fetchReads[from]++
	s.fetching[req] = true
}

// fetchReq names one FetchChunk request: its sender and corr id.
type fetchReq struct {
	from proto.NodeID
	corr uint64
}
