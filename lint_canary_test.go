package ron_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestLintCatchesViolations proves the lint bites: a synthetic core file with
// one of each violation must produce one problem per violation.
func TestLintCatchesViolations(t *testing.T) {
	const src = `package bad

import (
	"math/rand"
	"sync"
	"time"
)

var mu sync.Mutex

func f(m map[string]int, c chan int) int {
	go func() {}()
	select {}
	_ = time.Now()
	total := 0
	for k := range m {
		total += len(k)
	}
	// map order ok: a commutative sum
	for _, v := range m {
		total += v
	}
	return total + rand.Int()
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "/x/core/bad/bad.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importerFunc(), Error: func(error) {}}
	_, _ = conf.Check("bad", fset, []*ast.File{f}, info)
	p := &packages.Package{PkgPath: module + "/core/bad", Fset: fset, TypesInfo: info}
	problems := checkCoreFile(p, f)
	want := []string{`"math/rand"`, `"sync"`, "go statement", "select in core", "channel type", "time.Now in core", "bad.go:16: range over a map"}
	for _, w := range want {
		found := false
		for _, got := range problems {
			if strings.Contains(got, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("lint did not report %q; got:\n%s", w, strings.Join(problems, "\n"))
		}
	}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d (the annotated map range must be allowed):\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
}
