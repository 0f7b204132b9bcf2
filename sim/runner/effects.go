package runner

import (
	"fmt"
	"strings"
	"time"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
)

// Faults must prove they bit. A simulator that makes a fault gentler than
// it claims (a cut that lets frames through, a disk that keeps unsynced
// writes at a crash, a clock fault that leaves the clock alone) would let
// every check pass while testing nothing, so every fault window measures
// its observable effect: frames cut, frames lost, duplicated or reordered,
// reads corrupted, I/O errors, inputs held by a pause, clock skew, unsynced
// writes lost per crash. The faults_bit check fails a window whose effect
// is certain (a cut of a second or more in a cluster, a clock fault, a
// pause, a crash of a disk that keeps no unsynced write) or all but certain
// (a probabilistic fault whose expected count is at least
// EffectExpectedMin) and that showed none.

// EffectExpectedMin is the expected count above which a probabilistic
// fault must have shown at least one effect: P(0 | Poisson(20)) = 2e-9.
const EffectExpectedMin = 20

// cutEffectWindowMin is the shortest cut that must have dropped a frame
// (overlay heartbeats cross every link of a mesh several times a second).
const cutEffectWindowMin = time.Second

// FaultEffect is one fault window and what it did.
type FaultEffect struct {
	Kind         string  `json:"kind"`
	Target       string  `json:"target"`
	StartSeconds float64 `json:"start_seconds"`
	EndSeconds   float64 `json:"end_seconds"`
	Effect       string  `json:"effect"`
	// Required is true when the window had to show an effect; Bit whether
	// it did.
	Required bool `json:"required"`
	Bit      bool `json:"bit"`
}

// effectTracker measures fault windows between their open and close.
type effectTracker struct {
	w   *sim.World
	out []*FaultEffect
}

func (e *effectTracker) begin(kind, target string) *FaultEffect {
	fe := &FaultEffect{Kind: kind, Target: target, StartSeconds: e.w.Now().Seconds()}
	e.out = append(e.out, fe)
	return fe
}

// cut measures a network cut: frames dropped by cuts while it was open.
func (e *effectTracker) cut(target string) func() {
	fe, base, start := e.begin("partition", target), e.w.NetStats().Cut, e.w.Now()
	return func() {
		n := e.w.NetStats().Cut - base
		fe.EndSeconds = e.w.Now().Seconds()
		fe.Effect = fmt.Sprintf("%d frames cut", n)
		// Certain only where every node heartbeats every other (a full
		// overlay mesh); a DHT-scale node may see no frame for seconds.
		fe.Required = e.w.Nodes() > 1 && e.w.Nodes() <= OverlayNodesMax && e.w.Now()-start >= cutEffectWindowMin
		fe.Bit = n > 0
	}
}

// probabilistic judges one probability a window set: n observed out of
// trials at probability p.
type probabilistic struct {
	what     string
	p        float64
	trials   uint64
	observed uint64
}

func judge(fe *FaultEffect, parts []probabilistic) {
	var words []string
	fe.Bit = true
	for _, x := range parts {
		expected := x.p * float64(x.trials)
		words = append(words, fmt.Sprintf("%s %d (expected %.1f)", x.what, x.observed, expected))
		if expected >= EffectExpectedMin {
			fe.Required = true
			fe.Bit = fe.Bit && x.observed > 0
		}
	}
	if len(words) == 0 {
		words = []string{"latency or bandwidth only (not measured)"}
	}
	fe.Effect = strings.Join(words, ", ")
}

// network measures a network window's loss, duplication and reordering.
func (e *effectTracker) network(n *scenario.NetworkFault) func() {
	fe, base := e.begin("network", "all links"), e.w.NetStats()
	return func() {
		now := e.w.NetStats()
		fe.EndSeconds = e.w.Now().Seconds()
		sent := now.Sent - base.Sent
		var parts []probabilistic
		add := func(what string, p *float64, observed uint64) {
			if p != nil && *p > 0 {
				parts = append(parts, probabilistic{what, *p, sent, observed})
			}
		}
		add("lost", n.Loss, now.Lost-base.Lost)
		add("duplicated", n.Duplicate, now.Duplicated-base.Duplicated)
		add("reordered", n.Reorder, now.Reordered-base.Reordered)
		judge(fe, parts)
	}
}

// disk measures a disk window on node i: corrupted reads, I/O errors and
// refused writes.
func (e *effectTracker) disk(i int, d *scenario.DiskFault) func() {
	fe, base := e.begin("disk", nodeName(i)), e.w.Disk(i).Stats()
	return func() {
		now := e.w.Disk(i).Stats()
		fe.EndSeconds = e.w.Now().Seconds()
		reads, writes := now.Reads-base.Reads, now.Writes-base.Writes
		var parts []probabilistic
		add := func(what string, p *float64, trials, observed uint64) {
			if p != nil && *p > 0 {
				parts = append(parts, probabilistic{what, *p, trials, observed})
			}
		}
		add("corrupted reads", d.CorruptRead, reads, now.CorruptReads-base.CorruptReads)
		add("corrupted writes", d.CorruptWrite, writes, now.CorruptWrites-base.CorruptWrites)
		errs := now.Errors - base.Errors
		add("read errors", d.ReadError, reads, errs)
		add("write errors", d.WriteError, writes, errs)
		if d.Full {
			full := 1.0
			add("writes refused (full)", &full, writes, errs)
		}
		judge(fe, parts)
	}
}

