package storage

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// A holder serves at most ServesPerPeerMax of one peer's FetchChunk reads
// at once and answers the rest statusBusy (serveFetchChunk). This node
// paces itself to that bound: at most ServesPerPeerMax of its fetches are
// in flight to one holder (Storage.fetching), whatever asks (a get's
// window, a heal or a repair); the rest wait in the order asked
// (Storage.fetchWait), and each is sent when one in flight to that holder
// gets its reply. When one's every attempt timed out, those waiting for
// that holder are failed as unanswered at once (fetchSilent). The
// server's bound so becomes flow control: an honest gateway with many
// gets on one holder queues here, where its gets' deadlines bound the
// wait, instead of being answered busy. A holder may still answer busy (a
// request resent after a timeout while its first read is in flight there,
// a full disk queue, a recovering holder), so a fetch that some holders
// answered busy, and none worse, asks those again after a short backoff
// (fetchChunkFrom, fetchRetryAfter).

// fetchWaiter is one FetchChunk waiting for a slot to its holder.
type fetchWaiter struct {
	c    proto.Addr
	off  uint64
	done func(*message, error)
}

// errFetchNotSent: the RPC table was full (RPCsInflightMax) when the
// fetch was to be sent; done gets it, and the fetch was never sent.
var errFetchNotSent = fmt.Errorf("%w: too many requests in flight", ErrBusy)

// sendFetch asks holder to for chunk c at offset off, now if fewer than
// ServesPerPeerMax of this node's fetches are in flight there, else when
// the ones before it ended. done gets the reply or the call's error, or
// errFetchNotSent; it is never called within sendFetch but for that one.
func (s *Storage) sendFetch(to proto.NodeID, c proto.Addr, off uint64, done func(*message, error)) {
	w := fetchWaiter{c: c, off: off, done: done}
	if s.fetching[to] >= ServesPerPeerMax || len(s.fetchWait[to]) > 0 {
		s.fetchWait[to] = append(s.fetchWait[to], w)
		return
	}
	if !s.startFetch(to, w) {
		done(nil, errFetchNotSent)
	}
}

// startFetch sends w to holder to, counted in flight until its call ends;
// false when the call could not be sent (nothing counted).
func (s *Storage) startFetch(to proto.NodeID, w fetchWaiter) bool {
	sent := s.call(to, &message{kind: kindFetchChunk, addr: w.c, offset: w.off}, func(reply *message, err error) {
		if err != nil {
			s.fetchSilent(to)
		} else {
			s.fetchEnded(to)
		}
		w.done(reply, err)
	})
	if sent {
		s.fetching[to]++
	}
	return sent
}

// fetchEnded ends one of this node's fetches in flight to holder to, and
// sends the waiting ones its slot allows, first asked first.
func (s *Storage) fetchEnded(to proto.NodeID) {
	if s.fetching[to] <= 1 {
		delete(s.fetching, to)
	} else {
		s.fetching[to]--
	}
	for s.fetching[to] < ServesPerPeerMax && len(s.fetchWait[to]) > 0 {
		q := s.fetchWait[to]
		w := q[0]
		if len(q) == 1 {
			delete(s.fetchWait, to)
		} else {
			s.fetchWait[to] = q[1:]
		}
		if !s.startFetch(to, w) {
			w.done(nil, errFetchNotSent) // may queue more: the loop reads the queue again
		}
	}
}

// fetchSilent ends one of this node's fetches in flight to holder to,
// whose every attempt timed out, and fails the ones waiting for that
// holder's slots as unanswered too, at once: they ask their next holder
// now. Were they sent in turns instead, each turn waiting out the
// attempts' backoff (RPCTimeout times 15), a down holder would hold the
// gets that asked it first past their deadlines.
func (s *Storage) fetchSilent(to proto.NodeID) {
	if s.fetching[to] <= 1 {
		delete(s.fetching, to)
	} else {
		s.fetching[to]--
	}
	q := s.fetchWait[to]
	delete(s.fetchWait, to)
	for _, w := range q {
		w.done(nil, fmt.Errorf("%w: %s (a fetch before this one timed out)", errTimeout, to.Short()))
	}
}

// fetchRetryAfter runs retry after about d (jittered from the env's
// seeded rand), unless the machine restarts first.
func (s *Storage) fetchRetryAfter(d time.Duration, retry func()) {
	s.fetchSeq = (s.fetchSeq + 1) & tagValueMask
	s.fetchRetries[s.fetchSeq] = retry
	s.env.SetTimer(s.env.Rand().Jitter(d, 0.5), tagFetch<<tagKindShift|s.fetchSeq)
}

// checkFetching: each holder's fetches in flight are within
// ServesPerPeerMax, and fetches wait only for a holder whose slots are
// all taken. O(holders).
func (s *Storage) checkFetching() {
	total := 0
	// map order ok: a bounds check and a commutative sum.
	for _, n := range s.fetching {
		if n < 1 || n > ServesPerPeerMax {
			panic("storage: fetches in flight to a holder out of bounds")
		}
		total += n
	}
	if total > len(s.rpcs) {
		panic("storage: more fetches in flight than calls")
	}
	// map order ok: bounds checks, each on its own entry.
	for to, q := range s.fetchWait {
		if len(q) == 0 || s.fetching[to] < ServesPerPeerMax {
			panic("storage: a fetch waits for a holder with a free slot")
		}
	}
}
