package real

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// ErrUnsupported is wrapped by every refusal of a scenario feature that
// ronsim real cannot make real: such a scenario is refused before any
// process starts, never run with the feature skipped.
var ErrUnsupported = errors.New("real: not supported against real processes")

// Validate refuses what cannot be made real, naming each feature with its
// line in the scenario file.
func Validate(s *scenario.Scenario) error {
	var problems []string
	refuse := func(line int, what, why string) {
		if line == 0 { // a section: the scenario keeps no line for it
			problems = append(problems, fmt.Sprintf("%s: %s: %s", s.Source, what, why))
			return
		}
		problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", s.Source, line, what, why))
	}
	for _, f := range s.Faults {
		switch f.Kind {
		case scenario.KindCrash:
			if f.Crash.Wipe {
				refuse(f.Line, "fault wipe", "no real injection for a wipe yet (it would empty the node's data dir but keep its key)")
			}
		case scenario.KindPartition, scenario.KindPause, scenario.KindClock:
		case scenario.KindDisk:
			validateDisk(f, refuse)
		case scenario.KindNetwork:
			if f.Network.BandwidthBytesPerSecond != nil && *f.Network.BandwidthBytesPerSecond > 0 {
				refuse(f.Line, "fault network.bandwidth", "the relays do not shape bandwidth")
			}
		default:
			refuse(f.Line, "fault "+f.Kind, "no real injection for this kind yet")
		}
	}
	if s.RandomFaults != nil {
		refuse(0, "random_faults", "draw the faults into an explicit timeline (ronsim run --record) first")
	}
	if s.Adversary != nil {
		refuse(0, "adversary", "storage liars rewrite frames inside the simulator; the relays do not")
	}
	if s.Audit != nil {
		refuse(0, "audit", "the audit section's appends and retention run inside the simulator only")
	}
	if s.Network.BandwidthBytesPerSecond > 0 {
		refuse(0, "network.bandwidth", "the relays do not shape bandwidth")
	}
	d := s.Disk
	if d.Latency > 0 || d.ReadError > 0 || d.WriteError > 0 || d.CorruptRead > 0 || d.CorruptWrite > 0 || d.TornWrite > 0 {
		refuse(0, "disk", "baseline disk faults have no real injection yet")
	}
	if d.UnsyncedSurvive != 0 && d.UnsyncedSurvive != 1 {
		refuse(0, "disk.unsynced_survive", unsyncedSurviveWhy)
	}
	wl := s.Workload
	registry := wl != nil && wl.Mix.UsesRegistry() && s.Nodes.RegistryReplicas > 0
	content := wl != nil && wl.Mix.UsesContent()
	switch {
	case !registry && !content:
		refuse(0, "workload", "ronsim real drives the registry and content workloads; this scenario has neither")
	case wl.Mix.SessionPut > 0:
		refuse(0, "workload.mix.session_put", "ronsim real's PUT /o is streamed by rond's gateway already; session puts are driven in the simulator only")
	case wl.Mix.Lookup > 0 || wl.Tokens != nil:
		refuse(0, "workload.mix", "lookup and token operations are not driven against real processes yet")
	case content && wl.Objects == nil:
		refuse(0, "workload.objects", "a content mix needs objects")
	}
	for _, c := range s.Checks {
		switch c.Name {
		case scenario.CheckDurability:
		case scenario.CheckLinearizable, scenario.CheckLiveness:
			if !registry {
				refuse(0, "checks."+c.Name, "checks the registry workload, which this scenario does not run")
			}
		case scenario.CheckIntegrity:
			if !content {
				refuse(0, "checks."+c.Name, "checks the content workload, which this scenario does not run")
			}
		default:
			refuse(0, "checks."+c.Name, "no real implementation of this check yet")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrUnsupported, strings.Join(problems, "\n  "))
	}
	return nil
}

// unsyncedSurviveWhy is the refusal of a survival probability strictly
// between 0 and 1.
const unsyncedSurviveWhy = "a real crash drops every unsynced write (0, a power loss played by io/pebbledisk's journal) or keeps them all (1, a bare SIGKILL); it cannot keep a random prefix of them"

