package runner

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/ron-network/ron/sim/scenario"
)

// Shrinking reduces a failing run to a smaller scenario that still fails the
// same check at the same seed. It starts from the run's recorded scenario
// (every random fault, swarm draw and dynamic target made explicit, so the
// start replays the failing trace exactly) and greedily tries smaller
// candidates: fewer faults (halves, then quarters, ..., then one at a
// time), shorter and earlier windows, fewer clients, a lower rate, fewer
// names, fewer nodes outside the registry, a shorter run. The first
// candidate, in that order, that still fails becomes the new start; the
// search ends when no candidate fails or the budget is spent.
//
// Candidates are scenario values checked by the scenario decoder (a
// candidate the decoder refuses, such as a window that now overlaps
// another, is skipped), and evaluated in batches by the caller's Eval, so
// ronsim can run a batch in worker processes and a test in process. Within
// a batch the first failing candidate in order wins, so the result does not
// depend on which worker answers first.

// ShrinkWindowMin is the shortest fault window or restart delay shrinking
// tries; halving stops below it.
const ShrinkWindowMin = 200 * time.Millisecond

// ShrinkOptions control Shrink.
type ShrinkOptions struct {
	Seed uint64
	// Check is the check that must keep failing ("no_panic" for a node
	// panic).
	Check string
	// Budget bounds the search's wall time (0: no bound).
	Budget time.Duration
	// Batch is how many candidates Eval gets at once (at least 1).
	Batch int
	// Eval runs each candidate at Seed and reports whether Check failed.
	Eval func(candidates []*scenario.Scenario) ([]bool, error)
	// Progress, when set, hears about every accepted step.
	Progress func(step ShrinkStep)
}

// ShrinkStep is one accepted reduction.
type ShrinkStep struct {
	What      string // e.g. "drop faults[2]", "clients 8 -> 4"
	Tried     int    // candidates evaluated so far
	Size      string // the new scenario's size, for progress lines
	Elapsed   time.Duration
	Scenario  *scenario.Scenario
	Remaining time.Duration // budget left (0 when unbounded)
}

// ShrinkResult is the outcome of Shrink.
type ShrinkResult struct {
	Scenario *scenario.Scenario
	Steps    int
	Tried    int
	// BudgetSpent is true when the budget ran out before a fixed point.
	BudgetSpent bool
}

// FailsCheck reports whether rep failed the named check.
func FailsCheck(rep *Report, name string) bool {
	_, failed := FailureOf(rep, name)
	return failed
}

// FailureOf returns the signature of rep's failure of the named check, and
// whether it failed.
func FailureOf(rep *Report, name string) (signature string, failed bool) {
	for _, c := range rep.Checks {
		if c.Name == name && !c.OK {
			return FailureSignature(c.Detail), true
		}
	}
	return "", false
}

// FailureSignature is the kind of a failed check's verdict: the first word
// of its detail with digits removed ("overlay_rpc_latency_seconds",
// "op", "ops"). A shrink keeps a candidate only when it fails the same way:
// a budget exceeded must not turn into "no budgeted metric was observed"
// because the candidate lost every node that measured it.
func FailureSignature(detail string) string {
	for _, word := range strings.Fields(detail) {
		if w := strings.TrimFunc(strings.Map(func(r rune) rune {
			if unicode.IsDigit(r) {
				return -1
			}
			return r
		}, word), unicode.IsPunct); w != "" {
			return w
		}
	}
	return ""
}

// FirstFailedCheck names the check a failing report should be shrunk on:
// the first correctness check that failed, cheapest first (a failing
// linearizability search can take the checker's whole time budget, so it
// comes last), else the first failed check.
func FirstFailedCheck(rep *Report) string {
	for _, name := range []string{"no_panic", "durability", "integrity", "stale_reads", "revocation", "linearizable"} {
		if FailsCheck(rep, name) {
			return name
		}
	}
	for _, c := range rep.Checks {
		if !c.OK {
			return c.Name
		}
	}
	return ""
}

// ShrinkSize is a one-line size of s for progress lines.
func ShrinkSize(s *scenario.Scenario) string {
	out := fmt.Sprintf("%d faults, %v, %d nodes", len(s.Faults), s.Duration, s.Nodes.Count)
	if w := s.Workload; w != nil {
		out += fmt.Sprintf(", %d clients at %g/s over %d names", w.Clients, w.RatePerSecond, w.Names)
	}
	return out
}

// Shrink reduces start (a concrete scenario that fails opts.Check at
// opts.Seed; the caller has checked that) as far as opts allow.
func Shrink(start *scenario.Scenario, opts ShrinkOptions) (ShrinkResult, error) {
	began := time.Now()
	cur := start
	res := ShrinkResult{Scenario: cur}
	batch := max(opts.Batch, 1)
	for {
		improved := false
		cands := candidates(cur)
		for lo := 0; lo < len(cands); lo += batch {
			if opts.Budget > 0 && time.Since(began) >= opts.Budget {
				res.BudgetSpent = true
				return res, nil
			}
			group := cands[lo:min(lo+batch, len(cands))]
			scns := make([]*scenario.Scenario, len(group))
			for k, c := range group {
				scns[k] = c.scn
			}
			failed, err := opts.Eval(scns)
			if err != nil {
				return res, err
			}
			res.Tried += len(group)
			for k, f := range failed {
				if !f {
					continue
				}
				cur = group[k].scn
				res.Scenario, res.Steps, improved = cur, res.Steps+1, true
				if opts.Progress != nil {
					step := ShrinkStep{What: group[k].what, Tried: res.Tried, Size: ShrinkSize(cur), Elapsed: time.Since(began), Scenario: cur}
					if opts.Budget > 0 {
						step.Remaining = max(opts.Budget-time.Since(began), 0)
					}
					opts.Progress(step)
				}
				break
			}
			if improved {
				break
			}
		}
		if !improved {
			return res, nil
		}
	}
}

