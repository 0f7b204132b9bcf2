package storage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// push copies one object to one target: its chunks (at most PushWindowMax
// in flight), then a commit with the manifest, which the target
// acknowledges only after its writes are synced. Puts push from the
// client's bytes in memory; repairs read (and verify) the local chunks.
type push struct {
	target     proto.NodeID
	addr       proto.Addr
	man        *Manifest
	manBytes   []byte
	data       []byte   // the object's bytes, or nil: read chunks from disk
	offsets    []uint64 // every chunk's object offset
	queue      []int    // chunk indexes still to send
	inflight   int
	rounds     int  // commit rounds that reported missing chunks
	committing bool // a commit is outstanding
	commitSent bool // a commit reached the wire: the target may hold it
	finished   bool
	// refused: the push failed at the target (a chunk or the commit
	// not acknowledged: refused, unanswered, or answered with a
	// malformed missing list), not here (a local read, a damaged or
	// unqueued chunk, an RPC not sent). Set before done(false).
	refused bool
	// transient: the refusal was a busy answer (load shed), which says
	// little of the next push (repair backoff: repairPushed).
	transient bool
	// bad: the target answered statusBad, a refusal of the request
	// itself. An honest put's chunks and manifest are valid, so it is
	// most likely the target's closed membership refusing this node
	// (serve.go), which the put's error then names (refusedDetail).
	bad  bool
	done func(ok bool)
	// calls are the corr ids of its requests outstanding (chunks and
	// commit), so that cancel can forget them.
	calls []uint64
	// owner is the put it serves (pushForPut), nil for a repair's or a
	// hand-off's: while the put trails, its calls count against
	// TrailingRPCsMax (Storage.trailingCalls).
	owner *putOp
}

func newPush(target proto.NodeID, addr proto.Addr, man *Manifest, manBytes, data []byte, done func(bool)) *push {
	p := &push{target: target, addr: addr, man: man, manBytes: manBytes, data: data, done: done, offsets: man.offsets()}
	p.queue = make([]int, len(man.Chunks))
	for i := range p.queue {
		p.queue[i] = i
	}
	return p
}

// pump sends what the window allows, and the commit once every chunk is
// acknowledged.
func (s *Storage) pump(p *push) {
	for !p.finished && p.inflight < PushWindowMax && len(p.queue) > 0 {
		i := p.queue[0]
		p.queue = p.queue[1:]
		p.inflight++
		if p.data != nil {
			s.sendChunk(p, i, p.data[p.offsets[i]:p.offsets[i]+uint64(p.man.Chunks[i].Size)])
		} else {
			s.readChunkForPush(p, i)
		}
	}
	if !p.finished && p.inflight == 0 && len(p.queue) == 0 && !p.committing {
		s.sendCommit(p)
	}
}

func (s *Storage) finishPush(p *push, ok bool) {
	if p.finished {
		return
	}
	p.finished = true
	p.done(ok)
}

// refusedPush fails p for its target's doing (push.refused); transient
// for a busy answer (push.transient). An unanswered push is not
// transient: its target answered the check that led to it.
func (s *Storage) refusedPush(p *push, transient bool) {
	if !p.finished {
		p.refused, p.transient = true, transient
	}
	s.finishPush(p, false)
}

// callFor sends m to p's target as one of p's outstanding requests
// (push.calls). A trailing put's push first makes room under
// TrailingRPCsMax (roomForTrailingCall): false, and nothing sent, when
// that let its own put go.
func (s *Storage) callFor(p *push, m *message, done func(*message, error)) bool {
	if p.owner != nil && p.owner.trailing && !s.roomForTrailingCall(p.owner) {
		return false
	}
	var corr uint64
	corr, sent := s.callCorr(p.target, m, func(reply *message, err error) {
		if k := slices.Index(p.calls, corr); k >= 0 {
			p.calls = slices.Delete(p.calls, k, k+1)
			if p.owner != nil && p.owner.trailing {
				s.trailingCalls--
			}
		}
		done(reply, err)
	})
	if sent {
		p.calls = append(p.calls, corr)
		if p.owner != nil && p.owner.trailing {
			s.trailingCalls++
		}
	}
	return sent
}

// cancelPush stops p without an outcome (its done is not called) and
// forgets its outstanding requests: nothing keeps retrying them, nor
// holds its bytes or an RPC slot, once the put it served ended
// (finishPut of a trailing put, letGo).
func (s *Storage) cancelPush(p *push) {
	p.finished = true
	for _, corr := range p.calls {
		s.cancelCall(corr)
	}
	if p.owner != nil && p.owner.trailing {
		s.trailingCalls -= len(p.calls)
	}
	p.calls = nil
}

func (s *Storage) sendChunk(p *push, i int, data []byte) {
	m := &message{kind: kindStoreChunk, addr: p.man.Chunks[i].Addr, offset: p.offsets[i], data: data}
	sent := s.callFor(p, m, func(reply *message, err error) {
		p.inflight--
		if err != nil || reply.status != statusOK {
			p.bad = p.bad || err == nil && reply.status == statusBad
			s.refusedPush(p, err == nil && reply.status == statusBusy)
			return
		}
		s.pump(p)
	})
	if !sent {
		p.inflight--
		s.finishPush(p, false)
	}
}

