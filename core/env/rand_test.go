package env_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

func draw(r *env.Rand, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = r.Uint64()
	}
	return out
}

func equalStreams(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRandSameSeedSameStream(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		a, b := env.NewRand(seed), env.NewRand(seed)
		if !equalStreams(draw(a, 64), draw(b, 64)) {
			t.Fatalf("seed %d: two generators diverged", seed)
		}
	})
}

func TestRandSeedResets(t *testing.T) {
	r := env.NewRand(42)
	first := draw(r, 16)
	r.Seed(42)
	if !equalStreams(first, draw(r, 16)) {
		t.Fatal("Seed(42) did not restart the stream of NewRand(42)")
	}
}

func TestRandDifferentSeedsDiffer(t *testing.T) {
	// Neighbouring seeds are the likeliest to collide if seeding were weak.
	seen := map[uint64]uint64{}
	for seed := uint64(0); seed < 1000; seed++ {
		v := env.NewRand(seed).Uint64()
		if prev, dup := seen[v]; dup {
			t.Fatalf("seeds %d and %d start with the same value %x", prev, seed, v)
		}
		seen[v] = seed
	}
}

func TestUint64nWithinRange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := env.NewRand(rapid.Uint64().Draw(t, "seed"))
		n := rapid.OneOf(rapid.Uint64Range(1, 16), rapid.Uint64Min(1),
			rapid.Just(uint64(math.MaxUint64)), rapid.Just(uint64(1)<<63+1)).Draw(t, "n")
		for i := 0; i < 32; i++ {
			if v := r.Uint64n(n); v >= n {
				t.Fatalf("Uint64n(%d) = %d", n, v)
			}
		}
	})
}

// A plain modulo reduction over n = 3*2^62 maps twice as many inputs onto
// [0, 2^62) as onto the rest, so that third would get half the draws. An
// unbiased reduction gives it a third.
func TestUint64nUnbiasedForLargeN(t *testing.T) {
	const n = uint64(3) << 62
	r := env.NewRand(7)
	const draws = 30000
	low := 0
	for i := 0; i < draws; i++ {
		if r.Uint64n(n) < n/3 {
			low++
		}
	}
	frac := float64(low) / draws
	// Standard deviation of the fraction is about 0.0027; 0.02 is > 7 sigma.
	if math.Abs(frac-1.0/3) > 0.02 {
		t.Fatalf("fraction of draws below n/3 = %.4f, want about 0.333 (modulo bias gives 0.5)", frac)
	}
}

func TestUint64nUniformSmallN(t *testing.T) {
	const n, draws = 6, 60000
	r := env.NewRand(11)
	var counts [n]int
	for i := 0; i < draws; i++ {
		counts[r.Uint64n(n)]++
	}
	// Pearson chi-square with 5 degrees of freedom: 20.5 is the 0.999 quantile.
	expected := float64(draws) / n
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - expected
		chi += d * d / expected
	}
	if chi > 20.5 {
		t.Fatalf("chi-square %.1f over counts %v: not uniform", chi, counts)
	}
}

func TestUint64nAndIntnRejectEmptyRange(t *testing.T) {
	r := env.NewRand(1)
	mustPanic(t, "Uint64n(0)", func() { r.Uint64n(0) })
	mustPanic(t, "Intn(0)", func() { r.Intn(0) })
	mustPanic(t, "Intn(-1)", func() { r.Intn(-1) })
	if v := r.Intn(1); v != 0 {
		t.Fatalf("Intn(1) = %d", v)
	}
}

func TestFloat64AndBool(t *testing.T) {
	r := env.NewRand(3)
	trues := 0
	const draws = 20000
	for i := 0; i < draws; i++ {
		if f := r.Float64(); f < 0 || f >= 1 {
			t.Fatalf("Float64 = %v, outside [0,1)", f)
		}
		if r.Bool(0) || r.Bool(-1) {
			t.Fatal("Bool(p <= 0) returned true")
		}
		if !r.Bool(1) || !r.Bool(2) {
			t.Fatal("Bool(p >= 1) returned false")
		}
		if r.Bool(0.25) {
			trues++
		}
	}
	if frac := float64(trues) / draws; math.Abs(frac-0.25) > 0.02 {
		t.Fatalf("Bool(0.25) true %.3f of the time", frac)
	}
}

