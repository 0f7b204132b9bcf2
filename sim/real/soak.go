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
)

// Soak stretches s to last d: the fault timeline repeats every
// s.Duration, the workload runs until d minus the quiet tail the scenario
// leaves after its stop, and the checks run at the end as usual.
func Soak(s *scenario.Scenario, d time.Duration) *scenario.Scenario {
	if d <= s.Duration {
		return s
	}
	out := s.Clone()
	period := s.Duration
	out.Duration = d
	out.Faults = nil
	for start := time.Duration(0); start < d; start += period {
		for _, f := range s.Faults {
			f.At += start // the pointers inside stay shared: read only
			if f.At+max(f.For, crashWindow(&f)) > d {
				continue
			}
			out.Faults = append(out.Faults, f)
		}
	}
	if out.Workload != nil {
		out.Workload.Stop = d - (period - s.Workload.Stop)
	}
	out.Name = fmt.Sprintf("%s (soak %v)", s.Name, d)
	return out
}

func crashWindow(f *scenario.Fault) time.Duration {
	if f.Crash != nil {
		return f.Crash.RestartAfter
	}
	return 0
}

// sample is one reading of a node process.
type sample struct {
	at      time.Duration
	rss     int64
	threads int
}

// sampler reads every running node's resident memory and thread count
// from /proc while a run goes. Goroutines are not exported by rond's
// /metrics, so threads stand in for concurrency.
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
			s.mu.Lock()
			if len(s.byProcess[key]) < SamplesMax {
				s.byProcess[key] = append(s.byProcess[key], sample{at: time.Since(s.start), rss: rss, threads: threads})
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
			leaks = append(leaks, fmt.Sprintf("%s %.0f -> %.0f MiB", k, st.RSSFirstMiB, st.RSSLastMiB))
		}
		out = append(out, st)
	}
	if len(leaks) > 0 {
		return out, runner.CheckResult{Name: "leaks", Detail: "resident memory grew more than 2x: " + strings.Join(leaks, ", ")}
	}
	if judged == 0 {
		return out, runner.CheckResult{Name: "leaks", Detail: "no process lived long enough to be judged; soak longer"}
	}
	return out, runner.CheckResult{Name: "leaks", OK: true, Detail: fmt.Sprintf("%d processes judged, none grew more than %.0fx", judged, LeakGrowthMax)}
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
	return st
}

func medianRSS(samples []sample) int64 {
	v := make([]int64, len(samples))
	for i, sm := range samples {
		v[i] = sm.rss
	}
	sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
	return v[len(v)/2]
}
