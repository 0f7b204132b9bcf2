package storage

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// errTimeout is an RPC that got no reply after RPCAttemptsMax attempts.
var errTimeout = errors.New("storage: peer did not answer")

// rpc is one outstanding request. The encoded frame is kept for retries;
// a retry resends the same corr id, so a late reply to any attempt counts.
type rpc struct {
	to      proto.NodeID
	frame   []byte
	attempt int
	timer   env.TimerID
	done    func(m *message, err error)
}

// call sends m to peer and calls done once with the reply or errTimeout.
// It returns false (and never calls done) when RPCsInflightMax is reached.
func (s *Storage) call(to proto.NodeID, m *message, done func(*message, error)) bool {
	_, ok := s.callCorr(to, m, done)
	return ok
}

// callCorr is call that also returns the request's corr id, for a caller
// that may cancel it (cancelCall).
func (s *Storage) callCorr(to proto.NodeID, m *message, done func(*message, error)) (uint64, bool) {
	if len(s.rpcs) >= RPCsInflightMax {
		s.reject(ReasonOverload)
		return 0, false
	}
	s.corr = (s.corr + 1) & tagValueMask
	if s.corr == 0 {
		s.corr = 1
	}
	r := &rpc{to: to, frame: encodeFrame(s.corr, m), done: done}
	s.rpcs[s.corr] = r
	s.send(s.corr, r)
	return s.corr, true
}

// cancelCall forgets the outstanding request corr: no retry is sent and
// its done is never called (a late reply is ignored as a duplicate).
func (s *Storage) cancelCall(corr uint64) {
	if r := s.rpcs[corr]; r != nil {
		delete(s.rpcs, corr)
		s.env.CancelTimer(r.timer)
	}
}

func (s *Storage) send(corr uint64, r *rpc) {
	timeout := s.cfg.RPCTimeout << min(r.attempt, 4) // backoff: 1, 2, 4, 8x
	r.timer = s.env.SetTimer(s.env.Rand().Jitter(timeout, 0.2), tagRPC<<tagKindShift|corr)
	s.env.Send(r.to, bytes.Clone(r.frame))
}

func (s *Storage) onRPCTimeout(corr uint64) {
	r := s.rpcs[corr]
	if r == nil {
		return
	}
	r.attempt++
	if r.attempt < RPCAttemptsMax {
		s.send(corr, r)
		return
	}
	delete(s.rpcs, corr)
	r.done(nil, fmt.Errorf("%w: %s after %d attempts", errTimeout, r.to.Short(), r.attempt))
}

// onReply completes the RPC the reply answers. Replies from another node
// than the one asked, and duplicates, are ignored.
func (s *Storage) onReply(from proto.NodeID, corr uint64, m *message) {
	r := s.rpcs[corr]
	if r == nil || r.to != from {
		return
	}
	delete(s.rpcs, corr)
	s.env.CancelTimer(r.timer)
	r.done(m, nil)
}

// respond sends a reply to a peer's request.
func (s *Storage) respond(to proto.NodeID, corr uint64, addr proto.Addr, st status, data []byte) {
	s.env.Send(to, encodeFrame(corr, &message{kind: kindReply, addr: addr, status: st, data: data}))
}

// diskJob is a group of disk operations submitted back to back; results
// arrive in submission order (the disk is FIFO), and done runs once with
// all of them.
type diskJob struct {
	results []env.DiskResult
	want    int
	done    func(results []env.DiskResult)
}

// submitJob submits ops as one job. It returns false (and never calls
// done) when DiskJobsMax is reached.
func (s *Storage) submitJob(ops []env.DiskOp, done func([]env.DiskResult)) bool {
	if len(s.jobs) >= DiskJobsMax {
		s.reject(ReasonOverload)
		return false
	}
	if len(ops) == 0 {
		panic("storage: empty disk job")
	}
	s.nextJob = (s.nextJob + 1) & tagValueMask
	id := s.nextJob
	s.jobs[id] = &diskJob{want: len(ops), done: done, results: make([]env.DiskResult, 0, len(ops))}
	for i := range ops {
		ops[i].Tag = tagDisk<<tagKindShift | id
		s.env.Submit(ops[i])
	}
	return true
}

func (s *Storage) onDiskDone(d env.DiskDone) {
	value := d.Op.Tag & tagValueMask
	switch d.Op.Tag >> tagKindShift {
	case tagRecovery:
		switch value {
		case recoveryReread:
			s.onRecoveryReread(d.Result)
		case recoveryScrubCursor:
			s.onRecoveryScrubCursor(d.Result)
		default:
			s.onRecoveryPage(d.Result)
		}
	case tagSweep:
		s.onSweepPage(value, d.Result)
	case tagDisk:
		j := s.jobs[value]
		if j == nil {
			return // a job from before a restart
		}
		j.results = append(j.results, d.Result)
		if len(j.results) == j.want {
			delete(s.jobs, value)
			j.done(j.results)
		}
	}
}

// firstErr is the first error among results, or nil.
func firstErr(results []env.DiskResult) error {
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// syncOp is the op that makes every completed write durable.
func (s *Storage) syncOp() env.DiskOp { return env.DiskOp{Kind: env.DiskSync} }

// jitter spreads periodic work: d scaled by [0.8, 1.2].
func (s *Storage) jitter(d time.Duration) time.Duration { return s.env.Rand().Jitter(d, 0.2) }
