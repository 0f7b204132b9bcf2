package runner

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// TestContentLiars runs scenarios/content_liars.yaml,
// content_liars_push.yaml (lies on pushes, commits and audits) and
// content_liars_handoff.yaml (every lie at rate 1) at their seeds twice:
// the liars told lies of every kind the file lists but
// moved_manifest (a seed may fetch no 3-chunk manifest from a liar),
// every check passes, and the run is deterministic.
func TestContentLiars(t *testing.T) {
	for _, file := range []string{"content_liars.yaml", "content_liars_push.yaml", "content_liars_handoff.yaml"} {
		t.Run(file, func(t *testing.T) { testContentLiars(t, file) })
	}
}

func testContentLiars(t *testing.T, file string) {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", file))
	if err != nil {
		t.Fatal(err)
	}
	run := func() *Report {
		rep, err := Run(s, Options{Seed: *s.Seed, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run()
	if !rep.OK {
		t.Fatalf("seed %d failed: %+v", *s.Seed, rep.Checks)
	}
	seen := map[string]string{}
	for _, c := range rep.Checks {
		seen[c.Name] = c.Detail
	}
	for _, name := range []string{"integrity", "durability", "liar_corruption", "liar_gets", "liar_writes"} {
		if _, ok := seen[name]; !ok {
			t.Fatalf("check %s not run: %v", name, seen)
		}
	}
	// The liars-only exemption must stay the exception: most gets are
	// judged (a bug that made every object liars-only would pass
	// silently). Counted over four seeds: one seed's share moves with its
	// draws (content_liars_push seed 6 skips 10 of 35), the sum does not.
	judged, skipped := liarGetsCounts(t, seen["liar_gets"])
	for seed := *s.Seed + 1; seed <= *s.Seed+3; seed++ {
		more, err := Run(s, Options{Seed: seed, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if !more.OK {
			t.Fatalf("seed %d failed: %+v", seed, more.Checks)
		}
		for _, c := range more.Checks {
			if c.Name == "liar_gets" {
				j, k := liarGetsCounts(t, c.Detail)
				judged, skipped = judged+j, skipped+k
			}
		}
	}
	if judged < 80 || skipped*10 > judged {
		t.Fatalf("liar_gets judged %d gets and skipped %d as liars-only over 4 seeds: want >= 80 judged, skipped <= a tenth", judged, skipped)
	}
	// Durability judges the objects acknowledged through honest nodes (a
	// put through a liar is its claim): most of them, never none.
	var durable int
	if _, err := fmt.Sscanf(seen["durability"], "all %d acknowledged objects", &durable); err != nil {
		t.Fatalf("durability detail %q: %v", seen["durability"], err)
	}
	if acked := rep.Content.Acknowledged; durable == 0 || durable*2 < acked {
		t.Fatalf("durability judged %d of %d acknowledged objects; want at least half", durable, acked)
	}
	for _, lie := range s.Adversary.Lies {
		if lie != scenario.LieMovedManifest && !strings.Contains(seen["liar_corruption"], lie+" ") {
			t.Fatalf("no %s lie told: %s", lie, seen["liar_corruption"])
		}
	}
	if again := run(); again.TraceHash != rep.TraceHash {
		t.Fatalf("seed %d is not deterministic: trace %s then %s", *s.Seed, rep.TraceHash, again.TraceHash)
	}
}

// liarGetsCounts parses the liar_gets check's detail: the gets judged and
// those skipped because only liars held the object.
func liarGetsCounts(t *testing.T, detail string) (judged, skipped int) {
	t.Helper()
	if _, err := fmt.Sscanf(detail, "%d gets through honest nodes", &judged); err != nil {
		t.Fatalf("liar_gets detail %q: %v", detail, err)
	}
	i := strings.Index(detail, "); ")
	if i < 0 {
		t.Fatalf("liar_gets detail %q names no skipped count", detail)
	}
	if _, err := fmt.Sscanf(detail[i+3:], "%d sent while only liars", &skipped); err != nil {
		t.Fatalf("liar_gets detail %q: %v", detail, err)
	}
	return judged, skipped
}
