package storage

import (
	"slices"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// audit is one repair check of one local object: ask every other
// placement node whether it holds the object, push it to those that do
// not, and, when this node is not a placement node and the object is not
// pinned, remove the local copy once every placement node holds it.
type audit struct {
	addr    proto.Addr
	targets []proto.NodeID
	started env.Time
	pending int // checks and pushes outstanding
	held    int // placement nodes known to hold it (this one included)
	missing []proto.NodeID
}

// onTick runs one paced round of background work: prune stale staged
// chunks, resume a paused orphan sweep or start a due one, heal damaged
// chunks, announce objects, audit objects.
func (s *Storage) onTick() {
	s.pruneStaged()
	s.resumeSweep()
	s.sweepIfDue()
	s.gcSessions()
	s.healDamaged()
	s.provideSome()
	s.restoreLostPin()
	i := 0
	if !s.cfg.RepairOff {
		// At most half the tick's audits: revisits can keep each other
		// going (two backed-off nodes of one object), and the cursor must
		// always move (review4).
		i = s.revisitBackedOff(RepairObjectsPerTickMax / 2)
	}
	for ; !s.cfg.RepairOff && i < RepairObjectsPerTickMax && len(s.audits) < RepairAuditsMax; i++ {
		addr, ok := s.index.after(s.cursor)
		if !ok {
			break
		}
		s.cursor = addr
		if _, busy := s.audits[addr]; busy {
			break // wrapped around to an audit still running
		}
		s.startAudit(addr)
	}
	s.tick = s.env.SetTimer(s.jitter(s.cfg.RepairInterval), tagTick<<tagKindShift)
}

func (s *Storage) startAudit(addr proto.Addr) {
	a := &audit{addr: addr, targets: s.placement(addr), started: s.env.Now()}
	s.audits[addr] = a
	for _, t := range a.targets {
		if t == s.self {
			a.held++
			continue
		}
		a.pending++
		target := t
		sent := s.call(t, &message{kind: kindCheck, addr: addr}, func(reply *message, err error) {
			a.pending--
			if err == nil && reply.status == statusOK {
				a.held++
				s.handoffHeld(addr, target)
				s.repairConfirmed(addr, target)
			} else if err == nil && reply.status == statusNotFound && s.repairMayPush(addr, target) {
				a.missing = append(a.missing, target)
			}
			s.auditChecked(a)
		})
		if !sent {
			a.pending--
		}
	}
	s.auditChecked(a)
}

// auditChecked starts the pushes once every check answered.
func (s *Storage) auditChecked(a *audit) {
	if a.pending > 0 || s.audits[a.addr] != a {
		return
	}
	o := s.index.committed(a.addr)
	if o == nil || len(a.missing) == 0 {
		s.finishAudit(a, o)
		return
	}
	manBytes := AppendManifest(nil, &o.manifest)
	missing := a.missing
	a.missing = nil
	for _, t := range missing {
		a.pending++
		var p *push
		p = newPush(t, a.addr, &o.manifest, manBytes, nil, func(ok bool) {
			a.pending--
			s.repairPushed(a.addr, t, ok, p)
			if ok {
				a.held++
				s.handoffHeld(a.addr, t)
				s.stats.Repairs++
				s.env.Metrics().Add(MetricRepairs, "", 1)
				s.env.Metrics().Observe(MetricReplicationLag, "", s.env.Now().Sub(a.started).Seconds())
			}
			if a.pending == 0 {
				s.finishAudit(a, s.index.committed(a.addr))
			}
		})
		s.pump(p)
	}
}

// finishAudit ends the audit and collects the local copy when this node
// is not a placement node, the object is unpinned, and every placement
// node is known to hold it.
func (s *Storage) finishAudit(a *audit, o *object) {
	delete(s.audits, a.addr)
	if o == nil || (o.pinned && !s.cfg.BugIgnorePins) || slices.Contains(a.targets, s.self) || a.held < len(a.targets) {
		return
	}
	s.repairForget(a.addr)
	s.removeLocal(a.addr, func(error) {})
}

// pruneStaged forgets chunks that waited longer than StagedTTL for a
// commit and deletes those no object references.
func (s *Storage) pruneStaged() {
	now := s.env.Now()
	var batch []env.DiskWrite
	for _, c := range env.SortedKeysFunc(s.index.staged, compareAddr) {
		if now.Sub(s.index.staged[c].at) < s.cfg.StagedTTL || len(batch) == env.DiskBatchWritesMax {
			continue
		}
		s.index.unstage(c)
		if s.index.chunkRefs[c].refs == 0 && s.index.sessionRefs[c].refs == 0 {
			batch = append(batch, env.DiskWrite{Key: diskKey(prefixChunk, c), Delete: true})
		}
	}
	if len(batch) > 0 {
		s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
	}
}

// healDamaged fetches a healthy copy of up to HealsPerTickMax damaged
// chunks from the placement nodes of an object that lists them, else
// from the object's other holders the DHT names (fetchChunkWide).
func (s *Storage) healDamaged() {
	started := 0
	lookups := map[proto.Addr]*providerLookup{} // one per object (fetchChunkWide)
	for _, c := range env.SortedKeysFunc(s.damaged, compareAddr) {
		if started == HealsPerTickMax {
			return
		}
		if s.healing[c] {
			continue
		}
		// The chunk's known offset (index.chunkOffset: verified by a
		// session or a push, else agreed by its held manifests; a chunk
		// is marked damaged only when it failed its check there). When
		// nothing locates it any more, or no held object lists it, the
		// damage is forgotten without a heal: no placement to ask, and
		// a later read at its offset marks it again.
		off, known := s.index.chunkOffset(c)
		obj := s.damaged[c].obj
		if known && !s.objectLists(obj, c) {
			// The object the damage was found through is not held here
			// (a get's fetched manifest, or a GetChunk naming another
			// object), or was dropped since: its placement is not the
			// chunk's.
			obj = s.objectListing(c)
		}
		if !known || obj.IsZero() {
			delete(s.damaged, c)
			continue
		}
		started++
		s.healing[c] = true
		var cands []proto.NodeID
		for _, t := range s.placement(obj) {
			if t != s.self {
				cands = append(cands, t)
			}
		}
		chunk := c
		lu := lookups[obj]
		if lu == nil {
			lu = &providerLookup{}
			lookups[obj] = lu
		}
		s.fetchChunkWide(obj, c, off, cands, lu, func(data []byte, err error) {
			switch {
			case err == nil:
				delete(s.healing, chunk)
				if s.index.hasChunk(chunk) {
					s.healWith(chunk, data, HealReplica, nil)
				}
			case s.rereadDue(chunk, off):
				// No source served it (the only copy, or every replica
				// unreachable or rotten too): the fault may have been in
				// the read. A re-read that verifies clears the mark.
				if !s.reread(chunk, off, func([]byte) { delete(s.healing, chunk) }) {
					delete(s.healing, chunk)
				}
			default:
				delete(s.healing, chunk)
			}
		})
	}
}

// objectLists reports whether the held object obj lists chunk c.
func (s *Storage) objectLists(obj, c proto.Addr) bool {
	o := s.index.objects[obj]
	return o != nil && slices.ContainsFunc(o.manifest.Chunks, func(r ChunkRef) bool { return r.Addr == c })
}

// objectListing finds a held object whose manifest lists chunk c (zero if
// none), for the placement nodes to heal it from. Linear, but run only
// for a damaged chunk found through an object this node does not hold
// (a get's fetched manifest): damage is marked only from a failed check
// at the chunk's known offset, never at a peer's word, so it is rare.
func (s *Storage) objectListing(c proto.Addr) proto.Addr {
	for _, addr := range s.index.sorted {
		for _, ref := range s.index.objects[addr].manifest.Chunks {
			if ref.Addr == c {
				return addr
			}
		}
	}
	return proto.Addr{}
}

// healFrom heals, with a put's bytes (data, which man was split from:
// each chunk's bytes hash to it at its offset), every chunk of man this
// node holds marked damaged at that offset. Its writes are queued before
// those of the put (putLocal, keepCopy: the disk is FIFO), so the put's
// sync covers them and the copy it keeps is whole.
func (s *Storage) healFrom(man *Manifest, data []byte) {
	if data == nil {
		return // a session's put: its chunks are on this disk
	}
	var off uint64
	for _, c := range man.Chunks {
		if s.damagedAt(c.Addr, off) {
			// A chunk listed twice is written twice: the same bytes.
			s.healWith(c.Addr, data[off:off+uint64(c.Size)], HealPut, nil)
		}
		off += uint64(c.Size)
	}
}

// healWith rewrites a damaged local chunk with verified bytes, then
// calls done (if not nil) with the write's error. False when the write
// could not be queued (done not called). One heal write of a chunk is
// in flight at a time: a second heal (two puts, a resent StoreChunk, a
// session and a get) writes nothing and its done waits for the first's
// result (the same bytes: a chunk's key is the hash of its bytes at its
// offset). A repair is counted, and the mark cleared, only by a write
// that succeeded while the chunk was still marked, so one damaged chunk
// counts one repair (and one heal by via, the bytes' source).
func (s *Storage) healWith(c proto.Addr, data []byte, via string, done func(error)) bool {
	if waiting, ok := s.healWrites[c]; ok {
		if done != nil {
			s.healWrites[c] = append(waiting, done)
		}
		return true
	}
	ops := []env.DiskOp{{Kind: env.DiskPut, Key: diskKey(prefixChunk, c), Value: data}, s.syncOp()}
	ok := s.submitJob(ops, func(res []env.DiskResult) {
		err := firstErr(res)
		if _, marked := s.damaged[c]; marked && err == nil {
			delete(s.damaged, c)
			s.stats.Repairs++
			s.env.Metrics().Add(MetricRepairs, "", 1)
			s.env.Metrics().Add(MetricHeals, via, 1)
		}
		waiting := s.healWrites[c]
		delete(s.healWrites, c)
		for _, f := range waiting {
			f(err)
		}
	})
	if ok {
		var waiting []func(error)
		if done != nil {
			waiting = append(waiting, done)
		}
		s.healWrites[c] = waiting
	}
	return ok
}

// enqueueProvide queues a DHT announcement for a newly committed object.
func (s *Storage) enqueueProvide(addr proto.Addr) {
	if s.cfg.DHT == nil {
		return
	}
	if len(s.provideNext) >= ProvideQueueMax {
		s.reject(ReasonOverload)
		return
	}
	s.provideNext = append(s.provideNext, addr)
}

// provideSome announces up to ProvidesPerTickMax queued objects. The DHT
// republishes them itself until it restarts; storage re-queues every
// object at Start.
func (s *Storage) provideSome() {
	if s.cfg.DHT == nil {
		s.provideNext = s.provideNext[:0]
		return
	}
	n := min(len(s.provideNext), ProvidesPerTickMax)
	batch := slices.Clone(s.provideNext[:n])
	s.provideNext = slices.Delete(s.provideNext, 0, n)
	for _, addr := range batch {
		if s.HasLocal(addr) {
			s.cfg.DHT.ProvideAsync(addr, func(dht.ProvideResult) {})
		}
	}
}
