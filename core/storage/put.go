package storage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// putOp is one client put being replicated by this node (the
// coordinator). It is acknowledged when quorum placement replicas hold it
// durably and, for a pinned put, once this node's own pinned write is
// durable too; it is kept until every replica (and the pinned write)
// answered or the deadline passed, to measure the replication lag.
type putOp struct {
	id          uint64
	req         env.RequestID
	addr        proto.Addr
	man         Manifest
	manBytes    []byte
	data        []byte
	targets     []proto.NodeID
	quorum      int
	acked       int
	failed      int
	maybeStored bool  // a commit or local write was issued: the outcome may be "stored"
	localErr    error // why this node's own write failed, if it did
	// pin: the client pins the object here, so the acknowledgement waits
	// for this node's own write (localDone without localErr): an
	// acknowledged pinned put promises a copy kept on this node, whether
	// or not it is placed here. A failed pinned write answers the client
	// an error at once (pinFailed) and the put is never acknowledged.
	pin       bool
	localDone bool
	replied   bool
	started   env.Time
	ackedAt   env.Time
	timer     env.TimerID
	pushes    []*push
	// sessionChunks are the session references a committed upload holds
	// on its local chunks; released when the put finishes.
	sessionChunks []ChunkRef
	// acknowledged: the put was answered as stored (quorum reached).
	acknowledged bool
	// holders are the placement nodes (this one excepted) whose push
	// was acknowledged; the others get hand-offs (handoff.go).
	holders []proto.NodeID
	// refusers are the placement nodes that refused its requests
	// (push.bad): named in its error (refusedDetail).
	refusers []proto.NodeID
	// deleted: the client deleted it here while the put ran: a hand-off
	// must not write it back (handOff).
	deleted bool
	// trailing: acknowledged with pushes still open (Storage.trailing):
	// it no longer counts against InflightPutsMax; footprint is what it
	// counts against TrailingPutBytesMax.
	trailing  bool
	footprint int64
}

func (s *Storage) onPut(req env.RequestID, body Put) {
	switch {
	case !s.ready:
		s.reject(ReasonRecovering)
		s.env.Reply(req, PutResult{Err: fmt.Errorf("%w: recovering", ErrUnavailable)})
		return
	case len(body.Data) > s.cfg.ObjectBytes:
		s.reject(ReasonTooLarge)
		s.env.Reply(req, PutResult{Err: fmt.Errorf("%w: %d bytes exceed %d", ErrTooLarge, len(body.Data), s.cfg.ObjectBytes)})
		return
	case s.activePuts() >= InflightPutsMax:
		s.reject(ReasonOverload)
		s.env.Reply(req, PutResult{Err: fmt.Errorf("%w: %d puts in flight", ErrBusy, InflightPutsMax)})
		return
	}
	addr, man := Split(body.Data, s.cfg.ChunkBytes)
	s.startPut(req, addr, man, body.Data, body.Pin, nil, 0)
}

// startPut writes the object locally (when placed here or pinned) and
// pushes it to the other placement nodes. data is the object's bytes, or
// nil for a committed session whose chunks are on the local disk and
// held by sessionChunks until the put finishes; extra lengthens the
// deadline.
func (s *Storage) startPut(req env.RequestID, addr proto.Addr, man Manifest, data []byte, pin bool,
	sessionChunks []ChunkRef, extra time.Duration) {
	p := &putOp{req: req, addr: addr, man: man, data: data, sessionChunks: sessionChunks, started: s.env.Now(), pin: pin}
	s.healFrom(&p.man, data)
	p.manBytes = AppendManifest(nil, &p.man)
	p.targets = s.placement(p.addr)
	p.quorum = min(s.cfg.WriteQuorum, len(p.targets))
	s.nextOp = (s.nextOp + 1) & tagValueMask
	p.id = s.nextOp
	s.puts[p.id] = p
	p.timer = s.env.SetTimer(s.cfg.PutTimeout+extra, tagPut<<tagKindShift|p.id)
	local := slices.Contains(p.targets, s.self)
	if local || pin {
		s.putLocal(p, local, pin)
	}
	for _, t := range p.targets {
		if t != s.self {
			s.pushForPut(p, t)
		}
	}
}

