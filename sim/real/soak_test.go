package real

import (
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

func TestSoakRepeatsTheTimeline(t *testing.T) {
	src := `name: soak me
duration: 20s
nodes: {count: 3, registry_replicas: 3}
workload: {clients: 2, rate: 10/s, stop: 18s, names: 4, mix: {claim: 1, set: 1}}
faults:
  - {at: 4s, for: 5s, partition: {isolate: leader}}
  - {at: 12s, crash: n3, restart_after: 2s}
checks: [linearizable]
`
	s, err := scenario.Parse("soak.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if Soak(s, 10*time.Second) != s {
		t.Fatal("a soak shorter than the scenario changed it")
	}
	long := Soak(s, 50*time.Second)
	var at []time.Duration
	for _, f := range long.Faults {
		at = append(at, f.At)
	}
	want := []time.Duration{4 * time.Second, 12 * time.Second, 24 * time.Second, 32 * time.Second, 44 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("faults at %v, want %v (the third crash would restart after the end)", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("faults at %v, want %v", at, want)
		}
	}
	if long.Duration != 50*time.Second || long.Workload.Stop != 48*time.Second {
		t.Fatalf("duration %v stop %v", long.Duration, long.Workload.Stop)
	}
	if len(s.Faults) != 2 || s.Workload.Stop != 18*time.Second {
		t.Fatal("Soak changed the scenario it was given")
	}
}

func TestLeakRule(t *testing.T) {
	series := func(from, to int64) []sample {
		var out []sample
		for i := int64(0); i < 40; i++ {
			out = append(out, sample{at: time.Duration(i) * SampleInterval, rss: from + (to-from)*i/39, threads: 10})
		}
		return out
	}
	if st := summarise("flat", series(100<<20, 110<<20)); !st.JudgedForLeaks || st.LeakSuspected {
		t.Fatalf("flat memory: %+v", st)
	}
	if st := summarise("leaky", series(100<<20, 600<<20)); !st.LeakSuspected {
		t.Fatalf("memory growing 6x: %+v", st)
	}
	if st := summarise("small", series(10<<20, 40<<20)); st.LeakSuspected {
		t.Fatalf("growth under LeakBytesMin counted as a leak: %+v", st)
	}
	if st := summarise("short", series(1, 2)[:3]); st.JudgedForLeaks {
		t.Fatalf("3 samples judged: %+v", st)
	}
}
