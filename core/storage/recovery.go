package storage

import (
	"errors"

	"github.com/ron-network/ron/core/env"
)

// recoveryScan pages through the manifests, then the pin flags, at Start.
type recoveryScan struct {
	prefix string
	start  []byte
	drop   []env.DiskWrite // keys found corrupt or dangling, deleted at the end
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
			s.recoverManifest(kv)
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
		s.recovery.prefix, s.recovery.start = prefixPin, nil
		s.scanPage()
		return
	}
	s.finishRecovery()
}

// recoverManifest indexes one manifest. A corrupt one is counted and
// deleted, so that the repair loop of another replica restores the object.
func (s *Storage) recoverManifest(kv env.KV) {
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
		s.recovery.drop = append(s.recovery.drop, env.DiskWrite{Key: kv.Key, Delete: true})
		return
	}
	s.index.hold(addr, &object{manifest: m})
	s.index.commit(addr)
}

func (s *Storage) recoverPin(kv env.KV) {
	addr, ok := addrFromKey(prefixPin, kv.Key)
	if o := s.index.committed(addr); ok && o != nil {
		o.pinned = true
		return
	}
	s.recovery.drop = append(s.recovery.drop, env.DiskWrite{Key: kv.Key, Delete: true})
}

func (s *Storage) finishRecovery() {
	for len(s.recovery.drop) > 0 {
		n := min(len(s.recovery.drop), env.DiskBatchWritesMax)
		s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Batch: s.recovery.drop[:n]})
		s.recovery.drop = s.recovery.drop[n:]
	}
	s.ready = true
	s.provideNext = append(s.provideNext[:0], s.index.sorted...)
	s.setGauges()
	s.tick = s.env.SetTimer(s.jitter(s.cfg.RepairInterval), tagTick<<tagKindShift)
	if s.scrubOn() {
		s.scrubWait(s.cfg.RepairInterval)
	}
	s.startSweep()
}