func TestExpFloat64MeanOne(t *testing.T) {
	r := env.NewRand(5)
	const draws = 40000
	sum := 0.0
	for i := 0; i < draws; i++ {
		v := r.ExpFloat64()
		if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			t.Fatalf("ExpFloat64 = %v", v)
		}
		sum += v
	}
	// The standard error of the mean is 1/sqrt(draws) = 0.005.
	if mean := sum / draws; math.Abs(mean-1) > 0.03 {
		t.Fatalf("mean %.3f, want about 1", mean)
	}
}

func TestDeriveDoesNotAdvanceParent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		skip := rapid.IntRange(0, 20).Draw(t, "skip")
		purpose := rapid.String().Draw(t, "purpose")
		parent, twin := env.NewRand(seed), env.NewRand(seed)
		draw(parent, skip)
		draw(twin, skip)
		_ = parent.Derive(purpose)
		if !equalStreams(draw(parent, 8), draw(twin, 8)) {
			t.Fatal("Derive advanced the parent")
		}
	})
}

func TestDeriveSamePurposeSameStream(t *testing.T) {
	r := env.NewRand(9)
	a, b := r.Derive("network"), r.Derive("network")
	if !equalStreams(draw(a, 16), draw(b, 16)) {
		t.Fatal("two derivations for the same purpose differ")
	}
}

func TestDeriveDifferentPurposesDiffer(t *testing.T) {
	r := env.NewRand(9)
	purposes := []string{"", "a", "b", "ab", "ba", "network", "disk", "node/0", "node/1", "node/10"}
	seen := map[uint64]string{}
	parent := draw(env.NewRand(9), 4)
	for _, p := range purposes {
		s := draw(r.Derive(p), 4)
		if prev, dup := seen[s[0]]; dup {
			t.Fatalf("purposes %q and %q start the same stream", prev, p)
		}
		seen[s[0]] = p
		if equalStreams(s, parent) {
			t.Fatalf("purpose %q repeats the parent's stream", p)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := env.NewRand(rapid.Uint64().Draw(t, "seed"))
		d := time.Duration(rapid.Int64Range(1, int64(time.Hour)).Draw(t, "d"))
		frac := rapid.Float64Range(0.001, 1).Draw(t, "frac")
		got := r.Jitter(d, frac)
		lo := float64(d) * (1 - frac)
		hi := float64(d) * (1 + frac)
		if float64(got) < lo-1 || float64(got) > hi+1 {
			t.Fatalf("Jitter(%v, %v) = %v outside [%v, %v]", d, frac, got, lo, hi)
		}
	})
}

func TestJitterVariesAndKeepsDegenerateInputs(t *testing.T) {
	r := env.NewRand(1)
	if got := r.Jitter(time.Second, 0); got != time.Second {
		t.Fatalf("Jitter with frac 0 = %v", got)
	}
	if got := r.Jitter(time.Second, -0.5); got != time.Second {
		t.Fatalf("Jitter with negative frac = %v", got)
	}
	if got := r.Jitter(0, 0.5); got != 0 {
		t.Fatalf("Jitter(0) = %v", got)
	}
	if got := r.Jitter(-time.Second, 0.5); got != -time.Second {
		t.Fatalf("Jitter(-1s) = %v", got)
	}
	below, above := false, false
	for i := 0; i < 100; i++ {
		got := r.Jitter(time.Second, 0.5)
		below = below || got < time.Second
		above = above || got > time.Second
	}
	if !below || !above {
		t.Fatalf("100 jitters of 1s±50%%: below %v above %v, want both", below, above)
	}
}

func TestReadFillsEveryByte(t *testing.T) {
	for _, size := range []int{0, 1, 7, 8, 9, 13, 64, 1000} {
		r := env.NewRand(uint64(size) + 1)
		buf := make([]byte, size)
		n, err := r.Read(buf)
		if n != size || err != nil {
			t.Fatalf("Read(%d bytes) = %d, %v", size, n, err)
		}
		// Each 8-byte word (and the tail) must be written: a zero word has
		// probability 2^-64 per word for a working fill.
		for off := 0; off < size; off += 8 {
			end := min(off+8, size)
			if end-off >= 4 && bytes.Count(buf[off:end], []byte{0}) == end-off {
				t.Fatalf("Read(%d bytes): bytes %d..%d left zero", size, off, end)
			}
		}
		// Read and Fill are the same stream.
		again := make([]byte, size)
		env.NewRand(uint64(size) + 1).Fill(again)
		if !bytes.Equal(buf, again) {
			t.Fatalf("Read and Fill of the same seed differ for %d bytes", size)
		}
	}
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	fn()
}
