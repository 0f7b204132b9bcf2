package runner

import (
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// TestClockHealed: a clock window ends at At+For, but a clock left ahead
// of true time stands still (never stepping back) until true time catches
// up, so the fault heals only then. The expected times follow from the
// README's formula: reading = true + offset + drift*(true - at).
func TestClockHealed(t *testing.T) {
	const run = 70 * time.Second
	cases := []struct {
		name   string
		offset time.Duration
		drift  float64
		want   time.Duration
	}{
		// 3s + 0.5*10s = 8s ahead at 26s: still until 34s.
		{"ahead by offset and drift", 3 * time.Second, 0.5, 34 * time.Second},
		// 2s - 0.5*10s = -3s: behind at the heal, jumps forward at once.
		{"offset eaten by slow drift", 2 * time.Second, -0.5, 26 * time.Second},
		// Set back: it stood still in the window, runs again at the heal.
		{"set back an hour", -time.Hour, 0.2, 26 * time.Second},
		{"fast drift only", 0, 0.3, 29 * time.Second},
	}
	for _, c := range cases {
		f := &scenario.Fault{At: 16 * time.Second, For: 10 * time.Second, Kind: scenario.KindClock,
			Clock: &scenario.Clock{Node: "n2", Offset: c.offset, Drift: c.drift}}
		if got := clockHealed(f, run); got != c.want {
			t.Errorf("%s: healed at %v, want %v", c.name, got, c.want)
		}
	}
}
