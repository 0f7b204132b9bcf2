package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// peerOptions configures the side-by-side run (--peers; see doc.go).
type peerOptions struct {
	rond, kubo, etcd string
	runs             int
	phaseTime        time.Duration
	bigBytes         int
	micronode        bool
	skipBytes        bool
	skipNames        bool
	// fileServerInProcess runs the FileServer in ronbench's process
	// (startFileServer) instead of a child of its own.
	fileServerInProcess bool
	// namePhases selects name workloads by key (set1, write16, cas16,
	// resolve16); empty runs all.
	namePhases map[string]bool
	// set1Member is where each system's one sequential client talks:
	// its leader, a follower, or member 0 whatever its role (set1On*).
	set1Member string
}

// Where the sequential set's client talks (--set1-member). A follower
// forwards a write to its leader and back, two more hops per set than at
// the leader, in rond and etcd alike; member 0 is the leader in about one
// run of three, so comparing systems at member 0 compares placements as
// much as systems.
const (
	set1OnLeader   = "leader"
	set1OnFollower = "follower"
	set1OnMember0  = "member0"
)

// sample is one measurement of one system in one workload: value in the
// workload's unit (higher is better), p99 of the successful operations
// (0 when not timed per operation) and the failures counted.
type sample struct {
	value float64
	p99   time.Duration
	fails int
	// cpuPerK is the servers' CPU seconds (utime+stime of every
	// process of the system) per 1,000 counted operations, 0 when not
	// measured.
	cpuPerK float64
	// ops are the counted operations, conflicts the refused attempts
	// (CAS) that were not counted.
	ops, conflicts int
}

// workload is one row of issue 15's table.
type workload struct {
	key, title, unit string
}

// The workloads, in the order the table prints them.
var (
	wGet4K    = workload{"get4k", "4 KiB GET, 16 conns", "req/s"}
	wRange1M  = workload{"range1m", "1 MiB random Range GET, 16 conns", "req/s"}
	wGetWhole = workload{"getwhole", "whole GET (big object), 1 conn", "MiB/s"}
	wPutBig   = workload{"putbig", "PUT (big object), 1 conn", "MiB/s"}
	wSet1     = workload{"set1", "name set, 1 client, sequential, 3 replicas", "ops/s"}
	wWrite16  = workload{"write16", "name writes, 16 clients", "ops/s"}
	wCAS16    = workload{"cas16", "CAS, 16 clients on 100 names (successes)", "ops/s"}
	wResolve  = workload{"resolve16", "linearizable resolve, 16 clients", "ops/s"}
)

var peerWorkloads = []workload{wGet4K, wRange1M, wGetWhole, wPutBig, wSet1, wWrite16, wCAS16, wResolve}

// Names of the systems as printed.
const (
	sysRondMicro  = "rond micronode"
	sysRondMacro  = "rond macronode"
	sysRondThree  = "rond 3 macronodes"
	sysKubo       = "kubo"
	sysFileServer = "net/http FileServer"
	sysEtcd       = "etcd 3 members"
)

// goal is one line of issue 15's Goals: ours / peer on a workload must be
// at least min (and, with p99, our p99 no worse than the peer's).
type goal struct {
	w         workload
	ours      string
	peer      string
	min       float64
	p99NoWors bool
}

var goals = []goal{
	{wGetWhole, sysRondMacro, sysKubo, 1.5, false},
	{wGetWhole, sysRondMacro, sysFileServer, 0.6, false},
	{wRange1M, sysRondMacro, sysKubo, 3, false},
	{wRange1M, sysRondMacro, sysFileServer, 0.6, false},
	{wPutBig, sysRondMacro, sysKubo, 1.5, false},
	{wSet1, sysRondThree, sysEtcd, 1.0, true},
	{wCAS16, sysRondThree, sysEtcd, 1.5, false},
	{wWrite16, sysRondThree, sysEtcd, 1.0, false},
	{wResolve, sysRondThree, sysEtcd, 1.5, false},
	{wGet4K, sysRondMacro, sysFileServer, 1.0, false},
}

