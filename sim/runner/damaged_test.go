package runner

import (
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim/scenario"
)

// TestContentDamagedReachesDamagePaths runs scenarios/content_damaged.yaml
// over seeds 1..damagedSeeds in swarm mode (as explore does) and asserts
// coverage, not timing: over the seeds, storage's damaged-chunk paths
// (core/storage doc.go, "Reads and corruption") were each taken at least
// once in total (a get answered 502 while no source served a held chunk,
// a re-read of a damaged copy that verified and one that failed, heals
// from a replica, a push and a put), and every seed passed every check
// (integrity: no wrong bytes served; convergence; durability). Without
// the scenario the simulator reached none of these but the heals from a
// replica at the seeds checked: corrupt reads were rare and heals from
// replicas succeeded first.
func TestContentDamagedReachesDamagePaths(t *testing.T) {
	const damagedSeeds = 10
	corruptGets := 0
	heals, rereads := map[string]float64{}, map[string]float64{}
	contentSeeds(t, "content_damaged.yaml", damagedSeeds, func(_ uint64, c *ContentStats) {
		corruptGets += c.CorruptGets
		for k, v := range c.Heals {
			heals[k] += v
		}
		for k, v := range c.Rereads {
			rereads[k] += v
		}
	})
	if corruptGets == 0 {
		t.Error("no get was answered corrupt (502) while no good source existed")
	}
	for _, via := range []string{storage.HealReplica, storage.HealPush, storage.HealPut} {
		if heals[via] == 0 {
			t.Errorf("no damaged chunk was healed via %s (heals %v)", via, heals)
		}
	}
	for _, result := range []string{storage.RereadVerified, storage.RereadFailed} {
		if rereads[result] == 0 {
			t.Errorf("no re-read of a damaged chunk %s (re-reads %v)", result, rereads)
		}
	}
	t.Logf("seeds 1..%d: %d gets answered corrupt, heals %v, re-reads %v", damagedSeeds, corruptGets, heals, rereads)
}

// contentSeeds runs scenarios/file at seeds 1..n in swarm mode (as
// explore does), fails the test for every check a seed failed, and hands
// each seed's content figures to f.
func contentSeeds(t *testing.T, file string, n uint64, f func(seed uint64, c *ContentStats)) {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", file))
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= n; seed++ {
		rep, err := Run(s, Options{Seed: seed, Swarm: true, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Checks {
			if !c.OK {
				t.Errorf("seed %d: check %s failed: %s", seed, c.Name, c.Detail)
			}
		}
		if rep.Content == nil {
			t.Fatalf("seed %d: no content figures", seed)
		}
		f(seed, rep.Content)
	}
}
