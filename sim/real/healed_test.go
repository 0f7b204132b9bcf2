package real

import (
	"context"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// TestLivenessHealsWhenTheActionReturned: a fault whose heal ran later
// than scheduled (here the timeline started 5 s ago, as when an earlier
// slow action held it up) heals for the liveness check when its action
// returned, not at its scheduled end. The old code took the schedule
// (1 s), so an operation sent while the fault was still in force was
// judged as sent after the heal: a false liveness failure.
func TestLivenessHealsWhenTheActionReturned(t *testing.T) {
	loss := 1.0
	s := &scenario.Scenario{Duration: 10 * time.Second, Faults: []scenario.Fault{{
		Kind: scenario.KindNetwork, At: 0, For: time.Second, Network: &scenario.NetworkFault{Loss: &loss},
	}}}
	c := &cluster{net: newNetState(3, s.Network)}
	late := 5 * time.Second
	tl := newTimeline(s, c, time.Now().Add(-late))
	if tl.lastEnd != time.Second {
		t.Fatalf("scheduled end %v, want 1s", tl.lastEnd)
	}
	tl.run(context.Background())
	if applied, errs := tl.result(); len(applied) != 2 || len(errs) != 0 {
		t.Fatalf("applied %+v, errors %v", applied, errs)
	}
	if tl.lastEnd < late {
		t.Fatalf("the fault heals at %v for the liveness check, before its heal ran (at least %v)", tl.lastEnd, late)
	}
}
