package storage

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// scrubState is the background scrub's cursor (doc.go, Scrub): the
// object it reads, the next chunk and its offset in the manifest. The
// address of the last object it finished is written to disk now and then
// (scrubRecord), and a restart resumes the pass after it.
type scrubState struct {
	addr  proto.Addr // the object being read (the zero address before the first)
	obj   *object    // its index entry when the scrub started it (nil: pick the next)
	chunk int        // the next chunk to read
	off   uint64     // its offset in obj's manifest
	// clean: every chunk read so far verified at its claimed offset with
	// its claimed size, so the next chunk's offset is proven too.
	clean bool
	busy  bool   // a scrub read is in flight (at most one)
	seq   uint64 // the armed timer's tag value; survives reset (see onScrubTimer)
}

// scrubOn reports whether the scrub runs (Config.ScrubBytesPerSecond).
func (s *Storage) scrubOn() bool { return s.cfg.ScrubBytesPerSecond > 0 }

// scrubWait arms the scrub's timer for d. One timer is armed at a time:
// a fired tag that is not the last armed one is ignored.
func (s *Storage) scrubWait(d time.Duration) {
	s.scrub.seq = (s.scrub.seq + 1) & tagValueMask
	s.env.SetTimer(d, tagScrub<<tagKindShift|s.scrub.seq)
}

func (s *Storage) onScrubTimer(seq uint64) {
	if seq != s.scrub.seq || s.scrub.busy || !s.ready {
		return
	}
	s.scrubStep()
}

// scrubPace is how long the scrub waits after reading n bytes, so that
// its reads stay under ScrubBytesPerSecond.
func (s *Storage) scrubPace(n uint64) time.Duration {
	return time.Duration(n * uint64(time.Second) / uint64(s.cfg.ScrubBytesPerSecond))
}

// scrubStep starts the next scrub read: the next chunk of the object
// under the cursor, else the first chunk of the next committed object in
// address order (wrapping around). It waits instead when the scrub is
// off, nothing is held, or the disk has one job slot left (that one is
// for client work).
func (s *Storage) scrubStep() {
	if !s.scrubOn() {
		return
	}
	sc := &s.scrub
	if len(s.jobs) >= DiskJobsMax-1 {
		s.scrubWait(s.cfg.RepairInterval)
		return
	}
	if s.scrubRec.passEnd {
		s.scrubEndPass()
		return
	}
	for range ScrubSkipsPerStepMax {
		o := sc.obj
		if o == nil || s.index.committed(sc.addr) != o || sc.chunk >= len(o.manifest.Chunks) {
			next, ok := s.index.after(sc.addr)
			if !ok {
				*sc = scrubState{seq: sc.seq}
				s.scrubWait(s.cfg.RepairInterval)
				return
			}
			if o != nil && compareAddr(next, sc.addr) <= 0 {
				// The pass is over (the cursor wrapped around): the
				// next starts from the lowest address after a pause,
				// once the pass-end record is durable (scrubEndPass).
				*sc = scrubState{seq: sc.seq}
				s.env.Metrics().Set(MetricScrubPassRatio, "", 1)
				s.scrubRec.passEnd = true
				s.scrubEndPass()
				return
			}
			*sc = scrubState{addr: next, obj: s.index.objects[next], clean: true, seq: sc.seq}
			o = sc.obj
			if o.lies || len(o.manifest.Chunks) == 0 {
				// Proven wrong already: its offsets are claims a read
				// would check chunks at in vain, nothing more to learn.
				// Or empty: nothing to read.
				s.scrubDone(o)
				continue
			}
		}
		ref := o.manifest.Chunks[sc.chunk]
		if s.damagedAt(ref.Addr, sc.off) || !s.index.hasChunk(ref.Addr) {
			// Marked damaged: not read again before its heal.
			s.scrubSkip(o)
			continue
		}
		if len(s.jobs) >= DiskJobsMax-1 {
			// A cursor record's write (scrubDone) took the slot
			// checked above: the last one stays client work's.
			s.scrubWait(s.cfg.RepairInterval)
			return
		}
		s.scrubRead(o, ref)
		return
	}
	s.scrubWait(s.cfg.RepairInterval)
}