// tally collects samples per workload and system, and why a system is
// missing (a peer binary not found or not starting). A missing system
// has no samples and is printed as missing, never as a figure.
type tally struct {
	samples map[string]map[string][]sample
	missing map[string]string
	loads   []string
	notes   []string // leader changes and the like, printed last
}

func newTally() *tally {
	return &tally{samples: map[string]map[string][]sample{}, missing: map[string]string{}}
}

func (t *tally) add(w workload, sys string, s sample) {
	if t.samples[w.key] == nil {
		t.samples[w.key] = map[string][]sample{}
	}
	t.samples[w.key][sys] = append(t.samples[w.key][sys], s)
}

// setMissing records that sys could not run, with the reason.
func (t *tally) setMissing(sys string, err error) { t.missing[sys] = err.Error() }

// median of the samples' values and of their p99s; ok is false when
// there is none.
func (t *tally) median(w workload, sys string) (value float64, p99 time.Duration, ok bool) {
	ss := t.samples[w.key][sys]
	if len(ss) == 0 {
		return 0, 0, false
	}
	vs := make([]float64, len(ss))
	ps := make([]time.Duration, len(ss))
	for i, s := range ss {
		vs[i], ps[i] = s.value, s.p99
	}
	slices.Sort(vs)
	slices.Sort(ps)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], ps[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, (ps[n/2-1] + ps[n/2]) / 2, true
}

// verdict is one goal's outcome.
type verdict struct {
	g      goal
	ratio  float64
	met    bool
	reason string // set when the ratio could not be formed
}

// judge forms every goal's ratio from the medians of this run only.
func (t *tally) judge() []verdict {
	var out []verdict
	for _, g := range goals {
		v := verdict{g: g}
		ours, ourP99, okOurs := t.median(g.w, g.ours)
		peer, peerP99, okPeer := t.median(g.w, g.peer)
		switch {
		case t.missing[g.peer] != "":
			v.reason = g.peer + " missing: " + t.missing[g.peer]
		case t.missing[g.ours] != "":
			v.reason = g.ours + " missing: " + t.missing[g.ours]
		case !okOurs || !okPeer:
			v.reason = "not measured in this run"
		case peer == 0:
			v.reason = g.peer + " measured 0"
		default:
			v.ratio = ours / peer
			v.met = v.ratio >= g.min && (!g.p99NoWors || ourP99 <= peerP99)
		}
		out = append(out, v)
	}
	return out
}

