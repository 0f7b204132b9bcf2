package main

import (
	"fmt"
	"io"
	"math"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/runner"
)

// cmdDeterminism runs every scenario twice per seed and compares the trace
// hashes; on a mismatch it prints the first diverging event. Several seeds
// per scenario, so that determinism is not an accident of one seed.
func cmdDeterminism(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("determinism", "ronsim determinism FILE...")
	seeds := fs.Uint64("seeds", 3, "seeds per scenario (starting at the scenario's seed)")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return badInput("determinism: name at least one scenario file")
	}
	if *seeds < 1 {
		return badInput("determinism: --seeds 0 checks nothing: want at least 1")
	}
	tuneGC()
	failed := 0
	for _, file := range files {
		s, err := loadScenario(file)
		if err != nil {
			return err
		}
		base := defaultSeed(s)
		// As explore refuses --from near the top: base + i past the
		// largest seed would wrap round to seed 0 and check seeds the
		// output does not name.
		if base > math.MaxUint64-(*seeds-1) {
			return badInput("determinism: %s: seed %d --seeds %d: the last seed would pass %d", file, base, *seeds, uint64(math.MaxUint64))
		}
		for i := uint64(0); i < *seeds; i++ {
			seed := base + i
			var hashes [2]string
			var digests [2][]sim.EventDigest
			for round := 0; round < 2; round++ {
				rep, err := runner.Run(s, runner.Options{Seed: seed, RecordDigests: true})
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("%s: %w", file, err)}
				}
				hashes[round] = rep.TraceHash
				digests[round] = rep.Digests
			}
			if hashes[0] == hashes[1] {
				fmt.Fprintf(stdout, "ok    %s seed %d: trace %s (%d events)\n", file, seed, short(hashes[0]), len(digests[0]))
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL  %s seed %d: trace %s != %s\n", file, seed, short(hashes[0]), short(hashes[1]))
			if idx, a, b, ok := sim.FirstDivergence(digests[0], digests[1]); ok {
				fmt.Fprintf(stdout, "      first diverging event #%d:\n        run 1: %v\n        run 2: %v\n", idx, a, b)
			}
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d scenario runs were not deterministic", failed)}
	}
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
