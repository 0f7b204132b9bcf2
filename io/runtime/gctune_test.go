package runtime

import "testing"

// gcPercentFor: headroom over the live heap, clamped to 100..1600. With
// the simulator's 256 MiB a small live heap gets 1600 and a GiB heap the
// default 100; with rond's 64 MiB a 4 MiB heap gets 1600 and 64 MiB or
// more the default.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{0, 256 << 20, 1600},
		{6 << 20, 256 << 20, 1600},   // a registry run: 6 MiB live
		{64 << 20, 256 << 20, 400},   // 256/64
		{256 << 20, 256 << 20, 100},  // 256/256
		{2700 << 20, 256 << 20, 100}, // dht_100k's GiBs: the default
		{(256 << 20) / 3, 256 << 20, 300},
		{4 << 20, 64 << 20, 1600}, // rond's byte path: 3-4 MiB live
		{32 << 20, 64 << 20, 200},
		{1 << 30, 64 << 20, 100}, // a micronode's objects
	} {
		if got := gcPercentFor(c.live, c.headroom); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", c.live>>20, c.headroom>>20, got, c.want)
		}
	}
}
