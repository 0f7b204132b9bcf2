package storage

import (
	"bytes"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// SweepPageMax is the chunk keys one page of the orphan sweep reads; it
// also bounds the deletes one page issues (one batch) and so the work of
// one input.
const SweepPageMax = 1024

// SweepDueGapIntervals spaces the sweeps a failed or refused delete makes
// due (sweepIfDue): the next starts at least this many RepairIntervals
// after the last began (a minute at the default), so a disk that keeps
// failing deletes, or a job table that stays full, costs a scan of the
// chunk keys a minute, not one after another; orphans wait that much
// longer.
const SweepDueGapIntervals = 60

var _ = [env.DiskScanLimitMax - SweepPageMax]struct{}{}   // a page is one scan
var _ = [env.DiskBatchWritesMax - SweepPageMax]struct{}{} // its deletes one batch

// orphanSweep walks every chunk key once after recovery and deletes the
// chunks nothing references: chunks staged for a push or an upload
// session before a restart (the index forgot the staging, so nothing
// would ever prune them), chunks of manifests recovery dropped as corrupt,
// and chunks whose unsynced delete a crash undid. Upload sessions keep no
// state on disk beyond their chunks, so this is all a restart leaves.
//
// The scan is keys-only (env.DiskOp.KeysOnly): chunk bytes are never read.
// One page is in flight at a time and the next is submitted when a page
// was handled, so the sweep shares the FIFO disk with client work and each
// input handles at most SweepPageMax keys. A failed page, or a page whose
// deletes find the job table full, is retried from the same key at the
// next tick.
//
// The sweep starts only once the index is complete (every manifest on disk
// indexed), because a chunk is an orphan only relative to the whole
// index; when recovery had to skip a manifest the sweep does not run.
// While it runs the node serves, so a chunk may gain a reference between
// the scan and the page's handling: the check happens when the page is
// handled, against the index then, and the deletes queue behind every
// write submitted before, which either already holds a reference
// (commits, session chunks) or is counted in index.storing (a StoreChunk
// write, staged only when it completes).
type orphanSweep struct {
	active  bool
	waiting bool   // paused until the next tick (error or full job table)
	page    uint64 // tag value of the page in flight
	start   []byte // first key of the next page
}

// startSweep begins the sweep at the first chunk key.
func (s *Storage) startSweep() {
	if s.recovery.incomplete {
		return // recovery counted the manifests it skipped
	}
	s.sweep = orphanSweep{active: true, start: []byte(prefixChunk)}
	s.sweepPage()
}

// sweepPage submits the next page. sweepSeq is never reset, so a page from
// before a restart cannot match the current one.
func (s *Storage) sweepPage() {
	s.sweepSeq = (s.sweepSeq + 1) & tagValueMask
	s.sweep.page, s.sweep.waiting = s.sweepSeq, false
	s.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagSweep<<tagKindShift | s.sweep.page,
		Prefix: []byte(prefixChunk), Start: s.sweep.start, Limit: SweepPageMax, KeysOnly: true})
}

// sweepIfDue starts a sweep when a session's chunk delete failed or was
// refused since the last one began (sweepDue), unless one is running;
// the tick calls it. Without it those chunks, referenced by nothing,
// would stay on disk until the node restarts.
func (s *Storage) sweepIfDue() {
	if s.sweepDue && !s.sweep.active && s.env.Now() >= s.sweepNotBefore {
		s.sweepDue = false
		s.sweepNotBefore = s.env.Now().Add(SweepDueGapIntervals * s.cfg.RepairInterval)
		s.startSweep()
	}
}

// resumeSweep restarts a paused sweep; the tick calls it.
func (s *Storage) resumeSweep() {
	if s.sweep.active && s.sweep.waiting {
		s.sweepPage()
	}
}

func (s *Storage) onSweepPage(page uint64, res env.DiskResult) {
	if !s.ready || !s.sweep.active || s.sweep.waiting || page != s.sweep.page {
		return // from before a restart
	}
	if res.Err != nil {
		s.sweep.waiting = true
		return
	}
	if batch := s.sweepOrphans(res.Pairs); len(batch) > 0 {
		n := len(batch)
		ok := s.submitJob([]env.DiskOp{{Kind: env.DiskBatch, Batch: batch}}, func(res []env.DiskResult) {
			if res[0].Err != nil {
				// The orphans stay: sweep again after this sweep
				// (a node may run long without the restart's sweep).
				s.sweepDue = true
				return
			}
			s.stats.OrphansSwept += uint64(n)
			s.env.Metrics().Add(MetricOrphansSwept, "", float64(n))
		})
		if !ok {
			s.sweep.waiting = true // retry this page at the next tick
			return
		}
	}
	if !res.More || len(res.Pairs) == 0 {
		s.sweep = orphanSweep{}
		return
	}
	s.sweep.start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	s.sweepPage()
}

// sweepOrphans returns the deletes of the listed chunk keys that nothing
// references now. A key that does not parse as a chunk key can never be
// read and goes too.
func (s *Storage) sweepOrphans(pairs []env.KV) []env.DiskWrite {
	var batch []env.DiskWrite
	for _, kv := range pairs {
		c, ok := addrFromKey(prefixChunk, kv.Key)
		if ok && s.index.referenced(c) {
			continue
		}
		batch = append(batch, env.DiskWrite{Key: kv.Key, Delete: true})
	}
	return batch
}

// referenced reports whether chunk c must stay on the local disk: an
// object (committed or committing), a staged push, a session or a
// StoreChunk write in flight holds it.
func (x *index) referenced(c proto.Addr) bool {
	return x.hasChunk(c) || x.storing[c] > 0
}