// readChunkForPush reads chunk i from the local disk and sends it if it
// verifies; a bad local copy fails the push and is queued for healing,
// and one already marked damaged fails it without a read.
func (s *Storage) readChunkForPush(p *push, i int) {
	c := p.man.Chunks[i].Addr
	if s.damagedAt(c, p.offsets[i]) {
		// Known bad until healed: not read (nor counted) again.
		p.inflight--
		s.finishPush(p, false)
		return
	}
	ok := s.submitJob([]env.DiskOp{s.chunkRead(c, p.offsets[i])}, func(res []env.DiskResult) {
		if p.finished {
			p.inflight--
			return
		}
		if !s.chunkIntact(c, p.offsets[i], res[0], p.addr) {
			p.inflight--
			s.finishPush(p, false)
			return
		}
		if len(res[0].Value) != int(p.man.Chunks[i].Size) {
			// The chunk matches its key, which binds its length, so the
			// manifest's size of it is wrong: do not hand that manifest
			// on (its gets fail with ErrBadManifest here).
			s.reject(ReasonMalformed)
			p.inflight--
			s.finishPush(p, false)
			return
		}
		s.sendChunk(p, i, res[0].Value)
	})
	if !ok {
		p.inflight--
		s.finishPush(p, false)
	}
}

func (s *Storage) sendCommit(p *push) {
	p.committing, p.commitSent = true, true
	m := &message{kind: kindCommit, addr: p.addr, data: p.manBytes}
	sent := s.callFor(p, m, func(reply *message, err error) {
		p.committing = false
		if p.finished {
			return
		}
		switch {
		case err != nil:
			// Unanswered after the node answered this audit's check: a
			// node that takes checks and drops pushes backs off doubling
			// (to 10 min), not as a busy one (review4).
			s.refusedPush(p, false)
		case reply.status == statusOK:
			s.finishPush(p, true)
		case reply.status == statusMissing && p.rounds < PushCommitRoundsMax:
			p.rounds++
			s.requeueMissing(p, reply.data)
		default:
			p.bad = p.bad || reply.status == statusBad
			s.refusedPush(p, reply.status == statusBusy)
		}
	})
	if !sent {
		p.committing = false
		s.finishPush(p, false)
	}
}

// requeueMissing resends the chunks a target reported missing at commit
// (lost to a crash, or pruned after StagedTTL).
func (s *Storage) requeueMissing(p *push, list []byte) {
	missing, err := decodeAddrs(list)
	if err != nil || len(missing) == 0 {
		s.reject(ReasonMalformed)
		s.refusedPush(p, false)
		return
	}
	want := map[proto.Addr]bool{}
	for _, a := range missing {
		want[a] = true
	}
	for i, c := range p.man.Chunks {
		if want[c.Addr] {
			p.queue = append(p.queue, i)
			delete(want, c.Addr) // send a repeated chunk once
		}
	}
	s.pump(p)
}

// chunkRead is the disk read of chunk c at object offset off. The disk
// verifies the bytes it read (chunkCheck, run by the disk off the node's
// loop, several reads at once); chunkIntact verifies them on the loop
// when the disk did not.
func (s *Storage) chunkRead(c proto.Addr, off uint64) env.DiskOp {
	op := env.DiskOp{Kind: env.DiskGet, Key: diskKey(prefixChunk, c)}
	if !s.cfg.BugServeUnverified {
		op.Check = chunkCheck(c, off)
	}
	return op
}

// chunkCheck is the pure check of chunk c's bytes at object offset off
// that chunkRead hands to the disk (it may run on another goroutine).
func chunkCheck(c proto.Addr, off uint64) func([]byte) error {
	return func(data []byte) error {
		if chunkMatches(c, off, data) {
			return nil
		}
		return fmt.Errorf("%w: %d bytes read as chunk %s at offset %d do not hash to it", env.ErrCorruption, len(data), c.Short(), off)
	}
}

// chunkIntact verifies a local read of chunk c at object offset off
// (chunkRead): the disk checked it (res.Checked), else chunkMatches here,
// one pass over its bytes. A missing or corrupt chunk at the offset the
// held manifests list it at (a read that failed its check there is
// corrupt) is counted and queued for healing (readIntact).
func (s *Storage) chunkIntact(c proto.Addr, off uint64, res env.DiskResult, obj proto.Addr) bool {
	return s.readIntact(c, off, res, obj, func(data []byte) error {
		if chunkMatches(c, off, data) {
			return nil
		}
		return env.ErrCorruption
	})
}

