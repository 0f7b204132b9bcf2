package ron_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// liarUse matches a use of core/storage's simulator-only liar support
// (adversary.go) from another package, under any import name; liarCall a
// call of it inside core/storage itself.
var (
	liarUse  = regexp.MustCompile(`\.(LieFrame|LieKinds|Lie[A-Z]\w*)\b`)
	liarCall = regexp.MustCompile(`\bLieFrame\(`)
)

// TestLiarsSimOnly fails when non-test code outside sim/ uses storage's
// liar support: LieFrame rewrites frames into lies for the simulator's
// adversaries and must never run in a node.
func TestLiarsSimOnly(t *testing.T) {
	var problems []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == "sim" || strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := liarUse.Find(b); m != nil {
			problems = append(problems, path+": "+string(m))
		}
		if filepath.Dir(path) == filepath.Join("core", "storage") && filepath.Base(path) != "adversary.go" {
			if m := liarCall.Find(b); m != nil {
				problems = append(problems, path+": "+string(m))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("storage's liar support used outside sim/:\n%s", strings.Join(problems, "\n"))
	}
	if liarUse.FindString("x := st.LieFrame(f, r, k, 1)") == "" || liarCall.FindString("out, _ := LieFrame(f, r, k, 1)") == "" {
		t.Fatal("the pattern does not bite")
	}
}