// validateDisk refuses the disk fault fields the pebbledisk failpoints
// cannot make real: a corrupt or torn write stores wrong bytes that pebble
// would have to be made to keep, and a crash either drops every unsynced
// write or keeps them all (unsyncedSurviveWhy).
func validateDisk(f scenario.Fault, refuse func(int, string, string)) {
	d := f.Disk
	set := func(p *float64) bool { return p != nil && *p > 0 }
	if set(d.CorruptWrite) {
		refuse(f.Line, "fault disk.corrupt_write", "pebble cannot be made to store flipped bits through a failpoint")
	}
	if set(d.TornWrite) {
		refuse(f.Line, "fault disk.torn_write", "a power loss on a real data dir drops every unsynced write whole; none is left half applied")
	}
	if p := d.UnsyncedSurvive; p != nil && *p != 0 && *p != 1 {
		refuse(f.Line, "fault disk.unsynced_survive", unsyncedSurviveWhy)
	}
	if set(d.LatencyJitter) {
		refuse(f.Line, "fault disk.latency_jitter", "failpoint sleeps are fixed")
	}
	if d.Latency != nil && *d.Latency%time.Millisecond != 0 {
		refuse(f.Line, "fault disk.latency", "failpoint sleeps are whole milliseconds")
	}
}

// action is one step of the fault timeline.
type action struct {
	at  time.Duration
	run func() (kind, detail string, err error)
}

// step is an action of the timeline; heal marks a fault's closing step
// (a cut healed, a crashed or swapped node restarted, a pause resumed, a
// clock, disk or network put back), every step of a fault after its first.
type step struct {
	action
	heal bool
}

// timeline applies the scenario's faults for real at their wall-clock
// times and records what it did.
type timeline struct {
	s     *scenario.Scenario
	c     *cluster
	start time.Time
	// lastEnd is when the last fault healed: its scheduled end, moved
	// later by run to when each action actually returned (a slow action
	// delays the ones after it). Guarded by mu while run runs.
	lastEnd time.Duration
	// healLate is the largest lateness of a heal step (when it returned
	// minus when it was scheduled), which widens the window the liveness
	// check excuses; guarded by mu.
	healLate time.Duration
	// powerLoss: the nodes journal their unsynced writes (powerLoss(s)).
	powerLoss bool

	mu      sync.Mutex
	applied []appliedFault
	errs    []error
	// restarts are the restarts still waiting for their node to answer.
	restarts sync.WaitGroup
}

// appliedFault is one fault action as the report shows it.
type appliedFault struct {
	at           time.Duration
	kind, detail string
}

func newTimeline(s *scenario.Scenario, c *cluster, start time.Time) *timeline {
	t := &timeline{s: s, c: c, start: start, powerLoss: powerLoss(s)}
	for i := range s.Faults {
		f := &s.Faults[i]
		if f.Crash != nil {
			t.lastEnd = max(t.lastEnd, f.At)
		}
		t.lastEnd = max(t.lastEnd, min(f.End(s.Duration), s.Duration))
	}
	return t
}

// actions turns the faults into timed steps, ordered by time (a fault's
// closing step after its opening one at equal times).
func (t *timeline) actions() []step {
	var out []step
	for i := range t.s.Faults {
		f := t.s.Faults[i]
		var fa []action
		switch f.Kind {
		case scenario.KindPartition:
			fa = append(fa, action{f.At, func() (string, string, error) { return t.partition(f.Partition) }},
				action{f.At + f.For, t.heal})
		case scenario.KindCrash:
			if f.Crash.Swap != "" {
				fa = t.swapActions(f)
			} else {
				fa = t.crashActions(f)
			}
		case scenario.KindPause:
			fa = t.pauseActions(f)
		case scenario.KindClock:
			fa = t.clockActions(f)
		case scenario.KindDisk:
			fa = t.diskActions(f)
		case scenario.KindNetwork:
			net := f.Network.Apply(t.s.Network)
			fa = append(fa, action{f.At, func() (string, string, error) {
				t.c.net.setNetwork(net)
				return "network", describeNetwork(net), nil
			}}, action{f.At + f.For, func() (string, string, error) {
				t.c.net.setNetwork(t.s.Network)
				return "network", describeNetwork(t.s.Network), nil
			}})
		}
		for j, a := range fa {
			out = append(out, step{a, j > 0})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].at < out[b].at })
	return out
}