// readIntact is chunkIntact with the check of the bytes read given: the
// one the op carried (a whole chunk against its key, or some of its
// groups against their cached CVs), run here when the disk did not.
//
// A failed check is damage only at the chunk's known offset (the one the
// held manifests agree on: index.chunkOffset): the chunk's key binds its
// offset, so bytes checked at another offset fail whatever the disk
// holds, and that failure is evidence against whoever named the offset
// (a requester, a manifest), not against the disk. A chunk whose offset
// is unknown (only staged or in a session, or listed at several offsets
// by held manifests, one of which lies) is never marked damaged either:
// nothing proves which offset is its own.
func (s *Storage) readIntact(c proto.Addr, off uint64, res env.DiskResult, obj proto.Addr, check func([]byte) error) bool {
	if res.Err != nil && !isCorruption(res.Err) {
		return false // an I/O error says nothing about the bytes
	}
	if res.Err == nil && res.Found && (s.cfg.BugServeUnverified || res.Checked || check(res.Value) == nil) {
		return true
	}
	if !s.index.hasChunk(c) {
		return false // deleted meanwhile: not damage
	}
	// A chunk nothing locates is not damage (nor can a heal locate it);
	// bytes read are damage only if checked where the chunk belongs.
	if known, ok := s.index.chunkOffset(c); !ok || (res.Err != nil || res.Found) && known != off {
		return false
	}
	if _, ok := s.damaged[c]; ok {
		// Already counted: a read in flight when the chunk was marked
		// (later ones are not started: damagedAt) finds the same damage.
		return false
	}
	s.corruption(s.self)
	s.markDamaged(c, obj)
	return false
}

// damage is a chunk marked damaged: an object that lists it (whose
// placement a heal asks) and when its local copy was last read (the read
// that found the damage, or the last re-read: rereadDue).
type damage struct {
	obj  proto.Addr
	read env.Time
}

// damagedAt reports whether chunk c is marked damaged and off is its
// known offset (index.chunkOffset), where it failed its check: such a
// copy is not read again until it is healed (healWith unmarks it) or a
// re-read verifies it (reread), so the damage is read and counted once.
// A get fetches the chunk from the replicas instead (and heals it with
// their bytes), a peer's FetchChunk is answered statusCorrupt, a push or
// a commit that needs the copy fails, each without a read. At another
// offset the chunk's bytes would fail their check whatever the disk
// holds: callers refuse that offset before asking (placedElsewhere,
// serveFetchChunk).
func (s *Storage) damagedAt(c proto.Addr, off uint64) bool {
	if _, ok := s.damaged[c]; !ok {
		return false
	}
	known, ok := s.index.chunkOffset(c)
	return ok && known == off
}

// markDamaged queues chunk c (listed by object obj, or zero if unknown)
// for healing from a replica.
func (s *Storage) markDamaged(c, obj proto.Addr) {
	if _, ok := s.damaged[c]; ok {
		return
	}
	if len(s.damaged) >= DamagedChunksMax {
		s.reject(ReasonOverload)
		return
	}
	s.damaged[c] = damage{obj: obj, read: s.env.Now()}
}

// rereadDue reports whether chunk c, marked damaged at its known offset
// off, may be read again: no source served it (a heal or a get's fetch
// failed), and its copy was last read at least a RepairInterval ago. A
// fault may be in the read rather than the bytes stored (the simulator's
// corrupt_read injects such), and with no other copy the local one is
// the object's only hope; the bound keeps a truly rotten chunk from
// being read on every request (at most once per repair tick).
func (s *Storage) rereadDue(c proto.Addr, off uint64) bool {
	d, ok := s.damaged[c]
	return ok && s.damagedAt(c, off) && s.env.Now().Sub(d.read) >= s.cfg.RepairInterval
}

// reread reads the local copy of chunk c, marked damaged at its known
// offset off, again (rereadDue said it may). Bytes that verify there
// (BLAKE3 proves them, whatever the earlier read saw) clear the mark
// without a rewrite and are passed to done; a copy that fails again
// counts no new corruption (readIntact: the damage is counted once;
// storage_rereads_total counts the re-read) and done
// gets nil. False when the read could not be queued (done not called).
func (s *Storage) reread(c proto.Addr, off uint64, done func(data []byte)) bool {
	d := s.damaged[c]
	ok := s.submitJob([]env.DiskOp{s.chunkRead(c, off)}, func(res []env.DiskResult) {
		if !s.chunkIntact(c, off, res[0], d.obj) {
			s.env.Metrics().Add(MetricRereads, RereadFailed, 1)
			done(nil)
			return
		}
		s.env.Metrics().Add(MetricRereads, RereadVerified, 1)
		if known, ok := s.index.chunkOffset(c); ok && known == off {
			delete(s.damaged, c)
		}
		done(res[0].Value)
	})
	if ok {
		// Only a read queued restarts the wait: a refused one read
		// nothing, so the next request may try again at once.
		d.read = s.env.Now()
		s.damaged[c] = d
	}
	return ok
}

func isCorruption(err error) bool { return errors.Is(err, env.ErrCorruption) }

// errBusy is a local shed: a bound was hit.
var errBusy = errors.New("storage: busy")
