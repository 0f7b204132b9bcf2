package real

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
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

// TestLivenessFailsOnALateHeal: a heal step that returned later than the
// check's bound after its scheduled time (here 20 s, as after a restart
// or a migrate grown slow) fails the liveness check, naming the
// lateness, instead of silently widening the window it excuses; a heal
// on time passes that test (and fails further on, for want of ops).
func TestLivenessFailsOnALateHeal(t *testing.T) {
	for _, c := range []struct {
		late time.Duration
		want string
	}{
		{20 * time.Second, "after its scheduled time, more than 8s"},
		{0, "no operation was invoked"},
	} {
		loss := 1.0
		s := &scenario.Scenario{Duration: 30 * time.Second, Faults: []scenario.Fault{{
			Kind: scenario.KindNetwork, At: 0, For: time.Second, Network: &scenario.NetworkFault{Loss: &loss},
		}}}
		c0 := &cluster{net: newNetState(3, s.Network)}
		tl := newTimeline(s, c0, time.Now().Add(-c.late))
		tl.run(context.Background())
		r := &run{timeline: tl, history: &workload.History{}}
		res := r.checkLiveness(8 * time.Second)
		if res.OK || !strings.Contains(res.Detail, c.want) {
			t.Errorf("heal %v late: %+v, want a failure saying %q", c.late, res, c.want)
		}
	}
}