// putLocal writes the object on this node (when it is a placement replica
// or the client pins it); it counts as a replica only when placed here.
func (s *Storage) putLocal(p *putOp, placed, pin bool) {
	done := func(err error) {
		p.localDone = true
		if err != nil {
			p.localErr = err
		}
		if p.pin && err != nil {
			s.pinFailed(p)
		}
		if placed {
			s.replicaDone(p, err == nil)
		} else {
			s.putProgress(p)
		}
	}
	var pinOp *env.DiskOp
	if s.cfg.BugRepinLost && s.deleted[p.addr] {
		pin = false
	}
	if pin {
		pinOp = &env.DiskOp{Kind: env.DiskPut, Key: diskKey(prefixPin, p.addr), Value: []byte{1}}
	}
	if s.keptPin(p.addr) {
		// A newer build's manifest (or one beyond LocalObjectsMax) is
		// kept here, pinned: not overwritten (writeObject). A pinned put
		// is refused for good (ErrKeptByNewerBuild, pinFailed); an
		// unpinned one only loses this replica, which others may make
		// up for, so its failure stays retryable.
		s.reject(ReasonNewerFormat)
		if pin {
			done(fmt.Errorf("%w (%s)", ErrKeptByNewerBuild, p.addr.Short()))
			return
		}
		done(fmt.Errorf("%w: %s is pinned here with a manifest this build does not index (newer format, or LocalObjectsMax)", ErrUnavailable, p.addr.Short()))
		return
	}
	p.maybeStored = true
	if o := s.index.objects[p.addr]; o != nil {
		s.pinExisting(p.addr, o, pinOp, done)
		return
	}
	chunks := make([][]byte, len(p.man.Chunks))
	for i, c := range p.man.Chunks {
		if p.data != nil && !s.index.hasChunk(c.Addr) {
			chunks[i] = p.man.chunkData(p.data, i)
		}
	}
	if !s.writeObject(p.addr, &object{manifest: p.man, pinned: pin}, chunks, pinOp, done) {
		done(errBusy)
	}
}

// pinExisting waits for a held object's commit, then persists the pin.
// o.pinned is set when the pin write starts, so GC keeps the object
// meanwhile (repair.go), but only o.pinWrite's end answers: a pinned put
// arriving while the pin write is in flight waits for it (at most
// waitersMax), and none is answered before the record is durable. A
// failed or refused pin write unpins o again (its record's fate is
// unknown: a restart finds it pinned if it is on disk) and every waiter
// gets the failure (pinFailed: ErrUnknownOutcome with the disk error).
func (s *Storage) pinExisting(addr proto.Addr, o *object, pinOp *env.DiskOp, done func(error)) {
	s.whenCommitted(addr, o, func(err error) {
		switch {
		case err != nil || pinOp == nil || (o.pinned && o.pinWrite == nil):
			done(err)
			return
		case len(o.pinWrite) >= waitersMax:
			s.reject(ReasonOverload)
			done(errBusy)
			return
		case o.pinWrite != nil:
			o.pinWrite = append(o.pinWrite, done)
			return
		}
		o.pinned, o.pinWrite = true, []func(error){done}
		finish := func(err error) {
			waiters := o.pinWrite
			o.pinWrite = nil
			if err != nil {
				o.pinned = false
			}
			for _, w := range waiters {
				w(err)
			}
		}
		ops := []env.DiskOp{*pinOp, s.syncOp()}
		if !s.submitJob(ops, func(res []env.DiskResult) { finish(firstErr(res)) }) {
			finish(errBusy)
		}
	})
}

func (s *Storage) pushForPut(p *putOp, target proto.NodeID) {
	var pu *push
	pu = newPush(target, p.addr, &p.man, p.manBytes, p.data, func(ok bool) {
		if pu.commitSent {
			p.maybeStored = true
		}
		if ok && s.puts[p.id] == p {
			p.holders = append(p.holders, target)
		}
		if !ok && pu.bad && s.puts[p.id] == p {
			p.refusers = append(p.refusers, target)
		}
		s.replicaDone(p, ok)
	})
	pu.owner = p
	p.pushes = append(p.pushes, pu)
	s.pump(pu)
}

// replicaDone counts one replica's outcome (putProgress).
func (s *Storage) replicaDone(p *putOp, ok bool) {
	if s.puts[p.id] != p {
		return // finished (deadline) or from before a restart
	}
	if ok {
		p.acked++
	} else {
		p.failed++
	}
	s.putProgress(p)
}