// crashActions kill the target's process group (banking its metrics
// first) and, after restart_after, start it again on its data dir.
func (t *timeline) crashActions(f scenario.Fault) []action {
	var victim int
	out := []action{{f.At, func() (string, string, error) {
		var err error
		if victim, err = t.target(f.Crash.Target); err != nil {
			return "crash", "", err
		}
		n := t.c.nodes[victim]
		t.c.metrics.bank(n)
		pid := n.pid()
		if err := n.kill(); err != nil {
			return "crash", n.name, err
		}
		return "crash", n.name + " " + t.afterKill(n, pid), nil
	}}}
	if f.Crash.RestartAfter > 0 {
		out = append(out, action{f.At + f.Crash.RestartAfter, func() (string, string, error) { return t.restart(victim) }})
	}
	return out
}

// powerLoss reports whether crashes run with io/pebbledisk's unsynced
// journal (FailpointUnsynced): when the scenario has a crash that is not
// an upgrade or a downgrade (those stop the node cleanly).
func powerLoss(s *scenario.Scenario) bool {
	for _, f := range s.Faults {
		if f.Kind == scenario.KindCrash && f.Crash.Swap == "" {
			return true
		}
	}
	return false
}

// afterKill decides what the killed process pid loses, as the simulator's
// crash does from the node's disk at that moment: with unsynced_survive 0
// (the default) every write it had not synced, played at the restart
// (FailpointUnsynced lose:PID); with 1, nothing beyond the process (a
// bare SIGKILL keeps the page cache). It returns the report's words.
func (t *timeline) afterKill(n *node, pid int) string {
	if !t.powerLoss {
		return "(SIGKILL)"
	}
	n.mu.Lock()
	survive := n.unsyncedSurvive
	n.mu.Unlock()
	if survive == 1 || pid == 0 {
		_ = n.setFailpoint(FailpointUnsynced, `return("keep")`)
		return "(SIGKILL, unsynced writes kept)"
	}
	_ = n.setFailpoint(FailpointUnsynced, fmt.Sprintf(`return("lose:%d")`, pid))
	return "(SIGKILL and power loss: unsynced writes dropped at restart)"
}

// pauseActions stop the target's process group for the window.
func (t *timeline) pauseActions(f scenario.Fault) []action {
	var victim int
	return []action{{f.At, func() (string, string, error) {
		var err error
		if victim, err = t.target(f.Pause.Target); err != nil {
			return "pause", "", err
		}
		return "pause", fmt.Sprintf("%s for %v", t.c.nodes[victim].name, f.For), t.pause(victim, true)
	}}, {f.At + f.For, func() (string, string, error) {
		return "resume", t.c.nodes[victim].name, t.pause(victim, false)
	}}}
}

// clockActions skew the target's clock through its clock failpoint for
// the window.
func (t *timeline) clockActions(f scenario.Fault) []action {
	var victim int
	return []action{{f.At, func() (string, string, error) {
		var err error
		if victim, err = t.target(f.Clock.Node); err != nil {
			return "clock", "", err
		}
		n := t.c.nodes[victim]
		return "clock", fmt.Sprintf("%s offset %v drift %g", n.name, f.Clock.Offset, f.Clock.Drift), n.setFailpoint(FailpointClock, clockTerms(f.Clock))
	}}, {f.At + f.For, func() (string, string, error) {
		n := t.c.nodes[victim]
		return "clock", n.name + " offset 0 drift 0", n.setFailpoint(FailpointClock, "")
	}}}
}

