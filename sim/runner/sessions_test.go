package runner

import (
	"testing"

	"github.com/ron-network/ron/core/storage"
)

// TestContentSessionsReachSessionPaths runs scenarios/content_sessions.yaml
// over seeds 1..sessionSeeds in swarm mode (as explore does) and asserts
// coverage over the totals, not timing: session puts (mix session_put)
// were acknowledged, clients abandoned sessions midway and the nodes
// collected idle ones after their TTL, none was left open at the end and
// no chunk was left on a disk that no manifest lists (an ended session's
// staged chunks were all deleted, even when a delete failed under n3's
// write errors: seeds 4 and 6 left some before core/storage swept after a
// failed delete, TestStreamFailedDeleteIsSwept), a
// damaged chunk was healed by a session's verified piece
// (storage_heals_total{via="session"}), and every seed passed every check
// (integrity, convergence, durability), with the acknowledged session
// puts among the objects they judge. Before mix.session_put the
// simulator's clients only sent whole puts: no seed opened a session.
func TestContentSessionsReachSessionPaths(t *testing.T) {
	const sessionSeeds = 8
	var puts, acked, abandoned, open, orphans int
	var expired uint64
	heals := map[string]float64{}
	contentSeeds(t, "content_sessions.yaml", sessionSeeds, func(seed uint64, c *ContentStats) {
		puts, acked, abandoned, expired, open = puts+c.SessionPuts, acked+c.SessionPutsOK, abandoned+c.SessionsAbandoned, expired+c.SessionsExpired, open+c.SessionsOpen
		if c.OrphanChunks > 0 {
			orphans += c.OrphanChunks
			t.Errorf("seed %d: %d chunks on the up nodes' disks at the end that no manifest lists", seed, c.OrphanChunks)
		}
		for k, v := range c.Heals {
			heals[k] += v
		}
	})
	switch {
	case puts == 0 || acked == 0:
		t.Errorf("%d session puts, %d acknowledged: the clients streamed nothing", puts, acked)
	case abandoned == 0:
		t.Error("no session was abandoned by its client")
	case expired == 0:
		t.Error("no node collected an idle session after its TTL")
	}
	if open != 0 {
		t.Errorf("%d sessions still open at the end, 70s after the clients stopped (TTL %v)", open, storage.SessionTTLDefault)
	}
	if heals[storage.HealSession] == 0 {
		t.Errorf("no damaged chunk was healed via a session (heals %v)", heals)
	}
	t.Logf("seeds 1..%d: %d session puts, %d acknowledged, %d abandoned, %d collected after their TTL, %d orphan chunks; heals %v",
		sessionSeeds, puts, acked, abandoned, expired, orphans, heals)
}