// candidate is one smaller scenario and what made it smaller.
type candidate struct {
	what string
	scn  *scenario.Scenario
}

// candidates lists the reductions of s, biggest first, keeping only those
// the scenario decoder accepts.
func candidates(s *scenario.Scenario) []candidate {
	var out []candidate
	add := func(what string, edit func(c *scenario.Scenario) bool) {
		c := s.Clone()
		if !edit(c) {
			return
		}
		if valid, ok := revalidate(c); ok {
			out = append(out, candidate{what: what, scn: valid})
		}
	}
	n := len(s.Faults)
	for size := n; size >= 1; size /= 2 {
		for lo := 0; lo < n; lo += size {
			hi := min(lo+size, n)
			add(fmt.Sprintf("drop faults[%d:%d]", lo, hi), func(c *scenario.Scenario) bool {
				c.Faults = append(c.Faults[:lo:lo], c.Faults[hi:]...)
				return true
			})
		}
		if size == 1 {
			break
		}
	}
	out = append(out, workloadCandidates(s, add)...)
	for i := range s.Faults {
		add(fmt.Sprintf("halve faults[%d]'s window", i), func(c *scenario.Scenario) bool { return halveWindow(&c.Faults[i]) })
		add(fmt.Sprintf("move faults[%d] earlier", i), func(c *scenario.Scenario) bool {
			f := &c.Faults[i]
			if f.At < 2*ShrinkWindowMin {
				return false
			}
			f.At /= 2
			return true
		})
	}
	add("shorten the run", func(c *scenario.Scenario) bool { return shortenRun(c) })
	add("drop the last non-replica node", func(c *scenario.Scenario) bool { return dropNode(c) })
	return out
}

func workloadCandidates(s *scenario.Scenario, add func(string, func(*scenario.Scenario) bool)) []candidate {
	w := s.Workload
	if w == nil {
		return nil
	}
	if w.Clients > 1 {
		add(fmt.Sprintf("clients %d -> %d", w.Clients, w.Clients/2), func(c *scenario.Scenario) bool {
			c.Workload.Clients /= 2
			return true
		})
	}
	if w.RatePerSecond >= 2 {
		add(fmt.Sprintf("rate %g -> %g", w.RatePerSecond, w.RatePerSecond/2), func(c *scenario.Scenario) bool {
			c.Workload.RatePerSecond /= 2
			return true
		})
	}
	if w.Names > 1 {
		add(fmt.Sprintf("names %d -> %d", w.Names, w.Names/2), func(c *scenario.Scenario) bool {
			c.Workload.Names /= 2
			return true
		})
	}
	return nil
}

func halveWindow(f *scenario.Fault) bool {
	if f.Crash != nil {
		if f.Crash.RestartAfter < 2*ShrinkWindowMin {
			return false
		}
		f.Crash.RestartAfter /= 2
		return true
	}
	if f.For < 2*ShrinkWindowMin {
		return false
	}
	f.For /= 2
	return true
}

// shortenRun cuts half of the quiet tail after the last fault, moving the
// workload's stop by as much so the checks keep their settling time.
func shortenRun(c *scenario.Scenario) bool {
	var last time.Duration
	for i := range c.Faults {
		last = max(last, c.Faults[i].End(c.Duration))
	}
	if w := c.Workload; w != nil {
		last = max(last, w.Start)
	}
	cut := (c.Duration - last) / 2
	if cut < ShrinkWindowMin {
		return false
	}
	c.Duration -= cut
	if w := c.Workload; w != nil {
		w.Stop = max(w.Stop-cut, w.Start+ShrinkWindowMin)
	}
	return true
}

// dropNode removes the highest-numbered node when it is not a registry
// replica and no fault names it.
func dropNode(c *scenario.Scenario) bool {
	last := c.Nodes.Count - 1
	if last < max(c.Nodes.RegistryReplicas, 1) {
		return false
	}
	c.Nodes.Count--
	return true // a fault naming the dropped node fails revalidation
}

// revalidate round-trips c through the scenario file format, so a
// candidate is exactly what its written file would be and the decoder's
// rules (windows inside the run, no conflicting overlaps, targets that
// exist) hold.
func revalidate(c *scenario.Scenario) (*scenario.Scenario, bool) {
	data, err := c.Marshal()
	if err != nil {
		return nil, false
	}
	out, err := scenario.Parse(c.Source, data)
	if err != nil {
		return nil, false
	}
	return out, true
}