// systemsOf lists the systems the tally knows for a workload (measured
// or missing), in a fixed order.
func (t *tally) systemsOf(w workload, all []string) []string {
	var out []string
	for _, s := range all {
		if len(t.samples[w.key][s]) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// print writes the figures, per-run values, ratios and the load averages.
func (t *tally) print(w io.Writer, all []string) {
	fmt.Fprintln(w, "| workload | system | median | unit | p99 (median) | runs | failures |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, wl := range peerWorkloads {
		for _, s := range t.systemsOf(wl, all) {
			v, p99, _ := t.median(wl, s)
			var runs []string
			fails := 0
			for _, x := range t.samples[wl.key][s] {
				runs = append(runs, fmtValue(x.value))
				fails += x.fails
			}
			p := "–"
			if p99 > 0 {
				p = fmt.Sprintf("%.1f ms", float64(p99.Microseconds())/1000)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d |\n", wl.title, s, fmtValue(v), wl.unit, p, strings.Join(runs, ", "), fails)
		}
	}
	cpuHeader := false
	for _, wl := range peerWorkloads {
		for _, s := range t.systemsOf(wl, all) {
			var cs []float64
			for _, x := range t.samples[wl.key][s] {
				if x.cpuPerK > 0 {
					cs = append(cs, x.cpuPerK)
				}
			}
			if len(cs) == 0 {
				continue
			}
			if !cpuHeader {
				fmt.Fprintln(w)
				fmt.Fprintln(w, "| workload | system | server CPU s per 1,000 ops (median) | runs | attempts per op (runs) |")
				fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
				cpuHeader = true
			}
			var runs, attempts []string
			for _, c := range cs {
				runs = append(runs, strconv.FormatFloat(c, 'f', 3, 64))
			}
			for _, x := range t.samples[wl.key][s] {
				if x.ops > 0 {
					attempts = append(attempts, strconv.FormatFloat(float64(x.ops+x.conflicts)/float64(x.ops), 'f', 2, 64))
				}
			}
			slices.Sort(cs)
			med := cs[len(cs)/2]
			if len(cs)%2 == 0 {
				med = (cs[len(cs)/2-1] + cs[len(cs)/2]) / 2
			}
			fmt.Fprintf(w, "| %s | %s | %.3f | %s | %s |\n", wl.title, s, med, strings.Join(runs, ", "), strings.Join(attempts, ", "))
		}
	}
	var missing []string
	for _, s := range all {
		if r := t.missing[s]; r != "" {
			missing = append(missing, fmt.Sprintf("%s: MISSING (%s)", s, r))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintln(w)
		for _, m := range missing {
			fmt.Fprintln(w, m)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| goal | ratio (medians) | needed | met |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, v := range t.judge() {
		name := fmt.Sprintf("%s: %s / %s", v.g.w.title, v.g.ours, v.g.peer)
		need := fmt.Sprintf(">= %gx", v.g.min)
		if v.g.p99NoWors {
			need += ", p99 no worse"
		}
		if v.reason != "" {
			fmt.Fprintf(w, "| %s | – | %s | not judged: %s |\n", name, need, v.reason)
			continue
		}
		met := "no"
		if v.met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %.2fx | %s | %s |\n", name, v.ratio, need, met)
	}
	fmt.Fprintln(w)
	for _, l := range t.loads {
		fmt.Fprintln(w, l)
	}
	for _, n := range t.notes {
		fmt.Fprintln(w, n)
	}
}

func fmtValue(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// loadAvg reads the 1, 5 and 15 minute load averages.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// order is the run's order of systems: reversed on every other run, so
// no system always goes first (or last, after the others warmed the
// page cache and the CPU governor).
func order(systems []string, run int) []string {
	out := slices.Clone(systems)
	if run%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// findPeer resolves a peer binary: the flag's value (a path, or a name
// looked up on PATH); "" means the peer was not asked for.
func findPeer(what, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("no %s binary given (flag or env)", what)
	}
	if strings.ContainsRune(path, os.PathSeparator) {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s binary: %w", what, err)
		}
		return path, nil
	}
	p, err := lookPath(path)
	if err != nil {
		return "", fmt.Errorf("%s binary %q not on PATH", what, path)
	}
	return p, nil
}

// peers runs the side-by-side comparison and prints it to w.
func peers(o peerOptions, w io.Writer) error {
	if o.runs < 1 {
		return errors.New("ronbench: --runs must be at least 1")
	}
	scratch, err := os.MkdirTemp("", "ronbench-peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	t := newTally()
	fmt.Fprintf(w, "ronbench --peers: %d runs, phases of %v, big object %d MiB; load average at start %s\n\n",
		o.runs, o.phaseTime, o.bigBytes>>20, loadAvg())
	var all []string
	if !o.skipBytes {
		sys, err := runBytePeers(o, scratch, t, w)
		all = append(all, sys...)
		if err != nil {
			return err
		}
	}
	if !o.skipNames {
		sys, err := runNamePeers(o, scratch, t, w)
		all = append(all, sys...)
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	t.print(w, all)
	fmt.Fprintf(w, "load average at end %s\n", loadAvg())
	return nil
}
