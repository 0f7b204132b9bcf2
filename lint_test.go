// The determinism lint (docs/ARCHITECTURE.md section 3, STYLE.md item 11). It runs with
// `make test` and fails when a package breaks the layout's dependency
// direction or when code under core/ reaches for something a pure state
// machine must get from its env. Each message names the replacement.
package ron_test

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const module = "github.com/ron-network/ron"

// forbiddenCoreImports maps an import path (or a prefix ending in "/") to
// the replacement a core machine must use instead.
var forbiddenCoreImports = map[string]string{
	"os":            "effects go through env.Env (Submit for disk, Log for logs)",
	"os/":           "effects go through env.Env",
	"net":           "env.Env.Send and Message inputs",
	"net/":          "env.Env.Send and Message inputs",
	"io/fs":         "env.Env.Submit disk operations",
	"io/ioutil":     "env.Env.Submit disk operations",
	"syscall":       "env.Env",
	"math/rand":     "env.Env.Rand() (a seeded env.Rand)",
	"math/rand/v2":  "env.Env.Rand() (a seeded env.Rand)",
	"crypto/rand":   "env.Env.Rand() or a key seed from config (ed25519.NewKeyFromSeed)",
	"sync":          "nothing: a machine is single-threaded; the owner serialises inputs",
	"sync/atomic":   "nothing: a machine is single-threaded; the owner serialises inputs",
	"unsafe":        "safe code",
	module + "/sim": "core must not depend on the simulator; take what you need through env.Env",
	module + "/io":  "core must not depend on production adapters; take what you need through env.Env",
	module + "/cmd": "core must not depend on commands",
}

// forbiddenCoreCalls maps package-qualified functions to their replacement.
var forbiddenCoreCalls = map[string]string{
	"time.Now":       "env.Env.Now()",
	"time.Since":     "env.Env.Now().Sub(t)",
	"time.Until":     "t.Sub(env.Env.Now())",
	"time.After":     "env.Env.SetTimer",
	"time.AfterFunc": "env.Env.SetTimer",
	"time.Sleep":     "env.Env.SetTimer and a TimerFired input",
	"time.NewTimer":  "env.Env.SetTimer",
	"time.NewTicker": "a re-armed env.Env.SetTimer",
	"time.Tick":      "a re-armed env.Env.SetTimer",
}

func loadPackages(t *testing.T, mode packages.LoadMode) []*packages.Package {
	t.Helper()
	cfg := &packages.Config{Mode: mode, Tests: false}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatalf("loading packages: %v", err)
	}
	var bad []string
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		if strings.HasPrefix(p.PkgPath, module) {
			for _, e := range p.Errors {
				bad = append(bad, e.Error())
			}
		}
	})
	if len(bad) > 0 {
		t.Fatalf("packages do not load:\n%s", strings.Join(bad, "\n"))
	}
	return pkgs
}

func area(pkgPath string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkgPath, module), "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

func forbiddenImport(path string) (string, bool) {
	if why, ok := forbiddenCoreImports[path]; ok {
		return why, true
	}
	for prefix, why := range forbiddenCoreImports {
		if strings.HasSuffix(prefix, "/") && strings.HasPrefix(path, prefix) {
			return why, true
		}
		if strings.HasPrefix(prefix, module) && strings.HasPrefix(path, prefix+"/") {
			return why, true
		}
	}
	return "", false
}

// TestLayoutDirection: cmd -> sim|io -> core; sim and io never import each
// other; core imports nothing above it.
func TestLayoutDirection(t *testing.T) {
	var problems []string
	for _, p := range loadPackages(t, packages.NeedName|packages.NeedImports) {
		a := area(p.PkgPath)
		for imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ia := area(imp)
			switch {
			case a == "sim" && ia == "io", a == "io" && ia == "sim":
				problems = append(problems, fmt.Sprintf("%s imports %s: sim/ and io/ must never import each other; share code through core/", p.PkgPath, imp))
			case a == "core" && (ia == "sim" || ia == "io" || ia == "cmd"):
				problems = append(problems, fmt.Sprintf("%s imports %s: core/ imports nothing from sim/, io/ or cmd/", p.PkgPath, imp))
			case ia == "cmd":
				problems = append(problems, fmt.Sprintf("%s imports %s: nothing imports cmd/", p.PkgPath, imp))
			}
		}
	}
	report(t, problems)
}

// TestCorePurity: the determinism contract of docs/ARCHITECTURE.md section 3, checked
// on the syntax and types of every non-test file under core/.
func TestCorePurity(t *testing.T) {
	mode := packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports
	var problems []string
	for _, p := range loadPackages(t, mode) {
		if area(p.PkgPath) != "core" {
			continue
		}
		for _, f := range p.Syntax {
			problems = append(problems, checkCoreFile(p, f)...)
		}
	}
	report(t, problems)
}

func checkCoreFile(p *packages.Package, f *ast.File) []string {
	var problems []string
	pos := func(n ast.Node) string { return relPos(p.Fset.Position(n.Pos())) }
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why, bad := forbiddenImport(path); bad {
			problems = append(problems, fmt.Sprintf("%s: core imports %q; use %s", pos(imp), path, why))
		}
	}
	allowed := mapRangeAllowances(p.Fset, f)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			problems = append(problems, pos(n)+": go statement in core; a machine never starts goroutines (the owner in sim/ or io/ runs it)")
		case *ast.SelectStmt:
			problems = append(problems, pos(n)+": select in core; inputs arrive one at a time through Handle")
		case *ast.ChanType:
			problems = append(problems, pos(n)+": channel type in core; return effects through env.Env instead")
		case *ast.SendStmt:
			problems = append(problems, pos(n)+": channel send in core; use env.Env effects")
		case *ast.SelectorExpr:
			if name := qualifiedName(p.TypesInfo, n); name != "" {
				if why, bad := forbiddenCoreCalls[name]; bad {
					problems = append(problems, fmt.Sprintf("%s: %s in core; use %s", pos(n), name, why))
				}
			}
		case *ast.RangeStmt:
			if isMap(p.TypesInfo, n.X) && !allowed[p.Fset.Position(n.Pos()).Line] {
				problems = append(problems, pos(n)+": range over a map in core; iterate env.SortedKeys(m) (Go's map order is random), "+
					"or, when order cannot reach an output (e.g. a commutative sum), say why in a `// map order ok: <reason>` comment on the line above")
			}
		}
		return true
	})
	return problems
}

// mapRangeAllowances returns the lines of range statements preceded (on the
// line above, or the same line) by a "map order ok:" comment.
func mapRangeAllowances(fset *token.FileSet, f *ast.File) map[int]bool {
	lines := map[int]bool{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.Contains(c.Text, "map order ok:") {
				l := fset.Position(c.Pos()).Line
				lines[l] = true
				lines[l+1] = true
			}
		}
	}
	return lines
}

func qualifiedName(info *types.Info, sel *ast.SelectorExpr) string {
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	pkgName, ok := info.Uses[id].(*types.PkgName)
	if !ok {
		return ""
	}
	return pkgName.Imported().Path() + "." + sel.Sel.Name
}

func isMap(info *types.Info, e ast.Expr) bool {
	tv, ok := info.Types[e]
	if !ok || tv.Type == nil {
		return false
	}
	_, isMap := tv.Type.Underlying().(*types.Map)
	return isMap
}

func relPos(p token.Position) string {
	file := p.Filename
	if i := strings.Index(file, "/core/"); i >= 0 {
		file = file[i+1:]
	}
	return fmt.Sprintf("%s:%d", file, p.Line)
}

func report(t *testing.T, problems []string) {
	t.Helper()
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