// pinFailed answers a pinned put whose write on this node failed: the
// pinned copy the acknowledgement would promise is not held, so the client
// gets an error now (unknown outcome: the placement nodes may still store
// the object, and a retry is safe since a put is idempotent). The put goes
// on replicating but is never acknowledged, so it hands nothing off.
func (s *Storage) pinFailed(p *putOp) {
	if s.puts[p.id] != p || p.replied {
		return
	}
	p.replied = true
	s.env.Metrics().Observe(MetricPutLatency, "", s.env.Now().Sub(p.started).Seconds())
	err := p.failure(fmt.Errorf("%w: the pinned copy on this node was not written", ErrUnknownOutcome))
	if errors.Is(p.localErr, ErrKeptByNewerBuild) {
		// Refused for good, not an unknown outcome: a retry would be
		// refused the same way (doc.go, kept pins).
		err = fmt.Errorf("the pinned copy on this node was not written: %w", p.localErr)
	}
	s.env.Reply(p.req, PutResult{Addr: p.addr, Size: p.man.Size, Replicas: p.acked, Err: err})
}

// putProgress acknowledges the put once quorum replicas are durable (and,
// when pinned, this node's own write), and finishes it once every replica
// and the pinned write answered.
func (s *Storage) putProgress(p *putOp) {
	if s.puts[p.id] != p {
		return // finished (deadline) or from before a restart
	}
	pinHeld := !p.pin || (p.localDone && p.localErr == nil)
	if !p.replied && p.acked >= p.quorum && pinHeld {
		p.replied, p.acknowledged, p.ackedAt = true, true, s.env.Now()
		s.env.Metrics().Observe(MetricPutLatency, "", p.ackedAt.Sub(p.started).Seconds())
		s.env.Reply(p.req, PutResult{Addr: p.addr, Size: p.man.Size, Replicas: p.acked})
	}
	if p.acked+p.failed < len(p.targets) || (p.pin && !p.localDone) {
		if p.acknowledged && !p.trailing {
			s.trail(p)
		}
		return
	}
	if p.acknowledged && p.acked == len(p.targets) {
		s.env.Metrics().Observe(MetricReplicationLag, "", s.env.Now().Sub(p.ackedAt).Seconds())
	}
	outcome := ErrUnavailable
	if p.maybeStored {
		outcome = ErrUnknownOutcome
	}
	s.finishPut(p, p.failure(fmt.Errorf("%w: %d of %d replicas stored it, quorum %d%s", outcome, p.acked, len(p.targets), p.quorum, p.refusedDetail())))
}

// refusedDetail names the placement nodes that refused the put's
// requests (push.bad), for its error: "; <id> refused: ...". The wire
// has one refusal status (statusBad) for an invalid request and for a
// sender outside the target's membership; an honest put's requests are
// valid, so the detail says what most likely happened and what to do.
func (p *putOp) refusedDetail() string {
	if len(p.refusers) == 0 {
		return ""
	}
	ids := make([]string, len(p.refusers))
	for i, id := range p.refusers {
		ids[i] = id.String()
	}
	verb := "refused"
	if len(ids) > 1 {
		verb = "each refused"
	}
	return "; " + strings.Join(ids, ", ") + " " + verb + " it: this node is likely not in its membership (list this node in members there)"
}

// failure adds to err why this node's own write failed, if it did: a
// full disk (env.ErrDiskFull in the chain) is then answered as such, and
// the client retries later rather than taking the unknown outcome for a
// lost acknowledgement (a put is idempotent, so either retry is safe).
func (p *putOp) failure(err error) error {
	if p.localErr == nil {
		return err
	}
	return fmt.Errorf("%w; this node's write: %w", err, p.localErr)
}

// deadlinePassed ends a put that is still replicating.
func (p *putOp) deadlinePassed(s *Storage) {
	err := fmt.Errorf("%w: %d of %d replicas acknowledged by the deadline%s", ErrUnavailable, p.acked, len(p.targets), p.refusedDetail())
	if p.maybeStored {
		err = fmt.Errorf("%w: %d of %d replicas acknowledged by the deadline%s", ErrUnknownOutcome, p.acked, len(p.targets), p.refusedDetail())
	}
	s.finishPut(p, p.failure(err))
}

