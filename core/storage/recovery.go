package storage

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// recoveryReread tags (with tagRecovery) the second read of a manifest;
// recoveryScrubCursor the read of the scrub's cursor record.
const (
	recoveryReread      = 1
	recoveryScrubCursor = 2
)

// recoveryScan pages through the manifests, then the pin flags, at Start.
type recoveryScan struct {
	prefix string
	start  []byte
	drop   []env.DiskWrite // keys found corrupt or dangling, deleted at the end
	// reread: the manifest keys whose sealed bytes failed their check
	// (env.ErrCorruption), read once more after the manifest scan before
	// being deleted: a transient read fault must not cost a copy (nor
	// the pin of a node that is not placed, which nothing restores).
	reread [][]byte
	// rereading: the manifest scan is done and the reads of reread run,
	// one at a time.
	rereading bool
	// incomplete: a manifest on disk was left out of the index (a
	// malformed key, or LocalObjectsMax reached), so the index does not
	// know every chunk that is referenced and the orphan sweep must not run.
	incomplete bool
	// kept: the manifests left on disk but not indexed (a newer build
	// wrote them, or LocalObjectsMax was reached), at most
	// LocalObjectsMax; their pins are not lost (recoverPin). keptOver:
	// more were left than kept names, so no pin without an indexed
	// manifest is listed lost at this start (it may name one of them).
	kept     map[proto.Addr]bool
	keptOver bool
	// scrubCursor: the pin scan is done and the scrub cursor's record is
	// being read (when the scrub is on), the last step before ready.
	scrubCursor bool
}

func (s *Storage) startRecovery() {
	s.recovery = recoveryScan{prefix: prefixManifest}
	s.scanPage()
}

func (s *Storage) scanPage() {
	s.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagRecovery << tagKindShift,
		Prefix: []byte(s.recovery.prefix), Start: s.recovery.start, Limit: ScanPageMax})
}

func (s *Storage) onRecoveryPage(res env.DiskResult) {
	if s.ready {
		return
	}
	if res.Err != nil {
		// Retry the same page: a machine that cannot read its own disk
		// must not serve. The env's disk model bounds transient errors.
		s.scanPage()
		return
	}
	for _, kv := range res.Pairs {
		if s.recovery.prefix == prefixManifest {
			s.recoverManifest(kv, false)
		} else {
			s.recoverPin(kv)
		}
	}
	if res.More && len(res.Pairs) > 0 {
		s.recovery.start = append(res.Pairs[len(res.Pairs)-1].Key, 0)
		s.scanPage()
		return
	}
	if s.recovery.prefix == prefixManifest {
		if len(s.recovery.reread) > 0 {
			s.recovery.rereading = true
			s.rereadManifest()
			return
		}
		s.scanPins()
		return
	}
	if s.scrubOn() {
		s.recovery.scrubCursor = true
		s.env.Submit(env.DiskOp{Kind: env.DiskGet, Tag: tagRecovery<<tagKindShift | recoveryScrubCursor,
			Key: []byte(keyScrubCursor)})
		return
	}
	s.finishRecovery()
}

// onRecoveryScrubCursor resumes the scrub's pass after the object its
// record names; a missing, unreadable, corrupt or unknown record starts
// the pass from the lowest address (logged), never failing the start.
func (s *Storage) onRecoveryScrubCursor(res env.DiskResult) {
	if s.ready || !s.recovery.scrubCursor {
		return
	}
	s.recovery.scrubCursor = false
	addr, ended, hasEnd, why := parseScrubRecord(res)
	if why != "" {
		s.env.Log().Warn("storage: scrub cursor record unusable; the pass starts from the lowest address", "reason", why)
	}
	s.scrub.addr = addr
	if hasEnd {
		// A pass ended then: the pause after it goes on (a record of an
		// earlier build has no end time: the next pass starts at once).
		s.scrubRec.rest = scrubRestAfter(ended, s.env.Now(), s.cfg.ScrubPassInterval)
	}
	// An unusable record is not the zero address it resumes from: the
	// next write replaces it, whatever it names (scrubRecord.known).
	// No record at all is durably none (it is never deleted); a record
	// read may be one whose write a crash of the machine would still
	// lose, so a pass's end writes the zero address over it.
	s.scrubRec.saved, s.scrubRec.known = addr, why == ""
	s.scrubRec.durable = res.Err == nil && !res.Found
	s.setScrubPassRatio(addr)
	if s.scrubRec.rest > 0 {
		s.env.Metrics().Set(MetricScrubPassRatio, "", 1) // 1 through the pause
	}
	s.finishRecovery()
}

func (s *Storage) scanPins() {
	s.recovery.rereading = false
	s.recovery.prefix, s.recovery.start = prefixPin, nil
	s.scanPage()
}

