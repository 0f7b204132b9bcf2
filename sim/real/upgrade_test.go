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
// migrates its data dir to the format it had on the old build and
// restarts it; an upgrade migrates it back to the newest format. Both
// restart a node that serves again. The test has one build, which opens
// only its own format (older ones need `rond migrate`), so its "old
// format" is the current one and the migrations are N -> N; migrations
// between formats are tested in io/datadir and cmd/rond, and with two
// builds by `make real-upgrade`.
func TestSwapMigratesAndRestarts(t *testing.T) {
	c := startTestCluster(t, 1)
	n := c.nodes[0]
	// The fresh data dir is at io/datadir.FormatCurrent, which sim/ cannot
	// import; an upgrade migrates back to it.
	format, err := readFormat(n.dataDir)
	if err != nil || format < 1 {
		t.Fatalf("the new build's data dir is at format %d (%v), want at least 1", format, err)
	}
	c.formatNew = format
	n.oldFormat = format
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
	swap(scenario.KindDowngrade, format)
	if terms := n.failpoints[FailpointRegistryVersionMax]; terms != "" {
		t.Fatalf("downgraded node starts with %s=%s", FailpointRegistryVersionMax, terms)
	}
	swap(scenario.KindUpgrade, format)
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
