package slo

import "testing"

// Every objective is complete: a unique name, a source, a reason for where
// it is measured, a metric and an alert unless nothing measures it, and a
// statistic the simulator's report knows.
func TestSeedObjectivesComplete(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Seed {
		if o.Name == "" || names[o.Name] || o.Source == "" || o.Why == "" || o.Where < Anywhere || o.Where > Unmeasured {
			t.Fatalf("incomplete or duplicate objective %+v", o)
		}
		names[o.Name] = true
		if (o.Where == Unmeasured) != (o.Metric == "") || (o.Where == Unmeasured) != (o.Alert == "") {
			t.Fatalf("%s: metric %q and alert %q must both be set unless it is unmeasured", o.Name, o.Metric, o.Alert)
		}
		switch {
		case HistogramStat(o.Stat), o.Stat == StatTotal, o.Stat == StatPerPeerSecond, o.Stat == StatGaugeMax:
		case o.Stat == StatRatio && o.Where >= Production:
		default:
			t.Fatalf("%s: the simulator cannot compute stat %q", o.Name, o.Stat)
		}
	}
	if len(Seed) < 30 {
		t.Fatalf("%d objectives; the seed names about 30", len(Seed))
	}
}