// diskActions set the targets' pebbledisk failpoints for the window, then
// return them to the scenario's disk (which Validate requires healthy).
func (t *timeline) diskActions(f scenario.Fault) []action {
	var victims []int
	return []action{{f.At, func() (string, string, error) {
		var err error
		if victims, err = t.diskTargets(f.Disk.Node); err != nil {
			return "disk", "", err
		}
		d := f.Disk.Apply(t.s.Disk)
		t.setUnsyncedSurvive(victims, d.UnsyncedSurvive)
		return "disk", fmt.Sprintf("%s read_error %g write_error %g corrupt_read %g latency %v full %v", names(t.c, victims),
			d.ReadError, d.WriteError, d.CorruptRead, d.Latency, f.Disk.Full), t.setDisk(victims, d, f.Disk.Full)
	}}, {f.At + f.For, func() (string, string, error) {
		t.setUnsyncedSurvive(victims, t.s.Disk.UnsyncedSurvive)
		return "disk", names(t.c, victims) + " healthy", t.setDisk(victims, t.s.Disk, false)
	}}}
}

func describeNetwork(n scenario.Network) string {
	return fmt.Sprintf("latency p50 %v p99 %v loss %g duplicate %g reorder %g", n.Latency.P50, n.Latency.P99, n.Loss, n.Duplicate, n.Reorder)
}

// run applies the actions at their times until ctx ends or the run's
// duration is over; later steps (past the duration) are not applied.
func (t *timeline) run(ctx context.Context) {
	for _, a := range t.actions() {
		if a.at >= t.s.Duration {
			continue
		}
		if !sleepUntil(ctx, t.start.Add(a.at)) {
			return
		}
		at := time.Since(t.start)
		kind, detail, err := a.run()
		done := time.Since(t.start)
		t.mu.Lock()
		t.applied = append(t.applied, appliedFault{at: at, kind: kind, detail: detail})
		t.lastEnd = max(t.lastEnd, done)
		if a.heal {
			t.healLate = max(t.healLate, done-a.at)
		}
		if err != nil {
			t.errs = append(t.errs, fmt.Errorf("%s at %v: %w", kind, at.Round(time.Millisecond), err))
		}
		t.mu.Unlock()
	}
}

// target resolves a node reference ("n3", "leader", "random") to an up
// node at the moment of the fault.
func (t *timeline) target(ref string) (int, error) {
	switch ref {
	case scenario.TargetLeader:
		if i := t.c.leader(); i >= 0 {
			return i, nil
		}
		return 0, errors.New("no up replica has been leader")
	case scenario.TargetRandom:
		var up []int
		for i, n := range t.c.nodes {
			if n.isUp() {
				up = append(up, i)
			}
		}
		if len(up) == 0 {
			return 0, errors.New("no node is up")
		}
		return up[t.c.rand.Intn(len(up))], nil
	}
	i, ok := scenario.NodeIndex(ref)
	if !ok || i >= len(t.c.nodes) {
		return 0, fmt.Errorf("no node %q", ref)
	}
	return i, nil
}

