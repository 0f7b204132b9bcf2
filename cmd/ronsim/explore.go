package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/sim/runner"
)

// seedResult is one line a worker writes per seed.
type seedResult struct {
	Seed      uint64   `json:"seed"`
	OK        bool     `json:"ok"`
	TraceHash string   `json:"trace_hash"`
	Events    uint64   `json:"events"`
	Failed    []string `json:"failed,omitempty"` // "check: detail"
	Error     string   `json:"error,omitempty"`  // setup error or node panic
}

// exploreSummary is explore's --json output.
type exploreSummary struct {
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
}

func cmdExplore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("explore", "ronsim explore FILE --seeds N")
	seeds := fs.Uint64("seeds", 100, "how many seeds to run")
	from := fs.Uint64("from", 1, "first seed")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes")
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
	sum := exploreSummary{Scenario: s.Name, File: pos[0], Swarm: swarm, From: *from, Seeds: *seeds,
		Shard: fmt.Sprintf("%d/%d", k, n), Workers: min(*workers, max(len(list), 1)), OK: true}
	start := time.Now()
	prog := newProgress(stderr, len(list), *asJSON)
	fail, err := runSeeds(pos[0], swarm, list, sum.Workers, func(r seedResult) {
		sum.SeedsRun++
		sum.Events += r.Events
		prog.update(int(sum.SeedsRun))
	})
	prog.done()
	if err != nil {
		return err
	}
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
		if err := json.NewEncoder(stdout).Encode(sum); err != nil {
			return err
		}
	} else {
		printExplore(stdout, &sum)
	}
	if !sum.OK {
		return &exitError{code: 1, err: fmt.Errorf("")}
	}
	return nil
}

func printExplore(w io.Writer, s *exploreSummary) {
	fmt.Fprintf(w, "explore %s (%s)\n", s.File, s.Scenario)
	fmt.Fprintf(w, "  seeds %d..%d shard %s swarm %v workers %d\n", s.From, s.From+s.Seeds-1, s.Shard, s.Swarm, s.Workers)
	fmt.Fprintf(w, "  ran %d seeds, %d events in %.1fs (%.1f seeds/s)\n", s.SeedsRun, s.Events, s.WallSeconds, s.SeedsPerSecond)
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

// runSeeds runs list over workers worker processes, calling onResult for
// each finished seed, and stops at the first failing seed. Each worker has
// at most one seed outstanding, so an idle worker gets the next seed as soon
// as it answers.
func runSeeds(file string, swarm bool, list []uint64, workers int, onResult func(seedResult)) (*seedResult, error) {
	if len(list) == 0 {
		return nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
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
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
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
		a := <-answers
		if a.err != nil {
			return nil, fmt.Errorf("worker %d: %w", a.worker, a.err)
		}
		inflight--
		onResult(a.result)
		if !a.result.OK {
			return &a.result, nil
		}
		feed(a.worker)
	}
	return nil, nil
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

// workerGCPercent is the GOGC of explore's workers (an explicit GOGC in
// the environment wins). A registry seed keeps a live heap of a few MiB
// but allocates about 300 MB, so at the default 100 the collector runs
// every few MiB; at 400 a run of scenarios/partition.yaml took about 15%
// less CPU for about 30 MB more peak RSS per worker, and 1600 takes a
// further 3-5% off the registry scenarios for a peak RSS of 250-450 MB
// per worker (BENCHMARKS.md).
const workerGCPercent = 1600

// cmdWorker reads seeds from in, one per line, and writes one seedResult
// JSON line per seed to out.
func cmdWorker(args []string, in io.Reader, out io.Writer) error {
	fs := newFlagSet("worker", "")
	swarm := fs.Bool("swarm", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return badInput("worker: want FILE [--swarm]")
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(workerGCPercent)
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		seed, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			return badInput("worker: bad seed line %q", sc.Text())
		}
		r := seedResult{Seed: seed}
		rep, err := runner.Run(s, runner.Options{Seed: seed, Swarm: *swarm, AutoVizDir: "out"})
		if err != nil {
			r.Error = err.Error()
		} else {
			r.OK = rep.OK
			r.TraceHash = rep.TraceHash
			r.Events = rep.Events
			r.Error = rep.Error
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
