package main

import "testing"

// linTimes: nearest-rank percentiles over the seeds that had a check, and
// the slowest seed named.
func TestLinTimes(t *testing.T) {
	if linTimes(nil, nil) != nil {
		t.Fatal("no seeds: want nil")
	}
	var seeds []uint64
	var secs []float64
	for i := 1; i <= 200; i++ {
		seeds = append(seeds, uint64(1000+i))
		secs = append(secs, float64((i*37)%200+1)/1000) // 0.001..0.200, shuffled
	}
	got := linTimes(seeds, secs)
	if got.Seeds != 200 || got.P50Seconds != 0.100 || got.P99Seconds != 0.198 || got.MaxSeconds != 0.200 {
		t.Fatalf("got %+v, want p50 0.100 p99 0.198 max 0.200 over 200", got)
	}
	if secs[got.MaxSeed-1001] != 0.200 {
		t.Fatalf("max seed %d has %v, not the max", got.MaxSeed, secs[got.MaxSeed-1001])
	}
	one := linTimes([]uint64{7}, []float64{0.5})
	if one.P50Seconds != 0.5 || one.P99Seconds != 0.5 || one.MaxSeed != 7 {
		t.Fatalf("one seed: %+v", one)
	}
}
