package scenario

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// scenarioFiles are the repository's scenario files, discovered by glob so
// that files other engineers add are checked without editing this test.
func scenarioFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// scenarios/scale/ holds the runs too large for CI (make scale); they
	// must parse all the same.
	scale, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "scale", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, scale...)
	if len(files) == 0 {
		t.Fatal("no scenarios/*.yaml found; the glob or the layout is broken")
	}
	return files
}

func TestScenarioFilesParse(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := s.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			back, err := Parse(path, data)
			if err != nil {
				t.Fatalf("Parse(Marshal): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(withoutLines(back), withoutLines(s)) {
				t.Fatalf("round trip changed %s", path)
			}
		})
	}
}

func TestOverlayPartitionScenario(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "scenarios", "overlay_partition.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Nodes != (Nodes{Count: 5}) || s.Duration.Seconds() != 60 || s.Workload != nil {
		t.Errorf("shape: nodes %+v duration %v workload %v", s.Nodes, s.Duration, s.Workload)
	}
	kinds := make([]string, len(s.Faults))
	for i, f := range s.Faults {
		kinds[i] = f.Kind
	}
	if strings.Join(kinds, ",") != "partition,partition,partition,crash" {
		t.Errorf("fault kinds %v", kinds)
	}
	if g := s.Faults[0].Partition.Groups; len(g) != 2 || len(g[0]) != 2 || len(g[1]) != 3 || s.Faults[0].At.Seconds() != 10 {
		t.Errorf("first fault %+v", s.Faults[0])
	}
	if c := s.Faults[3].Crash; c.Target != "n5" || c.RestartAfter.Seconds() != 3 {
		t.Errorf("crash %+v", *c)
	}
	if s.Swarm == nil || s.Swarm.Loss == nil || s.Swarm.Reorder == nil {
		t.Errorf("swarm %+v", s.Swarm)
	}
	// The budget's value is tuned by the overlay's owners; its shape is not.
	if len(s.Checks) != 2 || s.Checks[0].Name != CheckSessions || len(s.Checks[1].SLO) != 1 ||
		s.Checks[1].SLO[0].Metric != "overlay_rpc_latency_seconds" || s.Checks[1].SLO[0].Stat != "p99" {
		t.Errorf("checks %+v", s.Checks)
	}
}

// yamlBlock finds fenced yaml blocks in Markdown.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestReadmeExamplesParse keeps scenarios/README.md honest: every ```yaml
// block in it is a complete scenario that Parse accepts (fragments use
// plain ``` fences).
func TestReadmeExamplesParse(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllSubmatch(data, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```yaml example")
	}
	for i, b := range blocks {
		if _, err := Parse("README.md#"+string(rune('0'+i)), b[1]); err != nil {
			t.Errorf("README example %d: %v", i, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "scenario: ") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, FileBytesMax+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
}
