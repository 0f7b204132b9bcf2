package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// shrinkBudgetDefault bounds a shrink's wall time without --budget.
const shrinkBudgetDefault = 60 * time.Second

func init() {
	commandHelp["shrink"] = `Usage: ronsim shrink FILE --seed N [--swarm] [--check NAME] [--budget 60s] [--workers W] -o MIN.yaml

Reduces a failing run to a smaller scenario that still fails the same
check the same way: starting from the run's recorded faults, it drops
faults, shortens and moves windows, lowers clients, rate and names, drops
nodes outside the registry and shortens the run, each candidate in a
worker process. Progress on stderr; ends with the minimal file (its seed
written in it) and the replay command.

Examples:
  ronsim shrink scenarios/partition.yaml --seed 41 --swarm -o out/min.yaml
      shrink a seed explore reported failing
  ronsim shrink out/replay.yaml --check durability --budget 5m -o out/min.yaml
      shrink a recorded run on its durability failure, for up to 5 minutes

Exit status: 0 a minimal file was written, 2 bad input or a seed that
does not fail.
`
}

// candidateLine is one line a shrink worker reads: a scenario to run at a
// seed.
type candidateLine struct {
	Seed  uint64 `json:"seed"`
	Check string `json:"check"` // the one check to run
	YAML  string `json:"yaml"`
}

func cmdShrink(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("shrink", "ronsim shrink FILE --seed N -o MIN.yaml")
	seed := fs.Uint64("seed", 0, "the failing seed (default: the scenario's seed, else 1)")
	swarm := fs.Bool("swarm", false, "the failing run drew the swarm ranges (explore's runs do)")
	checkName := fs.String("check", "", "the check that must keep failing (default: the run's first failed correctness check)")
	budget := fs.Duration("budget", shrinkBudgetDefault, "wall-time budget of the search")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes for the candidates (default: one per CPU)")
	outPath := fs.String("o", "", "where to write the minimal scenario (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *outPath == "" {
		return badInput("shrink takes one scenario file and -o MIN.yaml (see 'ronsim help')")
	}
	if *workers < 1 || *workers > 256 {
		return badInput("--workers %d: want 1..256", *workers)
	}
	if err := checkWritable("o", *outPath); err != nil {
		return err
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	vizDir, err := os.MkdirTemp("", "ronsim-shrink-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(vizDir)
	// With --check, the first run judges that check alone too (a failing
	// linearizability search elsewhere would cost its whole budget).
	opts := runner.Options{Seed: defaultSeed(s), Swarm: *swarm, AutoVizDir: vizDir, OnlyCheck: *checkName}
	if err := applyCanary(&opts); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			opts.Seed = *seed
		}
	})
	rep, err := runner.Run(s, opts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	check := *checkName
	if check == "" {
		check = runner.FirstFailedCheck(rep)
	}
	sig, failed := runner.FailureOf(rep, check)
	if check == "" || !failed {
		return badInput("seed %d of %s does not fail %q: nothing to shrink", opts.Seed, pos[0], check)
	}
	start := rep.Recorded
	start.Source = *outPath
	fmt.Fprintf(stderr, "shrink: seed %d fails %s (%s); start %s\n", opts.Seed, check, sig, runner.ShrinkSize(start))

	pool, err := newShrinkPool(min(*workers, 64))
	if err != nil {
		return err
	}
	defer pool.close()
	eval := func(cands []*scenario.Scenario) ([]bool, error) { return pool.eval(cands, opts.Seed, check, sig) }
	if failed, err := eval([]*scenario.Scenario{start}); err != nil {
		return err
	} else if !failed[0] {
		return fmt.Errorf("shrink: the recorded run of seed %d no longer fails %s; nothing to shrink from", opts.Seed, check)
	}
	res, err := runner.Shrink(start, runner.ShrinkOptions{
		Seed: opts.Seed, Check: check, Budget: *budget, Batch: pool.size(), Eval: eval,
		Progress: func(st runner.ShrinkStep) {
			fmt.Fprintf(stderr, "shrink: %6.1fs  %-34s -> %s (%d candidates tried)\n", st.Elapsed.Seconds(), st.What, st.Size, st.Tried)
		},
	})
	if err != nil {
		return err
	}
	min := res.Scenario
	min.Name = fmt.Sprintf("%s (shrunk: seed %d fails %s)", s.Name, opts.Seed, check)
	seedCopy := opts.Seed
	min.Seed = &seedCopy
	data, err := min.Marshal()
	if err != nil {
		return fmt.Errorf("shrink: %w", err)
	}
	if err := os.WriteFile(*outPath, data, 0o644); err != nil {
		return badInput("-o: %v", err)
	}
	how := "no smaller candidate fails"
	if res.BudgetSpent {
		how = fmt.Sprintf("budget of %v spent", *budget)
	}
	fmt.Fprintf(stdout, "shrunk %s seed %d (%s fails) in %d steps, %d candidates tried; %s\n", pos[0], opts.Seed, check, res.Steps, res.Tried, how)
	fmt.Fprintf(stdout, "  from  %s\n  to    %s\n", runner.ShrinkSize(start), runner.ShrinkSize(min))
	fmt.Fprintf(stdout, "minimal  %s (seed %d written in it)\n", *outPath, opts.Seed)
	fmt.Fprintf(stdout, "replay   go run ./cmd/ronsim run %s\n", *outPath)
	return nil
}

