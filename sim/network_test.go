package sim

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// gossip makes every node ping every other node each 10ms.
func gossip(p *probe) {
	const period = 10 * ms
	p.onStart = func(p *probe) { p.e.SetTimer(period, 0) }
	p.onTimer = func(p *probe, _ env.TimerFired) {
		for to := 0; to < p.world().Nodes(); to++ {
			if to != p.idx {
				p.send(to, 0)
			}
		}
		p.e.SetTimer(period, 0)
	}
}

// links returns the sorted "from>to" pairs delivered in [from, to).
func (h *harness) links(from, to time.Duration) []string {
	var out []string
	seen := map[string]bool{}
	for i, p := range h.probes {
		for _, m := range p.messages {
			if m.at < Epoch.Add(from) || m.at >= Epoch.Add(to) {
				continue
			}
			link := fmt.Sprintf("%d>%d", h.from(m), i)
			if !seen[link] {
				seen[link] = true
				out = append(out, link)
			}
		}
	}
	slices.Sort(out)
	return out
}

// allLinks lists every ordered pair of distinct nodes of n, minus cut.
func allLinks(n int, cut ...string) []string {
	var out []string
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			link := fmt.Sprintf("%d>%d", a, b)
			if a != b && !slices.Contains(cut, link) {
				out = append(out, link)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestNetworkCuts(t *testing.T) {
	cases := []struct {
		name  string
		fault func(w *World)
		cut   []string // links that must go silent
	}{
		{"partition", func(w *World) { w.Partition([]int{0, 1}) },
			[]string{"0>2", "0>3", "1>2", "1>3", "2>0", "2>1", "3>0", "3>1"}},
		{"partition three ways", func(w *World) { w.Partition([]int{0}, []int{1, 2}) },
			[]string{"0>1", "0>2", "0>3", "1>0", "2>0", "3>0", "1>3", "2>3", "3>1", "3>2"}},
		{"one way", func(w *World) { w.CutOneWay([]int{0, 1}, []int{2}) },
			[]string{"0>2", "1>2"}},
		{"isolate", func(w *World) { w.Isolate(3) },
			[]string{"0>3", "1>3", "2>3", "3>0", "3>1", "3>2"}},
		{"bridge", func(w *World) { w.Bridge([]int{0}, []int{2, 3}, 1) },
			[]string{"0>2", "0>3", "2>0", "3>0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Seed: 5, Nodes: 4, Network: NetworkConfig{LatencyP50: ms, LatencyP99: 3 * ms}}
			h := newHarness(t, cfg, gossip)
			w := h.w
			w.At(50*ms, func() { c.fault(w) })
			w.At(150*ms, w.Heal)
			h.run(250 * ms)
			if got, want := h.links(0, 50*ms), allLinks(4); !slices.Equal(got, want) {
				t.Errorf("before the fault: %v, want %v", got, want)
			}
			if got, want := h.links(55*ms, 150*ms), allLinks(4, c.cut...); !slices.Equal(got, want) {
				t.Errorf("during the fault: %v, want %v", got, want)
			}
			if got, want := h.links(160*ms, 250*ms), allLinks(4); !slices.Equal(got, want) {
				t.Errorf("after heal: %v, want %v", got, want)
			}
			faults := w.Faults()
			if len(faults) != 2 || faults[0].At != 50*ms || faults[1].Kind != FaultHeal {
				t.Errorf("fault records %v", faults)
			}
		})
	}
}

func TestCutDropsFramesAlreadyInFlight(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 2, Network: NetworkConfig{LatencyP50: 50 * ms}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) { p.send(1-p.idx, 1) }
	})
	h.w.At(10*ms, func() { h.w.CutOneWay([]int{0}, []int{1}) })
	h.run(time.Second)
	if n := len(h.probes[1].messages); n != 0 {
		t.Errorf("node 1 received %d frames sent before the cut", n)
	}
	if n := len(h.probes[0].messages); n != 1 {
		t.Errorf("node 0 received %d frames on the open direction, want 1", n)
	}
	if s := h.w.NetStats(); s.Cut != 1 || s.Delivered != 1 {
		t.Errorf("stats %+v", s)
	}
}

// within reports whether count successes of n trials fit probability p
// within 5 standard deviations.
func within(count, n uint64, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(count)-float64(n)*p) <= 5*sd+1
}

