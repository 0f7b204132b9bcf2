package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// commandHelp is the text of ronsim COMMAND --help (and ronsim help
// COMMAND), before the list of the command's flags.
var commandHelp = map[string]string{
	"run": `Usage: ronsim run FILE [--seed N] [--swarm] [--json] [--trace FILE] [--history FILE] [--viz FILE.html] [--record FILE] [--cpuprofile FILE]

Replays one seeded fault scenario: the whole cluster in one process in
virtual time, faults injected from the scenario, checks run, a report
printed (seed, trace hash, faults, checks, SLO figures). Flags may come
before or after FILE.

Examples:
  ronsim run scenarios/partition.yaml
      replay the registry partition scenario with its default seed
  ronsim run scenarios/partition.yaml --seed 7 --json
      one run, machine-readable report on stdout
  ronsim run scenarios/partition.yaml --seed 7 --trace out/trace.jsonl --history out/history.jsonl
      write every delivered event and the client history as JSON lines
  ronsim run scenarios/partition.yaml --seed 7 --record out/replay.yaml
      write the faults actually injected as an editable scenario file

Exit status: 0 all checks passed, 1 a check failed (the report ends with
the exact replay command), 2 bad input.
`,
	"explore": `Usage: ronsim explore FILE --seeds N [--from S] [--workers W] [--shard K/N] [--json]

Hunts bugs over many seeds in parallel worker processes (swarm mode draws
fault probabilities per seed when the scenario has a swarm section);
progress on stderr; stops at the first failing seed and prints its replay
command.

Examples:
  ronsim explore scenarios/partition.yaml --seeds 10000
      10,000 seeds, one worker process per CPU
  ronsim explore scenarios/partition.yaml --seeds 100000 --shard 3/16
      the 3rd of 16 disjoint slices of the seed range (for a CI matrix)
  ronsim explore scenarios/overlay_partition.yaml --seeds 500 --from 1000 --workers 2 --json
      seeds 1000..1499 on two workers, a JSON summary on stdout

Exit status: 0 every seed passed, 1 a seed failed, 2 bad input.
`,
	"real": `Usage: ronsim real FILE [--seed N] [--json] [--history FILE] [--viz FILE.html] [--rond PATH] [--tags T] [--keep DIR]
                   [--duration D] [--canary BUG] [--failpoint NAME=TERMS] [--oap-share F] [--rond-old PATH]

Runs the same scenario file against real rond processes on loopback
(faults applied for real), records the client history and checks it with
the simulator's checkers. Not deterministic: the seed drives the
workload, not the timing. Without --rond it builds ./cmd/rond of this tree.

Examples:
  ronsim real scenarios/real_smoke.yaml
      a short smoke run against real processes
  ronsim real scenarios/partition.yaml --seed 1 --keep out/real
      keep the data dirs, node logs and the history in out/real
  ronsim real scenarios/partition.yaml --rond bin/rond --json
      run a given rond binary, JSON report on stdout
  ronsim real scenarios/real_smoke.yaml --duration 10m
      a soak: the faults repeat, each node's memory is sampled
  ronsim real scenarios/real_canary.yaml --canary local_resolve
      a canary build of rond with a wrong registry: the checks must fail
  ronsim real scenarios/rolling_upgrade.yaml --rond-old old/rond --rond bin/rond
      nodes start on old/rond; upgrade faults migrate and restart them on bin/rond
  ronsim real scenarios/real_smoke.yaml --oap-share 0.5
      half the clients speak OAP/1 instead of HTTP

Exit status: 0 all checks passed, 1 a check failed, 2 bad input or a
scenario feature that cannot be made real.
`,
	"determinism": `Usage: ronsim determinism FILE... [--seeds N]

Runs every scenario twice per seed and compares the trace hashes; on a
mismatch prints the first diverging event.

Examples:
  ronsim determinism scenarios/*.yaml
  ronsim determinism scenarios/partition.yaml --seeds 10

Exit status: 0 every run repeated itself, 1 a mismatch, 2 bad input.
`,
}

// helpRequest is returned by a command given --help or -h: main prints
// text on stdout and exits 0.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string { return "help requested" }

// newFlagSet returns a flag set that reports errors as bad input instead of
// exiting; its --help text is commandHelp[name] and the flags.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	_ = synopsis
	return fs
}

// helpOf renders the --help text of the command of fs.
func helpOf(fs *flag.FlagSet) *helpRequest {
	var b bytes.Buffer
	text, ok := commandHelp[fs.Name()]
	if !ok {
		text = usage
	}
	b.WriteString(text)
	b.WriteString("\nFlags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return &helpRequest{text: b.String()}
}

// parseInterspersed parses flags that may appear before or after the
// positional arguments (ronsim run FILE --seed 7) and returns the
// positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpOf(fs)
			}
			return nil, badInput("%s: %v (run 'ronsim %s --help')", fs.Name(), err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return positional, nil
}

// parseShard parses K/N with 1 <= K <= N.
func parseShard(s string) (k, n uint64, err error) {
	if s == "" {
		return 1, 1, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2 {
		return 0, 0, badInput("--shard %q: want K/N, e.g. 3/16", s)
	}
	if _, err := fmt.Sscanf(parts[0]+" "+parts[1], "%d %d", &k, &n); err != nil || n == 0 || k == 0 || k > n {
		return 0, 0, badInput("--shard %q: want K/N with 1 <= K <= N", s)
	}
	return k, n, nil
}
