package env_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

func TestSortedKeys(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.MapOf(rapid.Int(), rapid.Bool()).Draw(t, "m")
		got := env.SortedKeys(m)
		if len(got) != len(m) {
			t.Fatalf("%d keys from a map of %d", len(got), len(m))
		}
		if !slices.Equal(got, slices.Sorted(maps.Keys(m))) {
			t.Fatalf("SortedKeys = %v", got)
		}
	})
}

func TestSortedKeysStrings(t *testing.T) {
	m := map[string]int{"b": 1, "a": 2, "": 3, "ab": 4, "B": 5}
	want := []string{"", "B", "a", "ab", "b"}
	if got := env.SortedKeys(m); !slices.Equal(got, want) {
		t.Fatalf("SortedKeys = %q, want %q", got, want)
	}
	if got := env.SortedKeys(map[string]int{}); len(got) != 0 {
		t.Fatalf("empty map gave %q", got)
	}
}

func TestSortedKeysFunc(t *testing.T) {
	type pair struct{ a, b int }
	m := map[pair]bool{{2, 1}: true, {1, 9}: true, {1, 2}: true, {0, 5}: true}
	byAThenB := func(x, y pair) int {
		if x.a != y.a {
			return x.a - y.a
		}
		return x.b - y.b
	}
	want := []pair{{0, 5}, {1, 2}, {1, 9}, {2, 1}}
	if got := env.SortedKeysFunc(m, byAThenB); !slices.Equal(got, want) {
		t.Fatalf("SortedKeysFunc = %v, want %v", got, want)
	}
	reversed := func(x, y pair) int { return byAThenB(y, x) }
	got := env.SortedKeysFunc(m, reversed)
	slices.Reverse(got)
	if !slices.Equal(got, want) {
		t.Fatalf("SortedKeysFunc ignores the compare function: %v", got)
	}
}

func TestTimeArithmetic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := env.Time(rapid.Int64Range(0, 1<<62).Draw(t, "base"))
		d := time.Duration(rapid.Int64Range(-1<<40, 1<<40).Draw(t, "d"))
		later := base.Add(d)
		if got := later.Sub(base); got != d {
			t.Fatalf("(t+%v)-t = %v", d, got)
		}
		if int64(later)-int64(base) != int64(d) {
			t.Fatalf("Add is not nanoseconds: %d + %d = %d", base, d, later)
		}
		if later.Before(base) != (d < 0) {
			t.Fatalf("(t+%v).Before(t) = %v", d, later.Before(base))
		}
		if base.Before(base) {
			t.Fatal("t.Before(t)")
		}
	})
	if got := env.Time(1_500_000_000).Seconds(); got != 1.5 {
		t.Fatalf("1.5e9 ns is %v seconds", got)
	}
	if got := env.Time(0).Add(2 * time.Second).Sub(env.Time(500 * time.Millisecond)); got != 1500*time.Millisecond {
		t.Fatalf("2s - 0.5s = %v", got)
	}
}

func TestDeclareSameShapeTwice(t *testing.T) {
	def := env.MetricDef{Name: "envtest_same_shape_total", Kind: env.Counter, Help: "first", Label: "reason"}
	env.Declare(def)
	again := def
	again.Help = "second wording"
	out := env.Declare(again)
	if len(out) != 1 || out[0].Name != def.Name {
		t.Fatalf("Declare returned %v", out)
	}
	got, ok := env.LookupMetric(def.Name)
	if !ok || got.Kind != env.Counter || got.Label != "reason" {
		t.Fatalf("LookupMetric = %v, %v", got, ok)
	}
}

func TestDeclareDifferentShapePanics(t *testing.T) {
	env.Declare(env.MetricDef{Name: "envtest_shape_total", Kind: env.Counter, Label: "reason"})
	mustPanic(t, "redeclaring with another kind", func() {
		env.Declare(env.MetricDef{Name: "envtest_shape_total", Kind: env.Gauge, Label: "reason"})
	})
	mustPanic(t, "redeclaring with another label", func() {
		env.Declare(env.MetricDef{Name: "envtest_shape_total", Kind: env.Counter, Label: "peer"})
	})
	if got, _ := env.LookupMetric("envtest_shape_total"); got.Kind != env.Counter || got.Label != "reason" {
		t.Fatalf("a refused declaration changed the def: %+v", got)
	}
}

func TestCatalogSortedAndComplete(t *testing.T) {
	env.Declare(env.MetricDef{Name: "envtest_zz_gauge", Kind: env.Gauge},
		env.MetricDef{Name: "envtest_aa_seconds", Kind: env.Histogram, Buckets: env.LatencyBuckets})
	cat := env.Catalog()
	names := make([]string, len(cat))
	for i, d := range cat {
		names[i] = d.Name
	}
	if !slices.IsSorted(names) {
		t.Fatalf("Catalog not sorted by name: %v", names)
	}
	for _, want := range []string{"envtest_zz_gauge", "envtest_aa_seconds", env.MetricBusDropped, env.MetricServiceRestarts} {
		if _, found := slices.BinarySearch(names, want); !found {
			t.Fatalf("Catalog lacks %s", want)
		}
	}
	if _, ok := env.LookupMetric("envtest_never_declared"); ok {
		t.Fatal("LookupMetric found an undeclared name")
	}
}

func TestBucketsAscending(t *testing.T) {
	for name, b := range map[string][]float64{"latency": env.LatencyBuckets, "hop": env.HopBuckets, "ratio": env.RatioBuckets} {
		if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
			t.Errorf("%s buckets not strictly ascending: %v", name, b)
		}
	}
	for _, d := range env.Catalog() {
		if d.Kind == env.Histogram && len(d.Buckets) == 0 && !strings.HasPrefix(d.Name, "envtest_") {
			t.Errorf("histogram %s has no buckets", d.Name)
		}
	}
}
