package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/sim/runner"
)

// seedResult is one line a worker writes per seed, and one line of
// explore --json: what the seed drew, which faults it injected, and every
// check's verdict with its figures.
type seedResult struct {
	Type      string               `json:"type"` // "seed"
	Seed      uint64               `json:"seed"`
	OK        bool                 `json:"ok"`
	TraceHash string               `json:"trace_hash"`
	Events    uint64               `json:"events"`
	Drawn     []runner.Draw        `json:"drawn,omitempty"`
	Faults    map[string]int       `json:"faults"` // actions applied, by kind
	Checks    []runner.CheckResult `json:"checks"`
	Failed    []string             `json:"failed,omitempty"` // "check: detail"
	Error     string               `json:"error,omitempty"`  // setup error or node panic
	// LincheckSeconds is the linearizability checker's time on this seed
	// (0 without a registry workload).
	LincheckSeconds float64 `json:"lincheck_seconds,omitempty"`
	// LincheckCPUSeconds is the worker's CPU time during that check.
	LincheckCPUSeconds float64 `json:"lincheck_cpu_seconds,omitempty"`
}

// checkTimes summarises the linearizability checker's time per seed over
// a sweep (seeds with a registry workload only).
type checkTimes struct {
	Seeds      int     `json:"seeds"`
	P50Seconds float64 `json:"p50_seconds"`
	P99Seconds float64 `json:"p99_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
	MaxSeed    uint64  `json:"max_seed"`
}

// linTimes computes checkTimes from (seed, seconds) pairs; nil when none.
func linTimes(seeds []uint64, secs []float64) *checkTimes {
	if len(secs) == 0 {
		return nil
	}
	idx := make([]int, len(secs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return secs[idx[a]] < secs[idx[b]] })
	at := func(q float64) float64 { // nearest rank
		k := int(math.Ceil(q*float64(len(idx)))) - 1
		return secs[idx[max(0, min(k, len(idx)-1))]]
	}
	last := idx[len(idx)-1]
	return &checkTimes{Seeds: len(secs), P50Seconds: at(0.50), P99Seconds: at(0.99), MaxSeconds: secs[last], MaxSeed: seeds[last]}
}

// checkTally counts one check's verdicts across a sweep.
type checkTally struct {
	Passed int `json:"passed"`
	Failed int `json:"failed"`
}

// drawRange is the smallest and largest value a sweep drew for a field.
type drawRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// faultTally counts one fault kind across a sweep: the seeds that
// injected it and the actions applied.
type faultTally struct {
	Seeds   int `json:"seeds"`
	Actions int `json:"actions"`
}

// exercised is what a sweep covered: fault kinds, checks and draws.
type exercised struct {
	Faults map[string]*faultTally `json:"faults"`
	Checks map[string]*checkTally `json:"checks"`
	Drawn  map[string]*drawRange  `json:"drawn,omitempty"`
}

func newExercised() exercised {
	return exercised{Faults: map[string]*faultTally{}, Checks: map[string]*checkTally{}, Drawn: map[string]*drawRange{}}
}

func (e *exercised) add(r *seedResult) {
	for kind, n := range r.Faults {
		t := e.Faults[kind]
		if t == nil {
			t = &faultTally{}
			e.Faults[kind] = t
		}
		t.Seeds++
		t.Actions += n
	}
	for _, c := range r.Checks {
		t := e.Checks[c.Name]
		if t == nil {
			t = &checkTally{}
			e.Checks[c.Name] = t
		}
		if c.OK {
			t.Passed++
		} else {
			t.Failed++
		}
	}
	for _, d := range r.Drawn {
		if t := e.Drawn[d.Field]; t == nil {
			e.Drawn[d.Field] = &drawRange{Min: d.Value, Max: d.Value}
		} else {
			t.Min, t.Max = min(t.Min, d.Value), max(t.Max, d.Value)
		}
	}
}

// exploreSummary is the last line of explore's --json output (the lines
// before it are the seeds, one each, in the order they finished).
type exploreSummary struct {
	Type           string      `json:"type"` // "summary"
	Scenario       string      `json:"scenario"`
	File           string      `json:"file"`
	Swarm          bool        `json:"swarm"`
	From           uint64      `json:"from"`
	Seeds          uint64      `json:"seeds"`
	Shard          string      `json:"shard"`
	SeedsRun       uint64      `json:"seeds_run"`
	Events         uint64      `json:"events"`
	WallSeconds    float64     `json:"wall_seconds"`
	SeedsPerSecond float64     `json:"seeds_per_second"`
	OK             bool        `json:"ok"`
	Failure        *seedResult `json:"failure,omitempty"`
	Replay         string      `json:"replay,omitempty"`
	Workers        int         `json:"workers"`
	// Interrupted is true when SIGINT stopped the sweep early: the figures
	// cover the seeds that finished.
	Interrupted bool      `json:"interrupted,omitempty"`
	Exercised   exercised `json:"exercised"`
	// Lincheck and LincheckCPU are the linearizability checker's wall and
	// CPU time per seed.
	Lincheck    *checkTimes `json:"lincheck,omitempty"`
	LincheckCPU *checkTimes `json:"lincheck_cpu,omitempty"`
}

func cmdExplore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("explore", "ronsim explore FILE --seeds N")
	seeds := fs.Uint64("seeds", 100, "how many seeds to run")
	from := fs.Uint64("from", exploreFromDefault, "first seed")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes (default: one per CPU)")
	shard := fs.String("shard", "", "K/N: run only the K-th of N disjoint slices of the seed range")
	asJSON := fs.Bool("json", false, "print a JSON summary")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return badInput("explore takes exactly one scenario file, got %d", len(pos))
	}
	if *workers < 1 || *workers > 256 {
		return badInput("--workers %d: want 1..256", *workers)
	}
	// --seeds 0 would check nothing and exit 0; the seed list is built in
	// memory, so a huge --seeds would exhaust it before the first seed
	// ran; --from near the top would wrap round to seed 0.
	if *seeds < 1 || *seeds > exploreSeedsMax {
		return badInput("--seeds %d: want 1..%d", *seeds, uint64(exploreSeedsMax))
	}
	if *from > math.MaxUint64-(*seeds-1) {
		return badInput("--from %d --seeds %d: the last seed would pass %d", *from, *seeds, uint64(math.MaxUint64))
	}
	k, n, err := parseShard(*shard)
	if err != nil {
		return err
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	swarm := s.Swarm != nil
	var list []uint64
	for i := uint64(0); i < *seeds; i++ {
		if i%n == k-1 {
			list = append(list, *from+i)
		}
	}
	sum := exploreSummary{Type: "summary", Scenario: s.Name, File: pos[0], Swarm: swarm, From: *from, Seeds: *seeds,
		Shard: fmt.Sprintf("%d/%d", k, n), Workers: min(*workers, max(len(list), 1)), OK: true, Exercised: newExercised()}
	start := time.Now()
	prog := newProgress(stderr, len(list), *asJSON)
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	enc := json.NewEncoder(stdout)
	var linSeeds []uint64
	var linSecs, linCPU []float64
	fail, interrupted, err := runSeeds(pos[0], swarm, list, sum.Workers, interrupt, func(r seedResult) {
		if r.LincheckSeconds > 0 {
			linSeeds = append(linSeeds, r.Seed)
			linSecs = append(linSecs, r.LincheckSeconds)
			linCPU = append(linCPU, r.LincheckCPUSeconds)
		}
		sum.SeedsRun++
		sum.Events += r.Events
		sum.Exercised.add(&r)
		if *asJSON {
			_ = enc.Encode(r)
		}
		prog.update(int(sum.SeedsRun))
	})
	prog.done()
	if err != nil {
		return err
	}
	sum.Interrupted = interrupted
	sum.Lincheck = linTimes(linSeeds, linSecs)
	sum.LincheckCPU = linTimes(linSeeds, linCPU)
	sum.WallSeconds = time.Since(start).Seconds()
	if sum.WallSeconds > 0 {
		sum.SeedsPerSecond = float64(sum.SeedsRun) / sum.WallSeconds
	}
	if fail != nil {
		sum.OK = false
		sum.Failure = fail
		sum.Replay = runner.ReplayCommand(pos[0], fail.Seed, swarm)
	}
	if *asJSON {
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		printExplore(stdout, &sum)
	}
	if !sum.OK {
		return &exitError{code: 1, err: fmt.Errorf("")}
	}
	if sum.Interrupted {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted after %d of %d seeds", sum.SeedsRun, len(list))}
	}
	return nil
}

// exploreSeedsMax bounds --seeds: its list of seeds is held in memory
// (8 bytes each), and at explore's pace it is days of work already.
const exploreSeedsMax = 1 << 24

// exploreFromDefault is explore's first seed without --from.
const exploreFromDefault = 1

// exitInterrupted is explore's exit status when SIGINT stopped it (128+2,
// as a shell reports a process killed by SIGINT).
const exitInterrupted = 130

func printExplore(w io.Writer, s *exploreSummary) {
	fmt.Fprintf(w, "explore %s (%s)\n", s.File, s.Scenario)
	fmt.Fprintf(w, "  seeds %d..%d shard %s swarm %v workers %d\n", s.From, s.From+s.Seeds-1, s.Shard, s.Swarm, s.Workers)
	fmt.Fprintf(w, "  ran %d seeds, %d events in %.1fs (%.1f seeds/s)\n", s.SeedsRun, s.Events, s.WallSeconds, s.SeedsPerSecond)
	printExercised(w, &s.Exercised)
	if l, c := s.Lincheck, s.LincheckCPU; l != nil && c != nil {
		fmt.Fprintf(w, "  lincheck per seed over %d seeds: wall p50 %.3fs p99 %.3fs max %.3fs (seed %d); CPU p50 %.3fs p99 %.3fs max %.3fs (seed %d)\n",
			l.Seeds, l.P50Seconds, l.P99Seconds, l.MaxSeconds, l.MaxSeed, c.P50Seconds, c.P99Seconds, c.MaxSeconds, c.MaxSeed)
	}
	if s.Interrupted && s.OK {
		fmt.Fprintf(w, "  result: INTERRUPTED after %d seeds (no failing seed so far)\n", s.SeedsRun)
		return
	}
	if s.OK {
		fmt.Fprintln(w, "  result: PASS (no failing seed)")
		return
	}
	fmt.Fprintf(w, "  result: FAIL at seed %d\n", s.Failure.Seed)
	for _, f := range s.Failure.Failed {
		fmt.Fprintf(w, "    %s\n", f)
	}
	if s.Failure.Error != "" {
		fmt.Fprintf(w, "    error: %s\n", s.Failure.Error)
	}
	fmt.Fprintf(w, "  replay: %s\n", s.Replay)
}

// printExercised lists what the sweep covered, in sorted order.
func printExercised(w io.Writer, e *exercised) {
	var parts []string
	for _, kind := range sortedKeys(e.Faults) {
		parts = append(parts, fmt.Sprintf("%s %d/%d", kind, e.Faults[kind].Seeds, e.Faults[kind].Actions))
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	fmt.Fprintf(w, "  faults (seeds/actions): %s\n", strings.Join(parts, ", "))
	parts = parts[:0]
	for _, name := range sortedKeys(e.Checks) {
		parts = append(parts, fmt.Sprintf("%s %d pass %d fail", name, e.Checks[name].Passed, e.Checks[name].Failed))
	}
	fmt.Fprintf(w, "  checks: %s\n", strings.Join(parts, ", "))
	if len(e.Drawn) > 0 {
		parts = parts[:0]
		for _, field := range sortedKeys(e.Drawn) {
			parts = append(parts, fmt.Sprintf("%s %.3g..%.3g", field, e.Drawn[field].Min, e.Drawn[field].Max))
		}
		fmt.Fprintf(w, "  drawn: %s\n", strings.Join(parts, ", "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runSeeds runs list over workers worker processes, calling onResult for
// each finished seed, and stops at the first failing seed, or when stop
// receives (interrupted true). Each worker has at most one seed
// outstanding, so an idle worker gets the next seed as soon as it answers.
func runSeeds(file string, swarm bool, list []uint64, workers int, stop <-chan os.Signal, onResult func(seedResult)) (fail *seedResult, interrupted bool, err error) {
	if len(list) == 0 {
		return nil, false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, false, err
	}
	type answer struct {
		worker int
		result seedResult
		err    error
	}
	answers := make(chan answer, workers)
	var cmds []*exec.Cmd
	var inputs []io.WriteCloser
	defer func() {
		for i, cmd := range cmds {
			inputs[i].Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	for i := 0; i < workers; i++ {
		args := []string{"worker", file}
		if swarm {
			args = append(args, "--swarm")
		}
		cmd := exec.Command(self, args...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, false, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, false, err
		}
		if err := cmd.Start(); err != nil {
			return nil, false, err
		}
		cmds = append(cmds, cmd)
		inputs = append(inputs, in)
		go readAnswers(i, out, func(r seedResult, err error) { answers <- answer{i, r, err} })
	}
	next, inflight := 0, 0
	feed := func(w int) {
		if next < len(list) {
			fmt.Fprintln(inputs[w], list[next])
			next++
			inflight++
		}
	}
	for w := range cmds {
		feed(w)
	}
	for inflight > 0 {
		var a answer
		select {
		case a = <-answers:
		case <-stop:
			return nil, true, nil
		}
		if a.err != nil {
			return nil, false, fmt.Errorf("worker %d: %w", a.worker, a.err)
		}
		inflight--
		onResult(a.result)
		if !a.result.OK {
			return &a.result, false, nil
		}
		feed(a.worker)
	}
	return nil, false, nil
}

// readAnswers decodes a worker's result lines until its output closes.
func readAnswers(worker int, out io.Reader, deliver func(seedResult, error)) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r seedResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			deliver(r, fmt.Errorf("bad output line: %v", err))
			return
		}
		deliver(r, nil)
	}
	err := sc.Err()
	if err == nil {
		err = fmt.Errorf("exited early")
	}
	deliver(seedResult{}, err)
}

// cmdWorker reads seeds from in, one per line, and writes one seedResult
// JSON line per seed to out.
func cmdWorker(args []string, in io.Reader, out io.Writer) error {
	fs := newFlagSet("worker", "")
	swarm := fs.Bool("swarm", false, "")
	candidates := fs.Bool("scenarios", false, "")
	pos, err := parseInterspersed(fs, args)
	tuneGC()
	if err == nil && *candidates && len(pos) == 0 {
		signal.Ignore(os.Interrupt)
		return runCandidates(in, out)
	}
	if err != nil || len(pos) != 1 {
		return badInput("worker: want FILE [--swarm], or --scenarios")
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	// Ctrl-C on a terminal reaches the whole process group: the explore
	// parent stops the sweep and prints what finished; a worker dying on
	// the same signal would only turn that into a worker error.
	signal.Ignore(os.Interrupt)
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		seed, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			return badInput("worker: bad seed line %q", sc.Text())
		}
		r := seedResult{Type: "seed", Seed: seed, Faults: map[string]int{}}
		opts := runner.Options{Seed: seed, Swarm: *swarm, AutoVizDir: "out"}
		if err := applyCanary(&opts); err != nil {
			return err
		}
		rep, err := runner.Run(s, opts)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.OK = rep.OK
			r.TraceHash = rep.TraceHash
			r.Events = rep.Events
			r.Error = rep.Error
			r.Drawn = rep.Swarm
			r.Checks = rep.Checks
			if rep.Registry != nil {
				r.LincheckSeconds = rep.Registry.LincheckSeconds
				r.LincheckCPUSeconds = rep.Registry.LincheckCPUSeconds
			}
			for _, f := range rep.Faults {
				r.Faults[f.Kind]++
			}
			for _, c := range rep.Checks {
				if !c.OK {
					r.Failed = append(r.Failed, c.Name+": "+c.Detail)
				}
			}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}