// finishPut replies err if the put was not acknowledged, and forgets it.
// Unfinished pushes stop; an acknowledged put hands off to the placement
// nodes it did not reach (handoff.go), and the repair loop completes
// what the others started.
func (s *Storage) finishPut(p *putOp, err error) {
	delete(s.puts, p.id)
	s.env.CancelTimer(p.timer)
	if p.trailing {
		// Its pushes' requests still outstanding (the rest of a failed
		// push's window, or all of an open push's) are forgotten: no
		// retry of theirs holds an RPC slot past the put (TrailingRPCsMax
		// counts them only while it trails).
		for _, pu := range p.pushes {
			s.cancelPush(pu)
		}
		s.trailing = slices.DeleteFunc(s.trailing, func(q *putOp) bool { return q == p })
		s.trailingBytes -= p.footprint
		p.trailing = false
	}
	for _, pu := range p.pushes {
		pu.finished = true
	}
	if p.acknowledged {
		s.handOff(p) // before the session's chunks are released: it may keep a copy of them
	}
	if p.sessionChunks != nil {
		s.releaseSessionChunks(p.sessionChunks)
		p.sessionChunks = nil
	}
	if !p.replied {
		p.replied = true
		s.env.Metrics().Observe(MetricPutLatency, "", s.env.Now().Sub(p.started).Seconds())
		s.env.Reply(p.req, PutResult{Addr: p.addr, Size: p.man.Size, Replicas: p.acked, Err: err})
	}
}

// activePuts is the puts not yet answered as stored (or failed): the
// ones InflightPutsMax bounds. An acknowledged put still pushing to the
// placement nodes it has not reached is trailing and counts against
// TrailingPutsMax and TrailingPutBytesMax instead, so a placement node
// that is down (whose pushes fail only after the RPC's retries, about
// 3.75 s, or at PutTimeout) does not make the node refuse puts busy.
func (s *Storage) activePuts() int { return len(s.puts) - len(s.trailing) }

// trail moves the acknowledged put p, whose pushes are still open, from
// the active puts to the trailing ones, with its pushes' outstanding
// requests. When that takes the trailing puts past TrailingPutsMax, their
// footprint past TrailingPutBytesMax or their requests past
// TrailingRPCsMax, the oldest ones are let go at once (letGo) until every
// bound holds (p itself last: with it alone they hold).
func (s *Storage) trail(p *putOp) {
	p.trailing = true
	p.footprint = p.bytesHeld()
	s.trailing = append(s.trailing, p)
	s.trailingBytes += p.footprint
	s.trailingCalls += p.calls()
	for len(s.trailing) > TrailingPutsMax || s.trailingBytes > TrailingPutBytesMax || s.trailingCalls > TrailingRPCsMax {
		s.letGo(s.trailing[0])
	}
}

// roomForTrailingCall makes room for one more request of the trailing
// put p's pushes under TrailingRPCsMax: the oldest trailing puts are let
// go until it fits. False when p was let go itself (it was the oldest):
// the request is not sent.
//
// Let go rather than wait: the put is acknowledged, and what is left of
// it is exactly what a hand-off does (paced, under HandoffsMax, one
// attempt per node at a time). A waiting push would hold its bytes and
// its other requests, most likely to the same unanswering node, and need
// a queue to be woken from; the oldest trailing put is the one longest
// stuck, and the newest are the likeliest to complete.
func (s *Storage) roomForTrailingCall(p *putOp) bool {
	for p.trailing && s.trailingCalls >= TrailingRPCsMax {
		s.letGo(s.trailing[0])
	}
	return p.trailing
}

// calls is the requests p's pushes have outstanding.
func (p *putOp) calls() int {
	n := 0
	for _, pu := range p.pushes {
		n += len(pu.calls)
	}
	return n
}

// letGo finishes the trailing put p before its pushes ended: they are
// cancelled (no retry is sent, and no request of theirs holds the put's
// bytes or an RPC slot any more) and the placement nodes not reached yet
// get hand-offs, as at the put's deadline (finishPut). It was answered
// as stored, so it is no reject: counted in
// storage_trailing_let_go_total.
func (s *Storage) letGo(p *putOp) {
	s.env.Metrics().Add(MetricTrailingLetGo, "", 1)
	s.finishPut(p, nil)
}

// bytesHeld is what p holds in memory while its pushes run: the object's
// bytes of a whole put, the manifest (encoded and decoded), and for a
// committed session (its bytes on disk) the chunk reads a push window may
// have in flight per placement node.
func (p *putOp) bytesHeld() int64 {
	n := int64(len(p.data)) + 2*int64(len(p.manBytes))
	if p.data == nil && len(p.man.Chunks) > 0 {
		largest := int64(p.man.Chunks[0].Size)
		n += int64(len(p.targets)) * PushWindowMax * largest
	}
	return n
}