// diskTargets resolves a disk fault's node ("all" is every node).
func (t *timeline) diskTargets(ref string) ([]int, error) {
	if ref == scenario.TargetAll {
		out := make([]int, len(t.c.nodes))
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	i, err := t.target(ref)
	return []int{i}, err
}

// setUnsyncedSurvive sets what a crash of each victim keeps of its
// unsynced writes (0 or 1: Validate refuses the rest).
func (t *timeline) setUnsyncedSurvive(victims []int, p float64) {
	for _, i := range victims {
		n := t.c.nodes[i]
		n.mu.Lock()
		n.unsyncedSurvive = p
		n.mu.Unlock()
	}
}

// setDisk sets the pebbledisk failpoints of every victim to d.
func (t *timeline) setDisk(victims []int, d scenario.Disk, full bool) error {
	write, sync, read := diskTerms(d, full)
	var errs []error
	for _, i := range victims {
		n := t.c.nodes[i]
		errs = append(errs, n.setFailpoint(FailpointDiskWrite, write), n.setFailpoint(FailpointDiskSync, sync), n.setFailpoint(FailpointDiskRead, read))
	}
	return errors.Join(errs...)
}

func (t *timeline) indexes(refs []string) ([]int, error) {
	out := make([]int, 0, len(refs))
	for _, ref := range refs {
		i, err := t.target(ref)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

func names(c *cluster, idx []int) string {
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = c.nodes[i].name
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// partition cuts the links the partition names (sim.World's semantics:
// groups talk only inside themselves, the unlisted nodes forming one more
// group; a bridge cuts Left from Right while Via and the unlisted nodes
// talk to everyone).
func (t *timeline) partition(p *scenario.Partition) (string, string, error) {
	nodes := len(t.c.nodes)
	switch {
	case p.Isolate != "":
		i, err := t.target(p.Isolate)
		if err != nil {
			return "isolate", "", err
		}
		t.c.net.setCuts(func(from, to int) bool { return from == i || to == i })
		return "isolate", t.c.nodes[i].name, nil
	case p.OneWay != nil:
		from, err1 := t.indexes(p.OneWay.From)
		to, err2 := t.indexes(p.OneWay.To)
		if err := errors.Join(err1, err2); err != nil {
			return "cut_one_way", "", err
		}
		t.c.net.setCuts(func(a, b int) bool { return contains(from, a) && contains(to, b) })
		return "cut_one_way", names(t.c, from) + " -/-> " + names(t.c, to), nil
	case p.Bridge != nil:
		left, err1 := t.indexes(p.Bridge.Left)
		right, err2 := t.indexes(p.Bridge.Right)
		via, err3 := t.target(p.Bridge.Via)
		if err := errors.Join(err1, err2, err3); err != nil {
			return "bridge", "", err
		}
		t.c.net.setCuts(func(a, b int) bool {
			return (contains(left, a) && contains(right, b)) || (contains(right, a) && contains(left, b))
		})
		return "bridge", fmt.Sprintf("%s | %s via %s", names(t.c, left), names(t.c, right), t.c.nodes[via].name), nil
	}
	group := make([]int, nodes)
	for i := range group {
		group[i] = len(p.Groups) // the unlisted nodes' group
	}
	var parts []string
	for g, refs := range p.Groups {
		idx, err := t.indexes(refs)
		if err != nil {
			return "partition", "", err
		}
		for _, i := range idx {
			group[i] = g
		}
		parts = append(parts, names(t.c, idx))
	}
	t.c.net.setCuts(func(a, b int) bool { return group[a] != group[b] })
	return "partition", strings.Join(parts, " | "), nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (t *timeline) heal() (string, string, error) {
	t.c.net.setCuts(func(int, int) bool { return false })
	return "heal", "", nil
}

// restart starts node i again on its data dir; its readiness is awaited
// in the background so later faults keep their times.
func (t *timeline) restart(i int) (string, string, error) {
	n := t.c.nodes[i]
	if err := n.start(n.bin); err != nil {
		return "restart", n.name, err
	}
	if t.powerLoss {
		// The start played any power loss; later starts keep tracking.
		n.mu.Lock()
		n.failpoints[FailpointUnsynced] = `return("keep")`
		n.mu.Unlock()
	}
	t.restarts.Add(1)
	go func() {
		defer t.restarts.Done()
		if err := n.waitStarted(); err != nil {
			t.mu.Lock()
			t.errs = append(t.errs, err)
			t.mu.Unlock()
		}
	}()
	return "restart", n.name, nil
}

// pause stops (SIGSTOP) or continues (SIGCONT) node i's process group.
func (t *timeline) pause(i int, stop bool) error {
	n := t.c.nodes[i]
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := n.signalGroup(sig); err != nil {
		return err
	}
	if stop {
		// kill(2) returns before every thread has stopped: a request sent
		// at once could still be served. The pause is in force only when
		// the kernel reports each thread stopped.
		if err := n.waitStopped(); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.paused = stop
	n.mu.Unlock()
	return nil
}

// resumeAll continues every paused node (before the checks, and before
// the cluster is torn down: a stopped process still dies of SIGKILL, but
// the checks need every node answering).
func (t *timeline) resumeAll() {
	for i, n := range t.c.nodes {
		n.mu.Lock()
		paused := n.paused && n.cmd != nil
		n.mu.Unlock()
		if paused {
			_ = t.pause(i, false)
		}
	}
}

// healed is when the last fault healed (lastEnd) and the largest
// lateness of a heal step (healLate).
func (t *timeline) healed() (at, late time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastEnd, t.healLate
}

func (t *timeline) result() ([]appliedFault, []error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]appliedFault(nil), t.applied...), append([]error(nil), t.errs...)
}
