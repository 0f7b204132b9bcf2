package real

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// Options control one real run.
type Options struct {
	Seed uint64
	// Rond is the rond binary; "" builds ./cmd/rond of ModuleDir.
	Rond string
	// ModuleDir is the module root to build rond from.
	ModuleDir string
	// BuildTags are passed to go build when Rond is built (canary).
	BuildTags string
	// History receives the client history as JSON lines.
	History io.Writer
	// VizPath is where to write porcupine's visualisation ("" = only on a
	// linearizability failure, into the work dir).
	VizPath string
	// KeepDir keeps the node data dirs, logs and history there ("" = a
	// temporary dir removed at the end).
	KeepDir string
	// Progress receives a line per phase (nil: none).
	Progress io.Writer
}

// Report is runner.Report, the report of `ronsim run`, with the fields of
// a real run: the JSON has every field of the simulated report plus mode,
// deterministic and relay.
type Report struct {
	*runner.Report
	Mode          string `json:"mode"`
	Deterministic bool   `json:"deterministic"`
	// Kept is where the data dirs, node logs and history were kept.
	Kept  string      `json:"kept,omitempty"`
	Relay relayCounts `json:"relay"`
}

// ModeReal is Report.Mode.
const ModeReal = "real"

// run is the state of one real run.
type run struct {
	scn      *scenario.Scenario
	opts     Options
	workDir  string
	c        *cluster
	timeline *timeline
	faults   []appliedFault
	history  *workload.History
	names    []string
	final    []replicaState
}

// Run executes s against real rond processes. The error is for setup
// problems (an unsupported scenario wraps ErrUnsupported); failed checks
// are in the report (OK false).
func Run(s *scenario.Scenario, opts Options) (*Report, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	r := &run{scn: s, opts: opts}
	workDir, cleanup, err := makeWorkDir(opts.KeepDir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r.workDir = workDir
	bin := opts.Rond
	if bin == "" {
		r.progress("building rond")
		if bin, err = BuildRond(opts.ModuleDir, workDir, opts.BuildTags); err != nil {
			return nil, err
		}
	}
	rand := env.NewRand(opts.Seed)
	r.c, err = newCluster(bin, workDir, s.Nodes.Count, s.Nodes.RegistryReplicas, s.Network, rand)
	if err != nil {
		return nil, err
	}
	defer r.c.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r.progress(fmt.Sprintf("starting %d rond processes in %s", s.Nodes.Count, workDir))
	if err := r.c.startAll(); err != nil {
		return nil, err
	}
	if err := r.waitLeader(ctx); err != nil {
		return nil, err
	}
	rep, err := r.drive(ctx, rand)
	if err != nil {
		return nil, err
	}
	if opts.KeepDir != "" {
		rep.Kept = workDir
		if err := r.writeKeptHistory(); err != nil {
			return nil, err
		}
	}
	if opts.History != nil {
		if err := r.history.WriteJSONLines(opts.History); err != nil {
			return nil, fmt.Errorf("writing history: %w", err)
		}
	}
	for _, err := range r.c.close() {
		rep.OK = false
		rep.Checks = append(rep.Checks, runner.CheckResult{Name: "teardown", Detail: err.Error()})
	}
	return rep, nil
}

func makeWorkDir(keep string) (string, func(), error) {
	if keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			return "", nil, err
		}
		return keep, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "ronsim-real-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

func (r *run) progress(line string) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "ronsim real: %s\n", line)
	}
}

// waitLeader waits until some replica has become leader, so the run's
// clock starts on a working registry as the simulated one does after its
// first election.
func (r *run) waitLeader(ctx context.Context) error {
	deadline := time.Now().Add(ReadyDeadline)
	for r.c.leader() < 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("real: no registry leader within %v (logs in %s)", ReadyDeadline, r.workDir)
		}
		if !sleepUntil(ctx, time.Now().Add(PollInterval)) {
			return errors.New("real: interrupted")
		}
	}
	return nil
}

// drive runs the workload and the fault timeline for the scenario's
// duration, then the checks.
func (r *run) drive(ctx context.Context, rand *env.Rand) (*Report, error) {
	start := time.Now()
	r.timeline = newTimeline(r.scn, r.c, start)
	clients := newClients(r.scn.Workload, r.c, start, rand.Derive("workload"))
	r.names = clients.names
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.timeline.run(ctx) }()
	go func() { defer wg.Done(); clients.run(ctx) }()
	r.progress(fmt.Sprintf("running %v of workload and faults", r.scn.Duration))
	interrupted := !sleepUntil(ctx, start.Add(r.scn.Duration))
	cancel()
	wg.Wait()
	if interrupted {
		return nil, errors.New("real: interrupted")
	}
	r.timeline.resumeAll()
	r.timeline.restarts.Wait()
	wall := time.Since(start)
	r.history = clients.History()
	var faultErrs []error
	r.faults, faultErrs = r.timeline.result()
	r.progress("checking")
	rep := &Report{Report: &runner.Report{}, Mode: ModeReal}
	rep.Registry = registryStats(r.history, r.scn.Duration.Seconds())
	rep.Checks = r.checks(rep.Report)
	for _, err := range faultErrs {
		// A fault that could not be applied makes the run prove less than
		// it claims: a failed check, never a silent skip.
		rep.Checks = append(rep.Checks, runner.CheckResult{Name: "faults_applied", Detail: err.Error()})
	}
	r.fill(rep, wall)
	return rep, nil
}

func (r *run) fill(rep *Report, wall time.Duration) {
	rep.Scenario = r.scn.Name
	rep.File = r.scn.Source
	rep.Seed = r.opts.Seed
	rep.Nodes = r.scn.Nodes.Count
	rep.TraceHash = "none (real processes: not deterministic)"
	rep.SimSeconds = r.scn.Duration.Seconds()
	rep.WallSeconds = wall.Seconds()
	if rep.WallSeconds > 0 {
		rep.Speedup = rep.SimSeconds / rep.WallSeconds
	}
	rep.Replay = ReplayCommand(r.scn.Source, r.opts.Seed)
	for _, f := range r.faults {
		rep.Faults = append(rep.Faults, runner.FaultReport{AtSeconds: f.at.Seconds(), Kind: f.kind, Detail: f.detail})
	}
	rep.SLO, rep.Counters = map[string]runner.Summary{}, map[string]float64{}
	rep.Relay = r.c.net.snapshot()
	rep.OK = true
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
}

// ReplayCommand is the command that reruns a real run: the same
// workload draws and fault timeline, not the same timing.
func ReplayCommand(file string, seed uint64) string {
	return fmt.Sprintf("go run ./cmd/ronsim real %s --seed %d", file, seed)
}

func (r *run) writeKeptHistory() error {
	f, err := os.Create(filepath.Join(r.workDir, "history.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	return r.history.WriteJSONLines(f)
}

// WriteText prints the human report: runner's, after the lines that say
// what a real run is.
func (rep *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nmode       real: %d rond processes on loopback, wall-clock time, NOT deterministic (the seed fixes the workload draws and fault targets, not the timing)\n", rep.Nodes)
	c := rep.Relay
	fmt.Fprintf(w, "relays     %d packets forwarded, %d cut, %d lost, %d duplicated, %d reordered, %d shed\n", c.Forwarded, c.Cut, c.Lost, c.Duplicated, c.Reordered, c.Shed)
	if rep.Kept != "" {
		fmt.Fprintf(w, "kept       %s (data dirs, node logs, history.jsonl)\n", rep.Kept)
	}
	rep.Report.WriteText(w)
}
