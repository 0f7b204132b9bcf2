package refusedlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestBounded: a Log remembers at most IDsMax ids, forgetting the one
// logged longest ago, and logs each id again only once Every has passed
// for it.
func TestBounded(t *testing.T) {
	var r Log
	id := func(i int) proto.NodeID { return proto.NodeID{byte(i >> 8), byte(i)} }
	now := env.Time(0)
	for i := range IDsMax + 10 {
		now = now.Add(Window) // one line per window: LinesMax is not reached
		if due, _ := r.Due(id(i), now); !due {
			t.Fatalf("id %d: first refusal not logged", i)
		}
		if r.Len() > IDsMax {
			t.Fatalf("%d ids remembered, bound %d", r.Len(), IDsMax)
		}
	}
	last := id(IDsMax + 9)
	if due, _ := r.Due(last, now.Add(Every-time.Nanosecond)); due {
		t.Fatal("an id logged again within Every")
	}
	if due, _ := r.Due(id(0), now); !due {
		t.Fatal("the id logged longest ago was not forgotten when the log was full")
	}
	if due, _ := r.Due(last, now.Add(Every)); !due {
		t.Fatal("an id not logged again once Every passed")
	}
}

// TestTiesForgetTheLowestID: ids logged at the same time are forgotten
// lowest first, whatever the map's iteration order.
func TestTiesForgetTheLowestID(t *testing.T) {
	for range 20 {
		var r Log
		for i := range IDsMax {
			r.Due(proto.NodeID{byte(i >> 8), byte(i)}, env.Time(0))
			r.windowOpen = false // ties need more lines than a window holds
		}
		r.Due(proto.NodeID{0xff}, env.Time(1))
		if _, ok := r.ids[proto.NodeID{0, 0}]; ok {
			t.Fatal("the lowest of the ids logged longest ago was kept when the log was full")
		}
		if r.Len() != IDsMax {
			t.Fatalf("%d ids remembered, want %d", r.Len(), IDsMax)
		}
	}
}

// TestGlobalPacing: fresh ids (free to make) are logged at most LinesMax
// per Window all together, not once each; the next line logged, in a
// later window, is preceded by one counting the refusals not logged, and
// an id suppressed is logged once a window has room. Before, every fresh
// id wrote its line (the red team's 300 identities, 300 lines).
func TestGlobalPacing(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	var r Log
	id := func(i int) proto.NodeID { return proto.NodeID{1, byte(i >> 8), byte(i)} }
	now := env.Time(0)
	const fresh = 300
	for i := range fresh {
		r.Warn(log, now.Add(time.Duration(i)*time.Millisecond), "dht", id(i))
	}
	if got := strings.Count(out.String(), "refused peer "); got != LinesMax {
		t.Fatalf("%d lines for %d fresh ids within a window, want %d", got, fresh, LinesMax)
	}
	if strings.Contains(out.String(), "not logged") {
		t.Fatal("a suppression line before the window ended")
	}
	out.Reset()
	r.Warn(log, now.Add(Window), "dht", id(LinesMax)) // the first id suppressed
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "dht: 290 more refused peers not logged") ||
		!strings.Contains(lines[1], "refused peer "+id(LinesMax).String()+": not a member (dht)") {
		t.Fatalf("next window: want the suppression count (290) then the line of a suppressed id, got:\n%s", out.String())
	}
	out.Reset()
	r.Warn(log, now.Add(Window+time.Second), "dht", id(LinesMax+1))
	if strings.Contains(out.String(), "not logged") || strings.Count(out.String(), "refused peer ") != 1 {
		t.Fatalf("the count is reported once, got:\n%s", out.String())
	}
}
