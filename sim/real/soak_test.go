package real

import (
	"strings"
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
	want := []time.Duration{4 * time.Second, 12 * time.Second, 24 * time.Second, 32 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("faults at %v, want %v (whole repetitions only: the third would end after the workload)", at, want)
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

// TestGoroutineLeakRule: the goroutine rule on synthetic samples (40
// samples, 2 s apart: 10 s of warm-up, then four quarters).
func TestGoroutineLeakRule(t *testing.T) {
	series := func(g func(i int) int) []sample {
		var out []sample
		for i := range 40 {
			out = append(out, sample{at: time.Duration(i) * SampleInterval, rss: 100 << 20, threads: 10, goroutines: g(i)})
		}
		return out
	}
	wobble := func(i int) int { return []int{-30, 10, 25, -5}[i%4] } // connections and requests coming and going
	for _, c := range []struct {
		name   string
		g      func(i int) int
		leak   bool
		judged bool
	}{
		{"steady with noise", func(i int) int { return 180 + wobble(i) }, false, true},
		{"one more per sample", func(i int) int { return 150 + 15*i + wobble(i) }, true, true},
		{"start-up climb inside the warm-up", func(i int) int { return 100 + 60*min(i, 5) }, false, true},
		{"climb too small", func(i int) int { return 150 + 2*i }, false, true},
		{"climb then back down", func(i int) int {
			if i >= 33 {
				return 150
			}
			return 150 + 20*i
		}, false, true},
		{"doubling but scrapes mostly unanswered", func(i int) int {
			if i%5 != 0 {
				return -1
			}
			return 150 + 15*i
		}, false, false},
	} {
		st := summarise(c.name, series(c.g))
		if st.GoroutineLeak != c.leak || st.GoroutinesJudged != c.judged {
			t.Errorf("%s: leak %v judged %v (quarters %v), want leak %v judged %v", c.name, st.GoroutineLeak, st.GoroutinesJudged, st.Goroutines, c.leak, c.judged)
		}
	}
	s := &sampler{byProcess: map[string][]sample{
		"n1#1": series(func(i int) int { return 180 + wobble(i) }),
		"n2#1": series(func(i int) int { return 150 + 15*i }),
	}}
	stats, check := s.stats()
	if check.OK || !strings.Contains(check.Detail, "n2#1 goroutines by quarter") || strings.Contains(check.Detail, "n1#1") {
		t.Fatalf("leaks check: %+v", check)
	}
	if len(stats) != 2 || stats[0].GoroutineLeak || !stats[1].GoroutineLeak {
		t.Fatalf("stats: %+v", stats)
	}
}

func TestParseGoroutines(t *testing.T) {
	if g := parseMetrics([]byte("# HELP go_goroutines x\ngo_goroutines 123\n")).goroutines; g != 123 {
		t.Fatalf("go_goroutines parsed as %v", g)
	}
	if g := parseMetrics([]byte("registry_leader_changes_total 2\n")).goroutines; g != -1 {
		t.Fatalf("absent go_goroutines parsed as %v, want -1", g)
	}
}
