package real

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// Bounds of a soak's process sampling and leak rule.
const (
	SampleInterval = 2 * time.Second
	// SamplesMax bounds the samples kept per node process.
	SamplesMax = 10_000
	// LeakWarmup is the part of a process's life left out of the leak
	// rule (pebble's caches and the raft log fill up first).
	LeakWarmup = 10 * time.Second
	// LeakGrowthMax and LeakBytesMin: a process leaks when its resident
	// memory in the last quarter of its life is more than LeakGrowthMax
	// times, and LeakBytesMin more than, that of its first quarter after
	// the warm-up.
	LeakGrowthMax = 2.0
	LeakBytesMin  = 64 << 20
	// LeakSamplesMin is the fewest samples a process needs to be judged.
	LeakSamplesMin = 8
	// GoroutineGrowthMin and GoroutineGrowthRatio: a process leaks
	// goroutines when, after the warm-up, the medians of go_goroutines
	// over the four quarters of its life never go down and the last is
	// GoroutineGrowthMin more than, and GoroutineGrowthRatio times, the
	// first. A healthy rond under a soak holds a steady count that
	// connections and requests move up and down by tens; a goroutine
	// left behind per request, connection or restart of a peer climbs
	// quarter after quarter.
	GoroutineGrowthMin   = 100
	GoroutineGrowthRatio = 1.5
)

// Soak stretches s to last d: the fault timeline repeats every
// s.Duration, whole repetitions only (a cut-off one could end its last
// fault after the workload stops, leaving liveness nothing to judge), the
// workload runs until d minus the quiet tail the scenario leaves after its
// stop, and the checks run at the end as usual.
func Soak(s *scenario.Scenario, d time.Duration) *scenario.Scenario {
	if d <= s.Duration {
		return s
	}
	out := s.Clone()
	period := s.Duration
	out.Duration = d
	out.Faults = nil
	for start := time.Duration(0); start+period <= d; start += period {
		for _, f := range s.Faults {
			f.At += start // the pointers inside stay shared: read only
			out.Faults = append(out.Faults, f)
		}
	}
	if out.Workload != nil {
		out.Workload.Stop = d - (period - s.Workload.Stop)
	}
	out.Name = fmt.Sprintf("%s (soak %v)", s.Name, d)
	return out
}

// sample is one reading of a node process.
type sample struct {
	at      time.Duration
	rss     int64
	threads int
	// goroutines is go_goroutines from its /metrics, -1 when the scrape
	// got no answer (a paused node).
	goroutines int
}

// sampler reads every running node's resident memory and thread count
// from /proc, and its goroutine count from /metrics, while a run goes.
type sampler struct {
	c     *cluster
	start time.Time
	mu    sync.Mutex
	// byProcess holds the samples per node process ("n2#1": second start).
	byProcess map[string][]sample
}

func newSampler(c *cluster, start time.Time) *sampler {
	return &sampler{c: c, start: start, byProcess: map[string][]sample{}}
}

func (s *sampler) run(ctx context.Context) {
	for sleepUntil(ctx, time.Now().Add(SampleInterval)) {
		for _, n := range s.c.nodes {
			pid := n.pid()
			if pid == 0 {
				continue
			}
			rss, threads, err := procStatus(pid)
			if err != nil {
				continue
			}
			n.mu.Lock()
			key := fmt.Sprintf("%s#%d", n.name, n.starts)
			n.mu.Unlock()
			at := time.Since(s.start)
			goroutines := int(n.scrapeWithin(SampleInterval / 2).goroutines)
			if n.pid() != pid {
				continue // restarted meanwhile: the figures are of two processes
			}
			s.mu.Lock()
			if len(s.byProcess[key]) < SamplesMax {
				s.byProcess[key] = append(s.byProcess[key], sample{at: at, rss: rss, threads: threads, goroutines: goroutines})
			}
			s.mu.Unlock()
		}
	}
}

// procStatus reads VmRSS (bytes) and Threads from /proc/PID/status.
func procStatus(pid int) (int64, int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var rss int64
	threads := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmRSS":
			kb, _ := strconv.ParseInt(fields[0], 10, 64)
			rss = kb << 10
		case "Threads":
			threads, _ = strconv.Atoi(fields[0])
		}
	}
	return rss, threads, sc.Err()
}

