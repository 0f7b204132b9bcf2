// Command ronsim replays RON clusters in a seeded, deterministic simulator.
//
//	ronsim run scenarios/partition.yaml --seed 7
//	ronsim explore scenarios/partition.yaml --seeds 10000 --workers 2
//	ronsim determinism scenarios/*.yaml
//
// Exit status: 0 when every check passed, 1 when a check failed (the report
// ends with the exact replay command), 2 for bad input (flags, scenario).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"
)

const usage = `ronsim: the RON cluster simulator

Usage:
  ronsim run FILE [--seed N] [--swarm] [--json] [--trace FILE] [--history FILE] [--viz FILE.html] [--record FILE]
              [--cpuprofile FILE]
  ronsim explore FILE --seeds N [--from S] [--workers W] [--shard K/N] [--json]
      (--seeds default 100, at most 16777216; --from default 1; --workers default one per CPU;
      --json prints one line per seed, then the summary; Ctrl-C prints the
      partial summary and exits 130)
  ronsim determinism FILE... [--seeds N]
  ronsim real FILE [--seed N] [--json] [--history FILE] [--viz FILE.html] [--rond PATH] [--keep DIR]
              [--duration D] [--canary BUG] [--failpoint NAME=TERMS] [--oap-share F]
  ronsim shrink FILE --seed N [--swarm] [--check NAME] [--budget 60s] [--workers W] -o MIN.yaml
      reduce a failing run to a smaller scenario that still fails the same check
  ronsim help [COMMAND]     (or COMMAND --help: its flags and examples)
  ronsim --version

Examples:
  ronsim run scenarios/overlay_partition.yaml
      replay the overlay partition scenario with its default seed
  ronsim run scenarios/partition.yaml --seed 7 --json
      one run, machine-readable report on stdout
  ronsim run scenarios/partition.yaml --seed 7 --trace out/trace.jsonl --history out/history.jsonl
      write every delivered event and the client history as JSON lines
  ronsim run scenarios/partition.yaml --seed 7 --record out/replay.yaml
      write the faults actually injected as an editable scenario file
  ronsim explore scenarios/partition.yaml --seeds 10000
      hunt for bugs over 10,000 seeds in parallel worker processes (swarm
      mode draws fault probabilities per seed when the scenario has a swarm section)
  ronsim explore scenarios/partition.yaml --seeds 100000 --shard 3/16
      run the 3rd of 16 disjoint slices of the seed range (for a CI matrix)
  ronsim determinism scenarios/*.yaml
      run every scenario twice per seed and compare trace hashes
  ronsim real scenarios/partition.yaml --seed 1 --keep out/real
      the same scenario against real rond processes (not deterministic),
      checked by the same checkers; keeps the node logs and the history

Exit status: 0 all checks passed, 1 a check failed, 2 bad input.
`

// exitError carries an exit status through main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func badInput(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	err := dispatch(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var help *helpRequest
	if errors.As(err, &help) {
		fmt.Fprint(os.Stdout, help.text)
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "ronsim:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "ronsim:", err)
	os.Exit(1)
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return badInput("missing command (run 'ronsim --help')")
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "explore":
		return cmdExplore(args[1:], stdout, stderr)
	case "determinism":
		return cmdDeterminism(args[1:], stdout, stderr)
	case "real":
		return cmdReal(args[1:], stdout, stderr)
	case "shrink":
		return cmdShrink(args[1:], stdout, stderr)
	case "worker":
		return cmdWorker(args[1:], os.Stdin, stdout)
	case "help", "-h", "--help":
		if len(args) > 1 && commandHelp[args[1]] != "" {
			return dispatch([]string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	return badInput("unknown command %q (run 'ronsim --help')", args[0])
}

// versionLine is the answer to --version: the module version (when
// installed with go install at a version), the Go version and the VCS
// revision the binary was built from, when the build recorded it.
func versionLine() string {
	release, revision, dirty := "dev", "unknown", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			release = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				revision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+dirty"
			}
		}
	}
	return fmt.Sprintf("ronsim %s (%s, revision %s%s)", release, goruntime.Version(), revision, dirty)
}
