package runner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// TestContentChurn runs scenarios/content_churn.yaml at its seed twice:
// the content checks pass, the report carries the content figures, and the
// run (trace hash and history) is deterministic.
func TestContentChurn(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "content_churn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	run := func() (*Report, []byte) {
		var history bytes.Buffer
		rep, err := Run(s, Options{Seed: *s.Seed, History: &history, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return rep, history.Bytes()
	}
	rep, history := run()
	if !rep.OK {
		t.Fatalf("seed %d failed: %+v", *s.Seed, rep.Checks)
	}
	want := map[string]bool{"integrity": true, "convergence": true, "durability": true}
	for _, c := range rep.Checks {
		delete(want, c.Name)
	}
	if len(want) > 0 {
		t.Fatalf("checks not run: %v", want)
	}
	c := rep.Content
	if c == nil || c.Puts == 0 || c.Gets == 0 || c.RangeGets == 0 || c.Acknowledged == 0 || c.BytesPut == 0 || c.FinalReads < c.Acknowledged {
		t.Fatalf("content figures missing: %+v", c)
	}
	if rep.SLO["storage_put_latency_seconds"].Count == 0 || rep.SLO["storage_get_latency_seconds"].Count == 0 {
		t.Fatal("the storage latency histograms are not in the report")
	}
	lines := bytes.Count(history, []byte("\n"))
	if lines != c.Puts+c.Gets+c.RangeGets {
		t.Fatalf("history has %d lines for %d ops", lines, c.Puts+c.Gets+c.RangeGets)
	}
	var first map[string]any
	if err := json.Unmarshal(history[:bytes.IndexByte(history, '\n')], &first); err != nil || first["op"] != "put" {
		t.Fatalf("first history line %q: %v", history[:bytes.IndexByte(history, '\n')], err)
	}
	again, historyAgain := run()
	if again.TraceHash != rep.TraceHash || !bytes.Equal(history, historyAgain) {
		t.Fatalf("seed %d is not deterministic: trace %s then %s", *s.Seed, rep.TraceHash, again.TraceHash)
	}
}

// TestPinsUnpinnedEverywhereNotLost: scenarios/pins.yaml at a seed where
// one acknowledged object is unpinned on every placement node after its
// last put, so the workload deleted it from every node. (At seed 909, before
// the scrub's cursor record moved every storage run's disk draws, that was
// b3:847eb70e..., unpinned on n5, n4 and n3 at 19.2s to 19.5s.) The
// durability check failed on such an object ("is lost ... not_found"), and
// convergence (added here) on a node not holding it; both must excuse
// exactly that object and still judge the 29 others. The seed is one whose
// run has such an object (a search of seeds 900..1300 with this build found
// 963 first; 937 while the repair backoff doubled on busy answers and
// backed off an acknowledged push's first loss: all 30 objects were then
// read back at 963); when a change moves the simulated
// run, pick another the same way: the test fails, naming what it saw,
// rather than pass vacuously.
func TestPinsUnpinnedEverywhereNotLost(t *testing.T) {
	file := filepath.Join("..", "..", "scenarios", "pins.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const checks = "checks: [integrity, durability]\n"
	if !bytes.Contains(text, []byte(checks)) {
		t.Fatalf("%s no longer lists %q", file, checks)
	}
	text = bytes.Replace(text, []byte(checks), []byte("checks: [integrity, durability, {convergence: {within: 30s}}]\n"), 1)
	s, err := scenario.Parse(file, text)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(s, Options{Seed: 963, AutoVizDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"durability":  "all 29 acknowledged objects (361298 bytes) read back intact; 1 more acknowledged objects not required",
		"convergence": "29 acknowledged objects at their 3 replicas",
	}
	for _, c := range rep.Checks {
		if w, ok := want[c.Name]; ok {
			if !c.OK || !strings.HasPrefix(c.Detail, w) {
				t.Errorf("%s: ok %v, %s; want a pass starting %q", c.Name, c.OK, c.Detail, w)
			}
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		t.Fatalf("checks not in the report: %v", want)
	}
	if !rep.OK {
		t.Fatalf("seed 963 failed: %+v", rep.Checks)
	}
}
