package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/runner"
)

// canaryEnv names the deliberately wrong variant a canary build of ronsim
// runs (go build -tags canary ./cmd/ronsim), so that shrink and explore can
// be shown a canary's failure from the command line:
//
//	RONSIM_CANARY=registry.SkipSync ronsim shrink sim/runner/testdata/canary_power_loss.yaml --seed 1 -o min.yaml
//
// Worker processes inherit it. Normal builds ignore the variable (the
// packages ignore the switches outside canary builds) and say so.
const canaryEnv = "RONSIM_CANARY"

// canaryVariants maps a variant name to the option it sets.
var canaryVariants = map[string]func(*runner.Options){
	"registry.LocalResolve":    func(o *runner.Options) { o.RegistryBug.LocalResolve = true },
	"registry.AckBeforeCommit": func(o *runner.Options) { o.RegistryBug.AckBeforeCommit = true },
	"registry.SkipSync":        func(o *runner.Options) { o.RegistryBug.SkipSync = true },
	"storage.serve_unverified": func(o *runner.Options) { o.StorageBug = runner.StorageBugServeUnverified },
	"storage.ack_before_sync":  func(o *runner.Options) { o.StorageBug = runner.StorageBugAckBeforeSync },
	"storage.ignore_pins":      func(o *runner.Options) { o.StorageBug = runner.StorageBugIgnorePins },
	"storage.repin_lost":       func(o *runner.Options) { o.StorageBug = runner.StorageBugRepinLost },
	"sim.IsolateLeaks":         simBug(sim.BugIsolateLeaks),
	"sim.CrashKeepsUnsynced":   simBug(sim.BugCrashKeepsUnsynced),
	"sim.NoDuplicate":          simBug(sim.BugNoDuplicate),
	"sim.PauseIgnored":         simBug(sim.BugPauseIgnored),
}

func simBug(b sim.Bug) func(*runner.Options) {
	return func(o *runner.Options) { o.SimBug |= b }
}

// applyCanary sets the variant RONSIM_CANARY names on opts ("" = none).
func applyCanary(opts *runner.Options) error {
	name := os.Getenv(canaryEnv)
	if name == "" {
		return nil
	}
	set, ok := canaryVariants[name]
	if !ok {
		return badInput("%s=%s: unknown variant (known: %s)", canaryEnv, name, strings.Join(sortedKeys(canaryVariants), ", "))
	}
	if !canaryBuild {
		fmt.Fprintf(os.Stderr, "ronsim: %s=%s ignored: not a canary build (go build -tags canary ./cmd/ronsim)\n", canaryEnv, name)
		return nil
	}
	set(opts)
	return nil
}
