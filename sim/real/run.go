package real

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// Options control one real run.
type Options struct {
	Seed uint64
	// Rond is the rond binary; "" builds ./cmd/rond of ModuleDir.
	Rond string
	// RondOld, when set, is the build every node starts on; an upgrade
	// fault moves a node to Rond, a downgrade back (scenarios/README.md).
	// Without it both are Rond: a swap is a stop, a migrate and a restart
	// of the same build.
	RondOld string
	// FormatNew is the data dir format an upgrade migrates to: Rond's
	// newest (cmd/ronsim passes io/datadir.FormatCurrent).
	FormatNew uint32
	// ModuleDir is the module root to build rond from.
	ModuleDir string
	// BuildTags are passed to go build when Rond is built (canary).
	BuildTags string
	// Canary selects core/registry's deliberately wrong behaviours in
	// every node ("local_resolve", "ack_before_commit", "skip_sync",
	// comma-separated) through rond's registry-bug failpoint; they take
	// effect only in a rond built with -tags canary (BuildTags).
	Canary string
	// Soak, when longer than the scenario, repeats its faults and keeps
	// the workload going for that long (Soak), sampling each node
	// process's memory and threads; a leak fails the run.
	Soak time.Duration
	// Failpoints are turned on in every node for the whole run (name ->
	// pingcap/failpoint terms), e.g. io/quicnet's send and receive.
	Failpoints map[string]string
	// OAP, when set, opens an OAP/1 client to a node's client endpoint
	// (sim/ cannot import io/oapgate; cmd/ronsim passes its client in).
	// OAPShare of the clients (rounded) then send every request over
	// OAP/1 instead of HTTP, to the same gateway.
	OAP      OAPDialer
	OAPShare float64
	// History receives the client history as JSON lines.
	History io.Writer
	// VizPath is where to write porcupine's visualisation ("" = only on a
	// linearizability failure, into the work dir).
	VizPath string
	// KeepDir keeps the node data dirs, logs and history there ("" = a
	// temporary dir, removed at the end unless the run failed).
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
	// OAPClients is how many clients spoke OAP/1 instead of HTTP.
	OAPClients int `json:"oap_clients"`
	// Processes are the sampled figures of every node process (soaks).
	Processes []SoakStats `json:"processes,omitempty"`
}

// OAPDialer returns an http.RoundTripper that carries requests to the
// node with id over OAP/1 at addr (UDP host:port); if it is an
// io.Closer, it is closed after the run.
type OAPDialer func(addr string, id proto.NodeID) (http.RoundTripper, error)

// clusterBuilt lets tests see the cluster a run built (pids, relays).
var clusterBuilt = func(*cluster) {}

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
	content  *contentClients // nil without a content workload
	names    []string
	final    []replicaState
}

// Run executes s against real rond processes. The error is for setup
// problems (an unsupported scenario wraps ErrUnsupported); failed checks
// are in the report (OK false).
func Run(s *scenario.Scenario, opts Options) (*Report, error) {
	s = Soak(s, opts.Soak)
	if err := Validate(s); err != nil {
		return nil, err
	}
	r := &run{scn: s, opts: opts}
	workDir, cleanup, err := makeWorkDir(opts.KeepDir)
	if err != nil {
		return nil, err
	}
	keep := false // a failed run keeps its temporary dir for the post-mortem
	defer func() {
		if !keep {
			cleanup()
		}
	}()
	r.workDir = workDir
	bin := opts.Rond
	if bin == "" {
		r.progress("building rond")
		binDir, err := os.MkdirTemp("", "ronsim-rond-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(binDir)
		if bin, err = BuildRond(opts.ModuleDir, binDir, opts.BuildTags); err != nil {
			return nil, err
		}
	}
	rand := env.NewRand(opts.Seed)
	r.c, err = newCluster(bin, workDir, s.Nodes.Count, s.Nodes.RegistryReplicas, s.Network, rand)
	if err != nil {
		return nil, err
	}
	defer r.c.close()
	r.c.old, r.c.formatNew = opts.RondOld, opts.FormatNew
	clusterBuilt(r.c)
	for _, n := range r.c.nodes {
		n.failpoints = map[string]string{}
		for name, terms := range opts.Failpoints {
			n.failpoints[name] = terms
		}
		if opts.Canary != "" {
			n.failpoints[FailpointRegistryBug] = fmt.Sprintf("return(%q)", opts.Canary)
		}
		if powerLoss(s) {
			n.failpoints[FailpointUnsynced] = `return("keep")`
		}
		n.unsyncedSurvive = s.Disk.UnsyncedSurvive
	}
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
	if opts.KeepDir != "" || !rep.OK {
		keep = true
		rep.Kept = workDir
		if err := r.writeKeptHistory(); err != nil {
			return nil, err
		}
	}
	if opts.History != nil {
		if err := r.writeHistory(opts.History); err != nil {
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
	if r.c.replicas == 0 {
		return nil // no registry: every node answered /readyz
	}
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
	clients, err := newClients(r.scn.Workload, r.c, start, rand.Derive("workload"), r.opts)
	if err != nil {
		return nil, err
	}
	defer clients.close()
	r.names = clients.names
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	samples := newSampler(r.c, start)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.timeline.run(ctx) }()
	go func() { defer wg.Done(); clients.run(ctx) }()
	go func() { defer wg.Done(); samples.run(ctx) }()
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
	r.content = clients.content
	var faultErrs []error
	r.faults, faultErrs = r.timeline.result()
	r.progress("checking")
	rep := &Report{Report: &runner.Report{}, Mode: ModeReal}
	if r.registryRuns() {
		rep.Registry = registryStats(r.history, r.scn.Duration.Seconds())
	}
	if r.content != nil {
		rep.Content = r.content.stats()
	}
	rep.Checks = r.checks(rep.Report)
	for _, err := range faultErrs {
		// A fault that could not be applied makes the run prove less than
		// it claims: a failed check, never a silent skip.
		rep.Checks = append(rep.Checks, runner.CheckResult{Name: "faults_applied", Detail: err.Error()})
	}
	if r.opts.Soak > 0 {
		var leaks runner.CheckResult
		rep.Processes, leaks = samples.stats()
		rep.Checks = append(rep.Checks, leaks)
	}
	rep.OAPClients = clients.oapCount
	r.fill(rep, wall)
	fillMetrics(rep.Report, r.c.metrics.total(r.c))
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
	return r.writeHistory(f)
}

// writeHistory writes the registry history, then the content one, as
// ronsim run does.
func (r *run) writeHistory(w io.Writer) error {
	if err := r.history.WriteJSONLines(w); err != nil {
		return err
	}
	if r.content != nil {
		return r.content.History().WriteJSONLines(w)
	}
	return nil
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
	for _, p := range rep.Processes {
		verdict := "too short to judge"
		if p.JudgedForLeaks {
			verdict = fmt.Sprintf("rss %.0f -> %.0f MiB, threads %d -> %d", p.RSSFirstMiB, p.RSSLastMiB, p.ThreadsFirst, p.ThreadsLast)
		}
		if p.GoroutinesJudged {
			verdict += fmt.Sprintf(", goroutines by quarter %v (max %d)", p.Goroutines, p.GoroutinesMax)
		}
		fmt.Fprintf(w, "process    %-6s %4d samples, rss max %.0f MiB, %s\n", p.Process, p.Samples, p.RSSMaxMiB, verdict)
	}
	rep.Report.WriteText(w)
}