// rereadManifest reads the first manifest of recovery.reread again.
func (s *Storage) rereadManifest() {
	s.env.Submit(env.DiskOp{Kind: env.DiskGet, Tag: tagRecovery<<tagKindShift | recoveryReread,
		Key: s.recovery.reread[0]})
}

// onRecoveryReread checks the second read of a manifest that failed its
// check in the scan: intact now, it is indexed; still failing, it is
// deleted (recoverManifest), and so is one whose read the disk itself
// answered env.ErrCorruption (a second corrupt read: retrying it could
// hang recovery on a disk that keeps finding it corrupt). Another failed
// read is retried, like a page.
func (s *Storage) onRecoveryReread(res env.DiskResult) {
	if s.ready || !s.recovery.rereading {
		return
	}
	if res.Err != nil && !errors.Is(res.Err, env.ErrCorruption) {
		s.rereadManifest()
		return
	}
	key := s.recovery.reread[0]
	s.recovery.reread = s.recovery.reread[1:]
	switch {
	case res.Err != nil:
		s.corruption(s.self)
		s.recovery.drop = append(s.recovery.drop, env.DiskWrite{Key: key, Delete: true})
	case res.Found:
		s.recoverManifest(env.KV{Key: key, Value: res.Value}, true)
	}
	if len(s.recovery.reread) > 0 {
		s.rereadManifest()
		return
	}
	s.scanPins()
}

// recoverManifest indexes one manifest. A corrupt one is counted and, on
// the scan's read (reread false), queued to be read once more; on the
// second read, or when it decoded but is wrong, it is deleted, so that
// the repair loop of another replica restores the object.
func (s *Storage) recoverManifest(kv env.KV, reread bool) {
	addr, ok := addrFromKey(prefixManifest, kv.Key)
	if !ok || len(s.index.objects) >= LocalObjectsMax {
		s.reject(ReasonOverload)
		s.recovery.incomplete = true
		if ok {
			s.keepUnindexed(addr) // intact on disk: its pin is not lost
		}
		return
	}
	raw, err := env.Unseal(kv.Value)
	var m Manifest
	if err == nil {
		m, err = DecodeManifest(raw)
	}
	if err == nil {
		err = m.checkFor(addr)
	}
	if errors.Is(err, env.ErrNewerFormat) {
		// A newer build wrote it: keep it for that build (a downgrade
		// must not delete what an upgrade wrote) and refuse it by name.
		s.reject(ReasonNewerFormat)
		s.env.Log().Error("storage: manifest of a newer format; not served by this build", "addr", addr.Short(), "err", err)
		s.keepUnindexed(addr) // its pin is not lost: a restore would overwrite it
		return
	}
	if err != nil {
		if errors.Is(err, env.ErrCorruption) || errors.Is(err, ErrBadManifest) {
			s.corruption(s.self)
		}
		if errors.Is(err, env.ErrCorruption) && !reread {
			s.recovery.reread = append(s.recovery.reread, kv.Key)
			return
		}
		s.recovery.drop = append(s.recovery.drop, env.DiskWrite{Key: kv.Key, Delete: true})
		return
	}
	s.index.hold(addr, &object{manifest: m})
	s.index.commit(addr)
}

// keepUnindexed remembers, for the pin scan, that addr's manifest stays
// on disk without being indexed.
func (s *Storage) keepUnindexed(addr proto.Addr) {
	if len(s.recovery.kept) >= LocalObjectsMax {
		s.recovery.keptOver = true
		return
	}
	if s.recovery.kept == nil {
		s.recovery.kept = map[proto.Addr]bool{}
	}
	s.recovery.kept[addr] = true
}

// recoverPin marks a held object pinned. A pin whose manifest is not held
// (deleted as corrupt, now or at an earlier start) is kept on disk and
// listed in lostPins: deleting it would end the pin guarantee for good on
// a node that is not placed; the tick restores the object from its
// holders (restoreLostPin), and any write of it here is pinned. A pin
// whose manifest is on disk but not indexed (written by a newer build, or
// beyond LocalObjectsMax) is not lost: its record stays and it is listed
// in keptPins instead, never restored, for a restore would overwrite a
// newer build's manifest or fetch an object that is intact here; nor is
// any other write of it made here (writeObject).
func (s *Storage) recoverPin(kv env.KV) {
	addr, ok := addrFromKey(prefixPin, kv.Key)
	if !ok {
		s.recovery.drop = append(s.recovery.drop, env.DiskWrite{Key: kv.Key, Delete: true})
		return
	}
	if o := s.index.committed(addr); o != nil {
		o.pinned = true
		return
	}
	if s.recovery.kept[addr] || s.recovery.keptOver {
		s.env.Log().Warn("storage: pinned object whose manifest is not indexed (newer format or too many objects); not restored", "addr", addr.Short())
		if len(s.keptPins) < KeptPinsMax {
			s.keptPins = append(s.keptPins, addr) // the scan is ascending
		}
		return
	}
	s.env.Log().Error("storage: pinned object without a manifest (lost to corruption); the pin is kept", "addr", addr.Short())
	if len(s.lostPins) < LostPinsMax {
		s.lostPins = append(s.lostPins, lostPin{addr: addr}) // the scan is ascending
	}
}