// clock measures a clock window: the skew it left on the node's clock.
func (e *effectTracker) clock(i int) func() {
	fe := e.begin("clock", nodeName(i))
	return func() {
		skew := e.w.ClockSkew(i)
		fe.EndSeconds = e.w.Now().Seconds()
		fe.Effect = fmt.Sprintf("clock %v off true time at the close", skew)
		fe.Required, fe.Bit = true, skew != 0
	}
}

// pause measures a pause: the inputs it held.
func (e *effectTracker) pause(i int) func() {
	fe, base := e.begin("pause", nodeName(i)), e.w.HeldInputs(i)
	return func() {
		n := e.w.HeldInputs(i) - base
		fe.EndSeconds = e.w.Now().Seconds()
		fe.Effect = fmt.Sprintf("%d inputs held", n)
		fe.Required, fe.Bit = e.w.Up(i), n > 0
	}
}

// crashes are the crash effects: unsynced writes lost (and torn) per
// crash. A crash of a disk that keeps no unsynced write must lose all of
// them; one of a disk that always tears must tear its last survivor.
func crashEffects(w *sim.World, duration time.Duration) []*FaultEffect {
	var out []*FaultEffect
	for _, c := range w.Crashes() {
		if c.At >= duration {
			continue
		}
		lost := c.Unsynced - c.Survived
		fe := &FaultEffect{Kind: "crash", Target: nodeName(c.Node), StartSeconds: c.At.Seconds(), EndSeconds: c.At.Seconds(),
			Effect: fmt.Sprintf("%d of %d unsynced writes lost, %d torn", lost, c.Unsynced, c.Torn)}
		fe.Bit = true
		if c.Unsynced > 0 && c.SurviveProb == 0 {
			fe.Required, fe.Bit = true, lost == c.Unsynced
		}
		if c.Survived > 0 && c.TornProb == 1 {
			// A disk that tears every crash's last surviving write.
			fe.Required, fe.Bit = true, fe.Bit && c.Torn == 1
		}
		out = append(out, fe)
	}
	return out
}

// effects returns every measured window of the run, crashes last.
func (r *run) effects() []FaultEffect {
	var out []FaultEffect
	for _, fe := range r.faults.effects.out {
		if fe.EndSeconds > 0 || fe.Effect != "" {
			out = append(out, *fe)
		}
	}
	for _, fe := range crashEffects(r.w, r.scn.Duration) {
		out = append(out, *fe)
	}
	if fe, ok := r.defaultEffects(); ok {
		out = append(out, fe)
	}
	return out
}

// defaultEffects measures the scenario's standing network and disk fault
// probabilities (swarm draws land there) over the whole run, windows
// included: the expected counts are approximate, which EffectExpectedMin
// absorbs.
func (r *run) defaultEffects() (FaultEffect, bool) {
	n, d := r.scn.Network, r.scn.Disk
	net := r.w.NetStats()
	var reads, writes, corruptReads, corruptWrites, errs uint64
	for i := 0; i < r.w.Nodes(); i++ {
		st := r.w.Disk(i).Stats()
		reads, writes, errs = reads+st.Reads, writes+st.Writes, errs+st.Errors
		corruptReads, corruptWrites = corruptReads+st.CorruptReads, corruptWrites+st.CorruptWrites
	}
	var parts []probabilistic
	add := func(what string, p float64, trials, observed uint64) {
		if p > 0 {
			parts = append(parts, probabilistic{what, p, trials, observed})
		}
	}
	add("frames lost", n.Loss, net.Sent, net.Lost)
	add("frames duplicated", n.Duplicate, net.Sent, net.Duplicated)
	add("frames reordered", n.Reorder, net.Sent, net.Reordered)
	add("corrupted reads", d.CorruptRead, reads, corruptReads)
	add("corrupted writes", d.CorruptWrite, writes, corruptWrites)
	add("read errors", d.ReadError, reads, errs)
	add("write errors", d.WriteError, writes, errs)
	if len(parts) == 0 {
		return FaultEffect{}, false
	}
	fe := FaultEffect{Kind: "defaults", Target: "every link and disk", EndSeconds: r.w.Now().Seconds()}
	judge(&fe, parts)
	return fe, true
}

// checkFaultsBit fails the windows that had to show an effect and did not.
func checkFaultsBit(effects []FaultEffect) check.Result {
	required, missed := 0, []string{}
	for _, fe := range effects {
		if !fe.Required {
			continue
		}
		required++
		if !fe.Bit {
			missed = append(missed, fmt.Sprintf("%s %s %.3gs..%.3gs: %s", fe.Kind, fe.Target, fe.StartSeconds, fe.EndSeconds, fe.Effect))
		}
	}
	if len(missed) > 0 {
		return check.Result{Name: "faults_bit", Detail: fmt.Sprintf("%d of %d fault windows claimed injected had no effect: %s", len(missed), required, strings.Join(first(missed, 3), "; "))}
	}
	return check.Result{Name: "faults_bit", OK: true, Detail: fmt.Sprintf("%d of %d fault windows had a certain effect and showed it", required, len(effects))}
}