// scrubSkip passes the cursor's chunk without reading it: it is not
// verified, so the offsets after it are not proven by this pass. A
// manifest this build's commit check accepted (proven) has its offsets
// proven already, and its next chunks are read; another's scrub ends
// here (a read at an unproven offset could call a healthy chunk damaged).
func (s *Storage) scrubSkip(o *object) {
	sc := &s.scrub
	sc.clean = false
	if !o.proven {
		s.scrubDone(o)
		return
	}
	sc.off += uint64(o.manifest.Chunks[sc.chunk].Size)
	sc.chunk++
	if sc.chunk == len(o.manifest.Chunks) {
		s.scrubDone(o)
	}
}

// scrubDone ends the scrub of o: every chunk verified where its manifest
// puts it and with the size it claims proves the manifest (proven).
func (s *Storage) scrubDone(o *object) {
	sc := &s.scrub
	if sc.clean && sc.chunk == len(o.manifest.Chunks) && !o.lies {
		o.proven = true
	}
	sc.chunk = len(o.manifest.Chunks)
	s.env.Metrics().Add(MetricScrubObjects, "", 1)
	s.setScrubPassRatio(sc.addr)
	s.saveScrubCursor(sc.addr)
}

// setScrubPassRatio sets storage_scrub_pass_ratio from the cursor: the
// fraction of the address space at or below addr (its first 8 bytes).
func (s *Storage) setScrubPassRatio(addr proto.Addr) {
	s.env.Metrics().Set(MetricScrubPassRatio, "", float64(binary.BigEndian.Uint64(addr[:8]))/(1<<64))
}

// scrubRecordVersion is the first byte of the cursor record's value.
const scrubRecordVersion = 1

// scrubRecord is the persistence of the scrub's cursor (keyScrubCursor):
// the sealed value is scrubRecordVersion then the address of the last
// object the pass finished (the zero address: the pass starts from the
// lowest). Within a pass it is written at most once per
// ScrubCursorInterval, when an object's scrub ends, one write in flight,
// never taking the last disk job slot, and without a sync of its own
// (doc.go, Scrub: a lost update only repeats some scrubbing). A pass's
// end writes the zero address at once, with a sync of its own, and the
// next pass starts only once that is durable (scrubEndPass): so a record
// that survives a crash never names an object of an earlier pass.
type scrubRecord struct {
	saved proto.Addr // the value of the last write that succeeded (or was read at Start)
	// known: saved is what the record holds. False after Start read a
	// record it could not use (unreadable, corrupt, unknown): the disk
	// holds something else, so the next write is never dropped as
	// naming saved.
	known bool
	// durable: saved is known and durable, so a pass's end need not
	// write it again: a pass-end record whose sync succeeded, or no
	// record at Start (never deleted, so none is durable either).
	durable bool
	savedAt env.Time // when the last write started (or recovery finished)
	saving  bool     // a write is in flight
	// passEnd: a pass ended and its record (the zero address, synced) is
	// not durable yet; no object of the next pass is read before it is.
	passEnd bool
	// rest: at Start, the rest of the pause after the pass whose end the
	// record holds (scrubRestAfter), waited before the first read.
	rest time.Duration
}

// scrubCursorOp is the write of addr as the cursor record.
func scrubCursorOp(addr proto.Addr) env.DiskOp {
	value := make([]byte, 0, 1+len(addr))
	value = append(append(value, scrubRecordVersion), addr[:]...)
	return env.DiskOp{Kind: env.DiskPut, Key: []byte(keyScrubCursor), Value: env.Seal(value)}
}

// scrubPassEndOp is the write of the pass-end record: the zero address,
// then when the pass ended (the env's clock, 8 bytes big-endian), so a
// restart during the pause waits only its rest (scrubRestAfter).
func scrubPassEndOp(ended env.Time) env.DiskOp {
	var zero proto.Addr
	value := make([]byte, 0, 1+len(zero)+8)
	value = append(append(value, scrubRecordVersion), zero[:]...)
	value = binary.BigEndian.AppendUint64(value, uint64(ended))
	return env.DiskOp{Kind: env.DiskPut, Key: []byte(keyScrubCursor), Value: env.Seal(value)}
}