// SoakStats is one node process's sampled figures.
type SoakStats struct {
	Process        string  `json:"process"`
	Samples        int     `json:"samples"`
	RSSFirstMiB    float64 `json:"rss_first_quarter_mib"`
	RSSLastMiB     float64 `json:"rss_last_quarter_mib"`
	RSSMaxMiB      float64 `json:"rss_max_mib"`
	ThreadsFirst   int     `json:"threads_first_quarter"`
	ThreadsLast    int     `json:"threads_last_quarter"`
	LeakSuspected  bool    `json:"leak"`
	JudgedForLeaks bool    `json:"judged"`
	// Goroutines are go_goroutines medians per quarter after the warm-up
	// (empty when too few scrapes answered) and the highest sample.
	Goroutines       []int `json:"goroutines_quarters,omitempty"`
	GoroutinesMax    int   `json:"goroutines_max"`
	GoroutineLeak    bool  `json:"goroutine_leak"`
	GoroutinesJudged bool  `json:"goroutines_judged"`
}

// stats summarises every process and returns the leak check's verdict.
func (s *sampler) stats() ([]SoakStats, runner.CheckResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byProcess))
	for k := range s.byProcess {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []SoakStats
	var leaks []string
	judged := 0
	for _, k := range keys {
		st := summarise(k, s.byProcess[k])
		if st.JudgedForLeaks {
			judged++
		}
		if st.LeakSuspected {
			leaks = append(leaks, fmt.Sprintf("%s resident memory %.0f -> %.0f MiB", k, st.RSSFirstMiB, st.RSSLastMiB))
		}
		if st.GoroutineLeak {
			leaks = append(leaks, fmt.Sprintf("%s goroutines by quarter %v", k, st.Goroutines))
		}
		out = append(out, st)
	}
	if len(leaks) > 0 {
		return out, runner.CheckResult{Name: "leaks", Detail: fmt.Sprintf("leak suspected (memory more than %gx and %d MiB up, or goroutines climbing every quarter by %d and %gx): %s",
			LeakGrowthMax, LeakBytesMin>>20, GoroutineGrowthMin, GoroutineGrowthRatio, strings.Join(leaks, ", "))}
	}
	if judged == 0 {
		return out, runner.CheckResult{Name: "leaks", Detail: "no process lived long enough to be judged; soak longer"}
	}
	return out, runner.CheckResult{Name: "leaks", OK: true, Detail: fmt.Sprintf("%d processes judged: no memory grew more than %gx, no goroutine count climbed every quarter by %d and %gx",
		judged, LeakGrowthMax, GoroutineGrowthMin, GoroutineGrowthRatio)}
}

func summarise(key string, samples []sample) SoakStats {
	st := SoakStats{Process: key, Samples: len(samples)}
	var warm []sample
	for _, sm := range samples {
		st.RSSMaxMiB = max(st.RSSMaxMiB, float64(sm.rss)/(1<<20))
		if len(samples) > 0 && sm.at-samples[0].at >= LeakWarmup {
			warm = append(warm, sm)
		}
	}
	if len(warm) < LeakSamplesMin {
		return st
	}
	quarter := len(warm) / 4
	first, last := warm[:quarter], warm[len(warm)-quarter:]
	rssFirst, rssLast := medianRSS(first), medianRSS(last)
	st.RSSFirstMiB, st.RSSLastMiB = float64(rssFirst)/(1<<20), float64(rssLast)/(1<<20)
	st.ThreadsFirst, st.ThreadsLast = first[len(first)/2].threads, last[len(last)/2].threads
	st.JudgedForLeaks = true
	st.LeakSuspected = float64(rssLast) > LeakGrowthMax*float64(rssFirst) && rssLast-rssFirst > LeakBytesMin
	judgeGoroutines(&st, warm)
	return st
}

// judgeGoroutines applies the goroutine rule (GoroutineGrowthMin) to the
// samples after the warm-up whose scrape answered.
func judgeGoroutines(st *SoakStats, warm []sample) {
	var g []int
	for _, sm := range warm {
		st.GoroutinesMax = max(st.GoroutinesMax, sm.goroutines)
		if sm.goroutines >= 0 {
			g = append(g, sm.goroutines)
		}
	}
	if len(g) < LeakSamplesMin {
		return
	}
	st.GoroutinesJudged = true
	st.Goroutines = make([]int, 4)
	climbing := true
	for q := range 4 {
		part := append([]int(nil), g[q*len(g)/4:(q+1)*len(g)/4]...)
		sort.Ints(part)
		st.Goroutines[q] = part[len(part)/2]
		if q > 0 && st.Goroutines[q] < st.Goroutines[q-1] {
			climbing = false
		}
	}
	first, last := st.Goroutines[0], st.Goroutines[3]
	st.GoroutineLeak = climbing && last-first >= GoroutineGrowthMin && float64(last) >= GoroutineGrowthRatio*float64(first)
}

func medianRSS(samples []sample) int64 {
	v := make([]int64, len(samples))
	for i, sm := range samples {
		v[i] = sm.rss
	}
	sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
	return v[len(v)/2]
}