// onDelete unpins addr and removes this node's copy. Other replicas keep
// theirs (see the package doc). A copy whose write is in flight (a put's
// local write, a peer's commit, the copy a put keeps for its hand-offs)
// is removed when the write completes (finishWrite): the Delete is
// answered then, as if it had arrived just after.
func (s *Storage) onDelete(req env.RequestID, addr proto.Addr) {
	if !s.ready {
		s.reject(ReasonRecovering)
		s.env.Reply(req, DeleteResult{Err: fmt.Errorf("%w: recovering", ErrUnavailable)})
		return
	}
	o := s.index.objects[addr]
	switch {
	case o == nil && s.deleteLostPin(addr, func(err error) { s.env.Reply(req, DeleteResult{Err: err}) }):
	case o == nil && s.deleteKeptPin(addr, func(err error) { s.env.Reply(req, DeleteResult{Err: err}) }):
	case o == nil:
		s.env.Reply(req, DeleteResult{Err: fmt.Errorf("%w: %s", ErrNotFound, addr.Short())})
	case !o.committed && len(o.deletes) >= waitersMax:
		s.reject(ReasonOverload)
		s.env.Reply(req, DeleteResult{Err: fmt.Errorf("%w: %d deletes wait for its write", ErrUnavailable, waitersMax)})
	case !o.committed:
		o.deletes = append(o.deletes, req)
	default:
		s.deleteLocal(addr, func(err error) { s.env.Reply(req, DeleteResult{Err: err}) })
	}
}

// deleteLocal is a client's Delete of the committed object addr: it
// removes the local copy and marks the puts of addr in flight, so that
// their hand-offs keep no copy (handOff). done gets the outcome.
func (s *Storage) deleteLocal(addr proto.Addr, done func(error)) {
	if s.cfg.BugRepinLost {
		if s.deleted == nil {
			s.deleted = map[proto.Addr]bool{}
		}
		s.deleted[addr] = true
	}
	if !s.removeLocal(addr, done) {
		done(fmt.Errorf("%w: disk queue full", ErrBusy))
		return
	}
	// map order ok: sets the same flag on each matching put, nothing else
	for _, p := range s.puts {
		if p.addr == addr {
			p.deleted = true // its hand-off keeps no copy (handOff)
		}
	}
}

// runDeletes answers the Deletes that waited for o's write (reqs), which
// just completed with err: a failed write stored nothing here (not
// found), unless addr is a lost pin (its record is still on disk: it is
// deleted, and the Deletes succeed, as when they find no write in
// flight; answered not found, the record would bring the object back
// pinned at the next restore); a completed one is removed now.
func (s *Storage) runDeletes(addr proto.Addr, o *object, reqs []env.RequestID, err error) {
	reply := func(err error) {
		for _, r := range reqs {
			s.env.Reply(r, DeleteResult{Err: err})
		}
	}
	if err != nil || s.index.committed(addr) != o {
		if s.index.objects[addr] == nil && s.deleteLostPin(addr, reply) {
			return
		}
		reply(fmt.Errorf("%w: %s (its write failed)", ErrNotFound, addr.Short()))
		return
	}
	s.deleteLocal(addr, reply)
}

// removeLocal drops addr from the index and deletes its manifest, pin and
// no longer referenced chunks, then syncs. False when the disk queue is
// full (nothing changed).
func (s *Storage) removeLocal(addr proto.Addr, done func(error)) bool {
	if len(s.jobs) >= DiskJobsMax {
		s.reject(ReasonOverload)
		return false
	}
	unreferenced := s.index.drop(addr)
	s.dropHandoffs(addr, HandoffGone) // no copy to push from
	// The manifest goes first, so a crash in between never leaves a
	// manifest without its chunks (the disk keeps a prefix of the writes).
	ops := []env.DiskOp{{Kind: env.DiskBatch, Batch: []env.DiskWrite{
		{Key: diskKey(prefixManifest, addr), Delete: true},
		{Key: diskKey(prefixPin, addr), Delete: true},
	}}}
	for len(unreferenced) > 0 {
		n := min(len(unreferenced), env.DiskBatchWritesMax)
		batch := make([]env.DiskWrite, n)
		for i, c := range unreferenced[:n] {
			batch[i] = env.DiskWrite{Key: diskKey(prefixChunk, c), Delete: true}
			delete(s.damaged, c)
		}
		ops = append(ops, env.DiskOp{Kind: env.DiskBatch, Batch: batch})
		unreferenced = unreferenced[n:]
	}
	s.setGauges()
	ops = append(ops, s.syncOp())
	return s.submitJob(ops, func(res []env.DiskResult) { done(firstErr(res)) })
}