// scrubRestAfter is how much of the pause after a pass that ended at
// ended is left at now: pause minus the time since, never more than one
// pause (a clock that went backwards, or an end time in the future, would
// otherwise stall the scrub for as long), zero once it is over.
func scrubRestAfter(ended, now env.Time, pause time.Duration) time.Duration {
	since := now.Sub(ended)
	switch {
	case ended > now:
		return pause
	case since >= pause || since < 0: // since < 0: the subtraction overflowed
		return 0
	}
	return pause - since
}

// saveScrubCursor writes addr as the scrub's cursor record when the
// interval since the last write passed and the disk has slots to spare;
// otherwise a later object's end writes a later cursor.
func (s *Storage) saveScrubCursor(addr proto.Addr) {
	r := &s.scrubRec
	if r.saving || r.passEnd || (r.known && addr == r.saved) ||
		s.env.Now().Sub(r.savedAt) < ScrubCursorInterval || len(s.jobs) >= DiskJobsMax-1 {
		return
	}
	if !s.submitJob([]env.DiskOp{scrubCursorOp(addr)}, func(res []env.DiskResult) {
		r.saving = false
		if err := res[0].Err; err != nil {
			// Not fatal: a restart resumes from the record before.
			s.env.Log().Warn("storage: scrub cursor not written; a restart repeats some scrubbing", "err", err)
			r.known, r.durable = false, false // the failed write may have reached the disk
			return
		}
		r.saved, r.known, r.durable = addr, true, false
	}) {
		return
	}
	r.saving, r.savedAt = true, s.env.Now()
}

// scrubEndPass writes the pass-end record (the zero address) and a sync
// after it, without waiting for ScrubCursorInterval, then pauses
// ScrubPassInterval before the next pass. Until the sync succeeded the
// scrub reads nothing: the record on disk may still name an object high
// in the pass that ended, and a crash that kept it while losing the next
// pass's unsynced records would resume the next pass above objects it
// had not read. It waits RepairInterval and tries again while another
// cursor write is in flight, the disk has one job slot left, or the
// write or its sync failed. Called from scrubStep (the slot checked).
func (s *Storage) scrubEndPass() {
	r, sc := &s.scrubRec, &s.scrub
	if r.saving {
		s.scrubWait(s.cfg.RepairInterval)
		return
	}
	now := s.env.Now()
	if r.known && r.durable && r.saved == (proto.Addr{}) {
		// No record written since the last durable zero (or none ever):
		// the address on disk is durably the zero one already (a store
		// the pass crosses in under ScrubCursorInterval). The pass's end
		// time is written without a sync of its own and the pause starts
		// at once: a crash that loses the write keeps an earlier end time
		// (or none), and a restart then waits less of the pause.
		r.passEnd = false
		if s.submitJob([]env.DiskOp{scrubPassEndOp(now)}, func(res []env.DiskResult) {
			r.saving = false
			if err := res[0].Err; err != nil {
				s.env.Log().Warn("storage: scrub pass-end time not written; a restart in the pause waits less of it", "err", err)
				r.known, r.durable = false, false // the failed write may have reached the disk
			}
		}) {
			r.saving, r.savedAt = true, now
		}
		s.scrubWait(s.cfg.ScrubPassInterval)
		return
	}
	ok := s.submitJob([]env.DiskOp{scrubPassEndOp(now), s.syncOp()}, func(res []env.DiskResult) {
		r.saving, sc.busy = false, false
		for _, x := range res {
			if x.Err != nil {
				s.env.Log().Warn("storage: scrub pass-end record not durable; the next pass waits for it", "err", x.Err)
				r.known, r.durable = false, false
				s.scrubWait(s.cfg.RepairInterval)
				return
			}
		}
		r.saved, r.known, r.durable, r.passEnd = proto.Addr{}, true, true, false
		s.scrubWait(s.cfg.ScrubPassInterval)
	})
	if !ok {
		s.scrubWait(s.cfg.RepairInterval)
		return
	}
	r.saving, r.savedAt = true, now
	sc.busy = true
}

