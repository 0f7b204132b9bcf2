package real

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// TestSwapMigratesAndRestarts: a downgrade stops the node with SIGTERM,
// migrates its data dir to the format it had on the old build (forced to
// 0 here: the test has one build) and restarts it; an upgrade migrates it
// back to the newest format. Both restart a node that serves again.
func TestSwapMigratesAndRestarts(t *testing.T) {
	c := startTestCluster(t, 1)
	c.formatNew = 1 // io/datadir.FormatCurrent, which sim/ cannot import
	n := c.nodes[0]
	if format, err := readFormat(n.dataDir); err != nil || format != 1 {
		t.Fatalf("the new build's data dir is at format %d (%v), want 1", format, err)
	}
	n.oldFormat = 0
	tl := newTimeline(&scenario.Scenario{Duration: time.Minute}, c, time.Now())
	swap := func(kind string, wantFormat uint32) {
		t.Helper()
		pid := n.pid()
		acts := tl.swapActions(scenario.Fault{Kind: scenario.KindCrash, Crash: &scenario.Crash{Target: "n1", RestartAfter: time.Second, Swap: kind}})
		if len(acts) != 2 {
			t.Fatalf("%s: %d actions, want stop+migrate and restart", kind, len(acts))
		}
		if _, detail, err := acts[0].run(); err != nil {
			t.Fatalf("%s: %s: %v", kind, detail, err)
		}
		if n.isUp() {
			t.Fatalf("%s: node still up after the stop", kind)
		}
		if format, err := readFormat(n.dataDir); err != nil || format != wantFormat {
			t.Fatalf("%s: data dir at format %d (%v), want %d", kind, format, err, wantFormat)
		}
		if _, _, err := acts[1].run(); err != nil {
			t.Fatal(err)
		}
		tl.restarts.Wait()
		if _, errs := tl.result(); len(errs) > 0 {
			t.Fatal(errs)
		}
		if n.pid() == pid {
			t.Fatalf("%s: same process %d after the restart", kind, pid)
		}
		eventually(t, kind+": the node serving its registry", func() bool {
			return call(n, "GET", "/names/anything.ron?stale=1", "", false, 5*time.Second).status == http.StatusNotFound
		})
	}
	swap(scenario.KindDowngrade, 0)
	if terms := n.failpoints[FailpointRegistryVersionMax]; terms != "" {
		t.Fatalf("downgraded node starts with %s=%s", FailpointRegistryVersionMax, terms)
	}
	swap(scenario.KindUpgrade, 1)
	// The upgraded build reads the test-only entry version 2, and as the
	// only replica it raises the cluster version at once.
	eventually(t, "the upgraded node at cluster version 2", func() bool {
		return n.scrape().clusterVersion == 2
	})
	log, err := os.ReadFile(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(log), "--- ronsim real: stopped (SIGTERM)"); got != 2 {
		t.Errorf("log shows %d SIGTERM stops, want 2", got)
	}
}

// TestCheckFlagsNamesWhatAnOldBuildLacks: a binary whose --help lacks a
// flag ronsim real passes is refused, the flag named.
func TestCheckFlagsNamesWhatAnOldBuildLacks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rond")
	script := "#!/bin/sh\nprintf '  -data-dir DIR\\n  -registry-replica\\n'\nexit 2\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkFlags(bin, []string{"--data-dir", "d", "--registry-replica"}); err != nil {
		t.Errorf("every flag listed, yet refused: %v", err)
	}
	err := checkFlags(bin, []string{"--data-dir", "d", "--log-level", "debug", "--registry-replica"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--log-level") || strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("checkFlags = %v, want --log-level named (and only it)", err)
	}
}