func TestLossDuplicateReorderRates(t *testing.T) {
	const frames = 20000
	cfg := Config{Seed: 11, Nodes: 2, Network: NetworkConfig{
		LatencyP50: 10 * ms, LatencyP99: 50 * ms, Loss: 0.1, Duplicate: 0.05, Reorder: 0.2}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			if p.idx == 0 {
				for c := uint64(0); c < frames; c++ {
					p.send(1, c)
				}
			}
		}
	})
	h.run(10 * time.Second)
	s := h.w.NetStats()
	got := uint64(len(h.probes[1].messages))
	if s.Sent != frames || got != s.Delivered || got != frames-s.Lost+s.Duplicated {
		t.Fatalf("accounting: received %d, stats %+v", got, s)
	}
	if !within(s.Lost, frames, 0.1) {
		t.Errorf("lost %d of %d, want about 10%%", s.Lost, frames)
	}
	if !within(s.Duplicated, frames-s.Lost, 0.05) {
		t.Errorf("duplicated %d of %d, want about 5%%", s.Duplicated, frames-s.Lost)
	}
	if !within(s.Reordered, got, 0.2) {
		t.Errorf("reordered %d of %d copies, want about 20%%", s.Reordered, got)
	}
	// A reordered copy is delayed by up to 4*p99 more: latencies beyond the
	// plain lognormal's reach (p99.99 is about 2.1*p99) must appear.
	late := 0
	for _, m := range h.probes[1].messages {
		if m.at.Sub(m.sentAt) > 3*50*ms {
			late++
		}
	}
	if late == 0 {
		t.Error("no frame was delayed by reordering")
	}
}

func TestLatencyFitsP50AndP99(t *testing.T) {
	const frames = 20000
	cfg := Config{Seed: 12, Nodes: 2, Network: NetworkConfig{LatencyP50: 10 * ms, LatencyP99: 80 * ms}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			if p.idx == 0 {
				for c := uint64(0); c < frames; c++ {
					p.send(1, c)
				}
			}
		}
	})
	h.run(10 * time.Second)
	var lat []time.Duration
	for _, m := range h.probes[1].messages {
		lat = append(lat, m.at.Sub(m.sentAt))
	}
	if len(lat) != frames {
		t.Fatalf("received %d of %d", len(lat), frames)
	}
	slices.Sort(lat)
	p50, p99 := lat[frames/2], lat[frames*99/100]
	if math.Abs(float64(p50-10*ms)) > 0.05*float64(10*ms) {
		t.Errorf("p50 %v, want 10ms within 5%%", p50)
	}
	if math.Abs(float64(p99-80*ms)) > 0.12*float64(80*ms) {
		t.Errorf("p99 %v, want 80ms within 12%%", p99)
	}
}

func TestBandwidthCapSerialisesEachUplink(t *testing.T) {
	const (
		bandwidth = 1_000_000 // bytes per second
		pad       = 500_000
		latency   = ms
	)
	cfg := Config{Seed: 1, Nodes: 3, Network: NetworkConfig{LatencyP50: latency, BandwidthBytesPerSecond: bandwidth}}
	h := newHarness(t, cfg, func(p *probe) {
		p.onStart = func(p *probe) {
			switch p.idx {
			case 0:
				p.e.Send(p.world().NodeID(1), ping(1, p.e.Now(), pad))
				p.send(1, 2) // queued behind the large frame
			case 2:
				p.send(1, 3) // another uplink: not delayed by node 0's
			}
		}
	})
	h.run(2 * time.Second)
	serialise := func(bytes int) time.Duration {
		return time.Duration((int64(bytes)*int64(time.Second) + bandwidth - 1) / bandwidth)
	}
	small := 38 + 8 // header + clock payload
	large := small + pad
	want := map[uint64]time.Duration{
		1: serialise(large) + latency,
		2: serialise(large) + serialise(small) + latency,
		3: serialise(small) + latency,
	}
	got := h.probes[1].messages
	if len(got) != 3 {
		t.Fatalf("received %d frames, want 3", len(got))
	}
	for _, m := range got {
		if at := m.at.Sub(Epoch); at != want[m.corrID] {
			t.Errorf("frame %d arrived at %v, want %v", m.corrID, at, want[m.corrID])
		}
	}
}

func TestLatencyModelSampleQuantiles(t *testing.T) {
	m := newLatencyModel(NetworkConfig{LatencyP50: 2 * ms, LatencyP99: 20 * ms})
	r := env.NewRand(1)
	const n = 100000
	samples := make([]time.Duration, n)
	for i := range samples {
		samples[i] = m.draw(r)
	}
	slices.Sort(samples)
	if p50 := samples[n/2]; math.Abs(float64(p50-2*ms)) > 0.03*float64(2*ms) {
		t.Errorf("p50 %v", p50)
	}
	if p99 := samples[n*99/100]; math.Abs(float64(p99-20*ms)) > 0.06*float64(20*ms) {
		t.Errorf("p99 %v", p99)
	}
	constant := newLatencyModel(NetworkConfig{LatencyP50: 3 * ms})
	if d := constant.draw(r); d != 3*ms {
		t.Errorf("constant model drew %v", d)
	}
}