// shrinkPool is a set of `ronsim worker --scenarios` processes; eval hands
// each one candidate of a batch and reads the answers in order.
type shrinkPool struct {
	cmds []*exec.Cmd
	in   []io.WriteCloser
	out  []*bufio.Scanner
}

func newShrinkPool(n int) (*shrinkPool, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &shrinkPool{}
	for i := 0; i < n; i++ {
		cmd := exec.Command(self, "worker", "--scenarios")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.close()
			return nil, err
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		p.cmds, p.in, p.out = append(p.cmds, cmd), append(p.in, in), append(p.out, sc)
	}
	return p, nil
}

func (p *shrinkPool) size() int { return len(p.cmds) }

func (p *shrinkPool) close() {
	for i, cmd := range p.cmds {
		p.in[i].Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// eval runs up to size() candidates at seed, one per worker, and reports
// which failed check the same way (signature).
func (p *shrinkPool) eval(cands []*scenario.Scenario, seed uint64, check, signature string) ([]bool, error) {
	if len(cands) > len(p.cmds) {
		return nil, fmt.Errorf("shrink: batch of %d for %d workers", len(cands), len(p.cmds))
	}
	enc := make([]*json.Encoder, len(cands))
	for k, c := range cands {
		data, err := c.Marshal()
		if err != nil {
			return nil, err
		}
		enc[k] = json.NewEncoder(p.in[k])
		if err := enc[k].Encode(candidateLine{Seed: seed, Check: check, YAML: string(data)}); err != nil {
			return nil, fmt.Errorf("shrink: worker %d: %w", k, err)
		}
	}
	failed := make([]bool, len(cands))
	for k := range cands {
		if !p.out[k].Scan() {
			return nil, fmt.Errorf("shrink: worker %d exited early: %v", k, p.out[k].Err())
		}
		var r seedResult
		if err := json.Unmarshal(p.out[k].Bytes(), &r); err != nil {
			return nil, fmt.Errorf("shrink: worker %d: bad output line: %v", k, err)
		}
		if r.Error != "" && check != "no_panic" && len(r.Checks) == 0 {
			return nil, fmt.Errorf("shrink: worker %d: %s", k, r.Error)
		}
		for _, c := range r.Checks {
			failed[k] = failed[k] || (c.Name == check && !c.OK && runner.FailureSignature(c.Detail) == signature)
		}
	}
	return failed, nil
}

// runCandidates is the worker side of shrink: one candidateLine in, one
// seedResult out, per line.
func runCandidates(in io.Reader, out io.Writer) error {
	vizDir, err := os.MkdirTemp("", "ronsim-shrink-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(vizDir)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var c candidateLine
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return badInput("worker: bad candidate line: %v", err)
		}
		r := seedResult{Type: "seed", Seed: c.Seed, Faults: map[string]int{}}
		s, err := scenario.Parse("candidate.yaml", []byte(c.YAML))
		if err == nil {
			var rep *runner.Report
			opts := runner.Options{Seed: c.Seed, OnlyCheck: c.Check, AutoVizDir: vizDir}
			if err = applyCanary(&opts); err == nil {
				rep, err = runner.Run(s, opts)
			}
			if err == nil {
				r.OK, r.TraceHash, r.Events, r.Error, r.Checks = rep.OK, rep.TraceHash, rep.Events, rep.Error, rep.Checks
			}
		}
		if err != nil {
			r.Error = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}
