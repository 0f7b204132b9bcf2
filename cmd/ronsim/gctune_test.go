package main

import "testing"

// gcPercentFor: 256 MiB of headroom, clamped to 100..1600, so a small
// live heap gets the explore workers' former 1600 and a GiB heap the
// default 100.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1600},
		{6 << 20, 1600},   // a registry run: 6 MiB live
		{64 << 20, 400},   // 256/64
		{256 << 20, 100},  // 256/256
		{2700 << 20, 100}, // dht_100k's GiBs: the default
		{(256 << 20) / 3, 300},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}
