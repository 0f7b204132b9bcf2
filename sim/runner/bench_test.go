package runner

import (
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// BenchmarkPartitionScenario runs the repository's scenarios end to end
// (simulation and checks, as `ronsim run` does) and reports the engine's
// throughput and how much faster than real time the simulation ran. The
// figures cover whole runs, so b.N counts runs, not events.
func BenchmarkPartitionScenario(b *testing.B) {
	for _, name := range []string{"partition", "overlay_partition"} {
		b.Run(name, func(b *testing.B) {
			s, err := scenario.Load(filepath.Join("..", "..", "scenarios", name+".yaml"))
			if err != nil {
				b.Fatal(err)
			}
			seed := uint64(1)
			if s.Seed != nil {
				seed = *s.Seed
			}
			b.ReportAllocs()
			var events uint64
			for b.Loop() {
				rep, err := Run(s, Options{Seed: seed, AutoVizDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if !rep.OK {
					b.Fatalf("%s seed %d failed: %+v", name, seed, rep.Checks)
				}
				events += rep.Events
			}
			wall := b.Elapsed().Seconds()
			b.ReportMetric(float64(events)/wall, "events/s")
			b.ReportMetric(float64(b.N)*s.Duration.Seconds()/wall, "sim-s/wall-s")
		})
	}
}
