package runner

import (
	"fmt"
	"testing"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
)

// A wipe whose target is already down (a random crash just before) still
// erases its disk: the node stays down, restarts when the crash that downed
// it says, and the run records the wipe (the replay wipes at that crash).
func TestWipeOfDownNode(t *testing.T) {
	s := parseFaults(t, "  - {at: 10s, wipe: n2, restart_after: 1s}\n")
	r := faultWorld(t, s)
	r.wiped = make([]check.Wipe, s.Nodes.Count)
	if err := r.w.RunUntil(sec(9)); err != nil {
		t.Fatal(err)
	}
	r.w.Crash(1) // as a random crash would, restart after 3s
	r.faults.edgeAt(sec(12), true, func() { r.faults.restart(1) })
	wipes := func() (n int) {
		for _, f := range r.w.Faults() {
			if f.Kind == sim.FaultWipe && f.Node == 1 {
				n++
			}
		}
		return n
	}
	up := func(want bool) func(w *sim.World) string {
		return func(w *sim.World) string {
			if w.Up(1) != want {
				return fmt.Sprintf("n2 up %v, want %v", w.Up(1), want)
			}
			return ""
		}
	}
	runProbes(t, r, []probe{
		{sec(10.5), func(w *sim.World) string {
			if n := wipes(); n != 1 {
				return fmt.Sprintf("%d wipes of n2, want 1 (the wipe of a down node was skipped)", n)
			}
			if !r.wiped[1].Wiped || r.wiped[1].At != sec(10) {
				return fmt.Sprintf("n2 marked %+v, want wiped at 10s", r.wiped[1])
			}
			return up(false)(w)
		}},
		{sec(11.5), up(false)}, // the wipe does not restart it early
		{sec(12.5), up(true)},
	})
	var crash *scenario.Fault
	for _, w := range r.windows() {
		if w.fault.Kind == scenario.KindCrash && w.fault.Crash.Target == "n2" {
			crash = &w.fault
		}
	}
	if crash == nil || !crash.Crash.Wipe || crash.At != sec(9) || crash.Crash.RestartAfter != sec(3) {
		t.Fatalf("recorded %+v, want a wipe of n2 at 9s restarted after 3s", crash)
	}
}
