package storage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// recoveryReread tags (with tagRecovery) the second read of a manifest.
const recoveryReread = 1

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
// deleted (recoverManifest). A failed read is retried, like a page.
func (s *Storage) onRecoveryReread(res env.DiskResult) {
	if s.ready || !s.recovery.rereading {
		return
	}
	if res.Err != nil {
		s.rereadManifest()
		return
	}
	key := s.recovery.reread[0]
	s.recovery.reread = s.recovery.reread[1:]
	if res.Found {
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

// recoverPin marks a held object pinned. A pin whose manifest is not held
// (deleted as corrupt, now or at an earlier start) is kept on disk and
// listed in lostPins: deleting it would end the pin guarantee for good on
// a node that is not placed; the tick restores the object from its
// holders (restoreLostPin), and any write of it here is pinned.
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
	s.env.Log().Error("storage: pinned object without a manifest (lost to corruption); the pin is kept", "addr", addr.Short())
	if len(s.lostPins) < LostPinsMax {
		s.lostPins = append(s.lostPins, addr) // the scan is ascending
	}
}

func (s *Storage) finishRecovery() {
	for len(s.recovery.drop) > 0 {
		n := min(len(s.recovery.drop), env.DiskBatchWritesMax)
		s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Batch: s.recovery.drop[:n]})
		s.recovery.drop = s.recovery.drop[n:]
	}
	s.ready = true
	s.setLostPinsGauge()
	s.provideNext = append(s.provideNext[:0], s.index.sorted...)
	s.setGauges()
	s.tick = s.env.SetTimer(s.jitter(s.cfg.RepairInterval), tagTick<<tagKindShift)
	if s.scrubOn() {
		s.scrubWait(s.cfg.RepairInterval)
	}
	s.startSweep()
}

// foundLostPin forgets addr's lost pin once a write of the object
// committed it here (pinned by writeObject: its record is on disk).
func (s *Storage) foundLostPin(addr proto.Addr) {
	if i, lost := slices.BinarySearchFunc(s.lostPins, addr, compareAddr); lost {
		s.lostPins = slices.Delete(s.lostPins, i, i+1)
		s.setLostPinsGauge()
	}
}

// deleteLostPin is a client's Delete of addr whose pin recovery kept
// without its object: the record is deleted, and the Delete succeeds
// (there is no copy here to remove). False when addr's pin is not lost.
func (s *Storage) deleteLostPin(addr proto.Addr, done func(error)) bool {
	i, lost := slices.BinarySearchFunc(s.lostPins, addr, compareAddr)
	if !lost {
		return false
	}
	ops := []env.DiskOp{{Kind: env.DiskDelete, Key: diskKey(prefixPin, addr)}, s.syncOp()}
	if !s.submitJob(ops, func(res []env.DiskResult) { done(firstErr(res)) }) {
		s.reject(ReasonOverload)
		done(fmt.Errorf("%w: disk queue full", ErrBusy))
		return true
	}
	s.lostPins = slices.Delete(s.lostPins, i, i+1)
	s.setLostPinsGauge()
	return true
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
	for i, a := range s.lostPins {
		if i > 0 && compareAddr(s.lostPins[i-1], a) >= 0 {
			panic("storage: lost pins not ascending")
		}
		if s.index.committed(a) != nil {
			panic("storage: a lost pin names a committed object")
		}
	}
}

// restoreLostPin, on a tick, fetches one lost pin's object from its
// holders as a client's get does (the manifest from the placement nodes,
// then the DHT's providers, checked against the address; every chunk
// verified against its key) and writes it here, pinned, as a pinned put
// would. One restore is in flight at a time; a failed one is retried at a
// later tick, after the other lost pins had their turn.
func (s *Storage) restoreLostPin() {
	if s.restoring || len(s.lostPins) == 0 || len(s.gets) >= InflightGetsMax {
		return
	}
	i := s.lostPinNext % len(s.lostPins)
	s.lostPinNext = i + 1
	addr := s.lostPins[i]
	if s.index.objects[addr] != nil {
		return // a write of it is in flight, and will be pinned
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
			s.env.Log().Warn("storage: lost pin not restored; retried later", "addr", addr.Short(), "err", err)
			return
		}
		if _, lost := slices.BinarySearchFunc(s.lostPins, addr, compareAddr); !lost || s.index.objects[addr] != nil {
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
		s.writeObject(addr, &object{manifest: man}, chunks, nil, func(err error) {
			if err == nil {
				s.env.Log().Info("storage: lost pin restored from the object's holders", "addr", addr.Short())
			}
		})
	}
	s.findManifest(g)
}