func (s *Storage) finishRecovery() {
	for len(s.recovery.drop) > 0 {
		n := min(len(s.recovery.drop), env.DiskBatchWritesMax)
		s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Batch: s.recovery.drop[:n]})
		s.recovery.drop = s.recovery.drop[n:]
	}
	s.recovery.kept = nil
	s.ready = true
	s.setLostPinsGauge()
	s.provideNext = append(s.provideNext[:0], s.index.sorted...)
	s.setGauges()
	s.tick = s.env.SetTimer(s.jitter(s.cfg.RepairInterval), tagTick<<tagKindShift)
	if s.scrubOn() {
		s.scrubRec.savedAt = s.env.Now()
		s.scrubWait(max(s.cfg.RepairInterval, s.scrubRec.rest))
	}
	s.startSweep()
}

// lostPin is a pin recovery found without its manifest (Storage.lostPins).
// retryAt: no restore of it starts before then; wait: the backoff its
// last failed restore set, doubling from Config.RepairInterval to
// LostPinRetryMax (a pin whose holders are all gone costs a get and a
// logged warning per backoff, not per tick). In memory only: a restart
// retries at once.
type lostPin struct {
	addr    proto.Addr
	retryAt env.Time
	wait    time.Duration
}

// findLostPin returns addr's index in lostPins and whether it is listed.
func (s *Storage) findLostPin(addr proto.Addr) (int, bool) {
	return slices.BinarySearchFunc(s.lostPins, addr, func(p lostPin, a proto.Addr) int { return compareAddr(p.addr, a) })
}

// foundLostPin forgets addr's lost pin once a write of the object
// committed it here (pinned by writeObject: its record is on disk).
func (s *Storage) foundLostPin(addr proto.Addr) {
	if i, lost := s.findLostPin(addr); lost {
		s.lostPins = slices.Delete(s.lostPins, i, i+1)
		s.setLostPinsGauge()
	}
}

// deleteLostPin is a client's Delete of addr whose pin recovery kept
// without its object: the record is deleted, and the Delete succeeds
// (there is no copy here to remove). False when addr's pin is not lost.
func (s *Storage) deleteLostPin(addr proto.Addr, done func(error)) bool {
	i, lost := s.findLostPin(addr)
	if !lost {
		return false
	}
	if s.deletePinRecord(addr, done) {
		s.lostPins = slices.Delete(s.lostPins, i, i+1)
		s.setLostPinsGauge()
	}
	return true
}

// deletePinRecord deletes addr's pin record and syncs, then answers done;
// false, with done answered busy, when the disk queue is full.
func (s *Storage) deletePinRecord(addr proto.Addr, done func(error)) bool {
	ops := []env.DiskOp{{Kind: env.DiskDelete, Key: diskKey(prefixPin, addr)}, s.syncOp()}
	if !s.submitJob(ops, func(res []env.DiskResult) { done(firstErr(res)) }) {
		s.reject(ReasonOverload)
		done(fmt.Errorf("%w: disk queue full", ErrBusy))
		return false
	}
	return true
}

// keptPin reports whether addr is one of keptPins: its pin record and
// (unless LocalObjectsMax hid it) its manifest are on disk, not indexed.
func (s *Storage) keptPin(addr proto.Addr) bool {
	_, kept := slices.BinarySearchFunc(s.keptPins, addr, compareAddr)
	return kept
}

// deleteKeptPin is a client's Delete of addr whose pin recovery kept
// with a manifest it did not index: the record is deleted and the Delete
// succeeds; the manifest stays for the build that wrote it, unpinned.
// False when addr's pin is not kept.
func (s *Storage) deleteKeptPin(addr proto.Addr, done func(error)) bool {
	i, kept := slices.BinarySearchFunc(s.keptPins, addr, compareAddr)
	if !kept {
		return false
	}
	if s.deletePinRecord(addr, done) {
		s.keptPins = slices.Delete(s.keptPins, i, i+1)
	}
	return true
}

