package storage

import (
	"fmt"
	"slices"
	"strings"
)

// PendingPuts describes every put this node coordinates, in id order: its
// object, its placement, how many replicas acknowledged or failed, and
// where each push to a replica stands (chunks queued and in flight, commit
// outstanding). It is for a failing test or an operator to see where a put
// is stuck; the format is for people, not parsers.
func (s *Storage) PendingPuts() []string {
	ids := make([]uint64, 0, len(s.puts))
	// map order ok: sorted below
	for id := range s.puts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.puts[id].describe())
	}
	return out
}

func (p *putOp) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "put %d %s (%d chunks): %d of %d replicas acked, %d failed, quorum %d, replied %t",
		p.id, p.addr.Short(), len(p.man.Chunks), p.acked, len(p.targets), p.failed, p.quorum, p.replied)
	for _, pu := range p.pushes {
		fmt.Fprintf(&b, "; push to %s: %s", pu.target.Short(), pu.stage())
	}
	return b.String()
}

// stage names where a push stands.
func (p *push) stage() string {
	switch {
	case p.finished:
		return "finished"
	case p.committing:
		return fmt.Sprintf("commit outstanding (round %d)", p.rounds+1)
	default:
		return fmt.Sprintf("%d chunks queued, %d in flight", len(p.queue), p.inflight)
	}
}

// checkPuts walks the puts: each is filed under its id, its counts stay
// within its placement, it pushes only to placement nodes other than this
// one and at most once to each, and a push's window holds; the trailing
// puts' requests are counted right (Storage.trailingCalls).
func (s *Storage) checkPuts() {
	// map order ok: every entry is checked, nothing is output
	for id, p := range s.puts {
		if p.id != id || p.acked+p.failed > len(p.targets) || p.quorum > len(p.targets) {
			panic(fmt.Sprintf("storage: inconsistent put: %s", p.describe()))
		}
		if len(p.pushes) > len(p.targets) {
			panic(fmt.Sprintf("storage: more pushes than placement nodes: %s", p.describe()))
		}
		for k, pu := range p.pushes {
			if pu.target == s.self || !slices.Contains(p.targets, pu.target) || pu.addr != p.addr {
				panic(fmt.Sprintf("storage: push outside the placement: %s", p.describe()))
			}
			if pu.inflight < 0 || pu.inflight > PushWindowMax {
				panic(fmt.Sprintf("storage: push window %d: %s", pu.inflight, p.describe()))
			}
			for _, other := range p.pushes[:k] {
				if other.target == pu.target {
					panic(fmt.Sprintf("storage: two pushes to one replica: %s", p.describe()))
				}
			}
		}
	}
	calls := 0
	for _, p := range s.trailing {
		calls += p.calls()
	}
	if calls != s.trailingCalls {
		panic(fmt.Sprintf("storage: the trailing puts' pushes have %d requests outstanding, %d counted", calls, s.trailingCalls))
	}
}

// PendingGets describes every get this node assembles, in id order: its
// object and range, and where it stands (looking for the manifest, and
// from whom, or reading chunks: how many arrived and how many are in
// flight). Like PendingPuts it is for people, not parsers.
func (s *Storage) PendingGets() []string {
	ids := make([]uint64, 0, len(s.gets))
	// map order ok: sorted below
	for id := range s.gets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.gets[id].describe())
	}
	return out
}

func (g *getOp) describe() string {
	kind := "get"
	if g.manifestOnly {
		kind = "manifest get"
	}
	return fmt.Sprintf("%s %d %s [%d+%d]: %s", kind, g.id, g.addr.Short(), g.offset, g.length, g.stage())
}

// stage names where a get stands.
func (g *getOp) stage() string {
	if g.parts == nil {
		return fmt.Sprintf("finding the manifest: %d of %d candidates asked, dht asked %t, a candidate timed out %t",
			g.candNext, len(g.cands), g.askedDHT, g.timedOut)
	}
	if g.dropping {
		return fmt.Sprintf("dropping a bad manifest: %d chunk reads in flight, then %d of %d candidates asked",
			g.inflight(), g.candNext, len(g.cands))
	}
	return fmt.Sprintf("reading chunks %d..%d: %d arrived, %d in flight, %d not started",
		g.first, g.last, len(g.parts)-g.pending, g.inflight(), g.last+1-g.next)
}

// inflight is the number of chunk reads started and not yet arrived,
// the side check's (sideCheck) included.
func (g *getOp) inflight() int {
	n := g.next - g.first - (len(g.parts) - g.pending)
	if g.sideBusy {
		n++
	}
	return n
}

// checkGets walks the gets: each is filed under its id and unfinished, has
// asked no more candidates than it knows, and once reading chunks keeps
// its cursor inside the range and its reads within GetWindowMax (a
// manifest get reads only the last chunk, to check its Size: checkEnd).
func (s *Storage) checkGets() {
	// map order ok: every entry is checked, nothing is output
	for id, g := range s.gets {
		if g.id != id || g.finished || g.candNext > len(g.cands) {
			panic(fmt.Sprintf("storage: inconsistent get: %s", g.describe()))
		}
		if g.parts == nil {
			continue
		}
		if (g.manifestOnly && !g.endCheck) || g.next < g.first || g.next > g.last+1 || g.pending < 0 || g.pending > len(g.parts) ||
			len(g.parts) != g.last-g.first+1 || len(g.offsets) != len(g.parts) {
			panic(fmt.Sprintf("storage: get cursor out of its range: %s", g.describe()))
		}
		if g.dropping && g.badManifest == nil {
			panic(fmt.Sprintf("storage: get drops a manifest it found no fault in: %s", g.describe()))
		}
		if n := g.inflight(); n < 0 || n > GetWindowMax {
			panic(fmt.Sprintf("storage: get window %d: %s", n, g.describe()))
		}
	}
}