// parseScrubRecord returns the cursor a record's read holds, or the zero
// address (the lowest: the pass starts over) with the reason when the
// record is missing, unreadable, corrupt or of an unknown version.
// Never an error that stops the node: the cursor only saves work.
// ended (with hasEnd) is when the pass ended, held by a pass-end record
// of this build (scrubPassEndOp); an earlier build's has none.
func parseScrubRecord(res env.DiskResult) (a proto.Addr, ended env.Time, hasEnd bool, why string) {
	switch {
	case res.Err != nil:
		return a, 0, false, "not read: " + res.Err.Error()
	case !res.Found:
		return a, 0, false, ""
	}
	raw, err := env.Unseal(res.Value)
	switch {
	case err != nil:
		return a, 0, false, err.Error()
	case len(raw) == 0 || raw[0] != scrubRecordVersion:
		return a, 0, false, "unknown version"
	case len(raw) != 1+len(a) && len(raw) != 1+len(a)+8:
		return a, 0, false, "wrong length"
	}
	copy(a[:], raw[1:])
	if len(raw) == 1+len(a)+8 {
		if a != (proto.Addr{}) {
			return proto.Addr{}, 0, false, "an end time after an address"
		}
		return a, env.Time(binary.BigEndian.Uint64(raw[1+len(a):])), true, ""
	}
	return a, 0, false, ""
}

// scrubRead reads the cursor's chunk through the normal disk path (the
// disk runs its check, as for a get's whole read) and judges it: bytes
// that verify at the offset with the claimed size pass; bytes that
// verify there with another length prove the manifest wrong (the key
// binds its bytes' length: errChunkSize), as a get's read does; bytes
// that fail at a proven offset are damage (readIntact: counted, marked,
// healed by repair as a get's failed read is).
func (s *Storage) scrubRead(o *object, ref ChunkRef) {
	sc := &s.scrub
	addr, c, off, size := sc.addr, ref.Addr, sc.off, uint64(ref.Size)
	var cvs []proto.CV // derived by the check, not kept: the cache is the gets'
	op := s.chunkRead(c, off)
	check := wholeChunkCheck(c, off, size, &cvs)
	if op.Check != nil {
		op.Check = check
	}
	ok := s.submitJob([]env.DiskOp{op}, func(res []env.DiskResult) {
		sc.busy = false
		r := res[0]
		// A failed check drops the bytes it read (env.RunCheck): count
		// and pace the claimed size then.
		read := max(uint64(len(r.Value)), size)
		s.env.Metrics().Add(MetricScrubBytes, "", float64(read))
		pace := s.scrubPace(read)
		if s.index.committed(addr) != o || sc.obj != o {
			s.scrubWait(pace) // deleted or collected meanwhile
			return
		}
		if !s.cfg.BugServeUnverified && r.Err == nil && r.Found && !r.Checked {
			r = env.RunCheck(&env.DiskOp{Kind: env.DiskGet, Check: check}, r)
		}
		switch {
		case errors.Is(r.Err, errChunkSize):
			// The manifest lies (a lying peer's commit, of an earlier
			// build): the verdict a get would reach, for the gets to use
			// (findManifest skips it). The manifest stays (doc.go).
			o.lies = true
			s.env.Metrics().Add(MetricScrubLies, "", 1)
			s.env.Log().Warn("storage: scrub: a held manifest lies; gets skip it", "addr", addr.Short(), "err", r.Err)
			s.scrubDone(o)
		case s.readIntact(c, off, r, addr, check):
			sc.off += size
			sc.chunk++
			if sc.chunk == len(o.manifest.Chunks) {
				s.scrubDone(o)
			}
		default:
			s.scrubSkip(o)
		}
		s.scrubWait(pace)
	})
	if !ok {
		s.scrubWait(s.cfg.RepairInterval)
		return
	}
	sc.busy = true
}