// lostPinFailed backs addr's lost pin off after a failed restore (err)
// and logs it, once per attempt and so once per backoff.
func (s *Storage) lostPinFailed(addr proto.Addr, err error) {
	i, lost := s.findLostPin(addr)
	if !lost {
		return // deleted meanwhile
	}
	p := &s.lostPins[i]
	p.wait = min(max(2*p.wait, s.cfg.RepairInterval), LostPinRetryMax)
	p.retryAt = s.env.Now().Add(p.wait)
	s.env.Log().Warn("storage: lost pin not restored; retried later", "addr", addr.Short(), "retry_in", p.wait, "err", err)
}

func (s *Storage) setLostPinsGauge() {
	s.env.Metrics().Set(MetricPinsLost, "", float64(len(s.lostPins)))
}

// checkLostPins: lostPins is ascending, bounded, and names no committed
// object (a commit forgets its lost pin); restoring says whether the one
// restore get is in flight.
func (s *Storage) checkLostPins() {
	if len(s.lostPins) > LostPinsMax {
		panic("storage: lost pins exceed LostPinsMax")
	}
	restores := 0
	// map order ok: counts, outputs nothing
	for _, g := range s.gets {
		if g.restore != nil {
			restores++
		}
	}
	if restores > 1 || (restores == 1) != s.restoring {
		panic(fmt.Sprintf("storage: %d restore gets in flight, restoring %v", restores, s.restoring))
	}
	if len(s.keptPins) > KeptPinsMax {
		panic("storage: kept pins exceed KeptPinsMax")
	}
	for i, a := range s.keptPins {
		if i > 0 && compareAddr(s.keptPins[i-1], a) >= 0 {
			panic("storage: kept pins not ascending")
		}
		if s.index.objects[a] != nil {
			panic("storage: a kept pin names a held object")
		}
		if _, lost := s.findLostPin(a); lost {
			panic("storage: a kept pin is listed lost")
		}
	}
	for i, p := range s.lostPins {
		if i > 0 && compareAddr(s.lostPins[i-1].addr, p.addr) >= 0 {
			panic("storage: lost pins not ascending")
		}
		if s.index.committed(p.addr) != nil {
			panic("storage: a lost pin names a committed object")
		}
		if p.wait < 0 || p.wait > LostPinRetryMax {
			panic("storage: a lost pin's backoff out of bounds")
		}
	}
}

// restoreLostPin, on a tick, fetches one lost pin's object from its
// holders as a client's get does (the manifest from the placement nodes,
// then the DHT's providers, checked against the address; every chunk
// verified against its key) and writes it here, pinned, as a pinned put
// would. One restore is in flight at a time, taking the lost pins whose
// backoff has passed in turn; a failed one backs off (lostPinFailed).
// None starts while the index is full: writeObject would refuse it.
func (s *Storage) restoreLostPin() {
	if s.restoring || len(s.lostPins) == 0 || len(s.gets) >= InflightGetsMax || len(s.index.objects) >= LocalObjectsMax {
		return
	}
	now := s.env.Now()
	due := false
	var addr proto.Addr
	for range len(s.lostPins) {
		i := s.lostPinNext % len(s.lostPins)
		s.lostPinNext = i + 1
		if !now.Before(s.lostPins[i].retryAt) {
			addr, due = s.lostPins[i].addr, true
			break
		}
	}
	if !due || s.index.objects[addr] != nil {
		return // none due, or a write of it is in flight, and will be pinned
	}
	g := s.newGet(0, addr, 0, 0, false) // ready, and a get slot is free: not nil
	if g == nil {
		return
	}
	// The restore holds the whole object in memory, as a put does: a
	// streamed object larger than a put's is not restored (Known gaps).
	g.sizeMax = uint64(s.cfg.ObjectBytes)
	s.restoring = true
	g.restore = func(data []byte, err error) {
		s.restoring = false
		if err != nil {
			s.lostPinFailed(addr, err)
			return
		}
		if _, lost := s.findLostPin(addr); !lost || s.index.objects[addr] != nil {
			return // deleted, or written again, meanwhile
		}
		got, man := Split(data, s.cfg.ChunkBytes)
		if got != addr {
			return // not reachable: the get verified every byte
		}
		chunks := make([][]byte, len(man.Chunks))
		for i, c := range man.Chunks {
			if !s.index.hasChunk(c.Addr) {
				chunks[i] = man.chunkData(data, i)
			}
		}
		// No pin op: the record is on disk; writeObject pins the object
		// and its commit forgets the lost pin (foundLostPin).
		if !s.writeObject(addr, &object{manifest: man}, chunks, nil, func(err error) {
			if err != nil {
				s.lostPinFailed(addr, err)
				return
			}
			s.env.Log().Info("storage: lost pin restored from the object's holders", "addr", addr.Short())
		}) {
			s.lostPinFailed(addr, fmt.Errorf("%w: index or disk queue full", ErrUnavailable))
		}
	}
	s.findManifest(g)
}
