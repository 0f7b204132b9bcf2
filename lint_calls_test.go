package ron_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// callNameRoots are the trees whose code reaches a node from outside it:
// they call a machine with runtime.Call and a typed request (node.Call),
// never with a service name (issue 9 item 5).
var callNameRoots = []string{"io", "cmd", "sim/real"}

// TestTypedCalls fails when non-test code under callNameRoots calls a
// method named Call (or a wrapper named call) with a service named by a
// string literal or by a package's ServiceName constant: the request names its service, and
// runtime.Call returns its reply typed. Tests may still drive a Caller by
// name (io/runtime's tests do, with services that have no typed requests).
func TestTypedCalls(t *testing.T) {
	var problems []string
	fset := token.NewFileSet()
	for _, root := range callNameRoots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			problems = append(problems, checkNamedCalls(fset, f)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	report(t, problems)
}

// checkNamedCalls reports every x.Call(...) or x.call(...) in f that names a service by
// a string literal or by a ServiceName constant.
func checkNamedCalls(fset *token.FileSet, f *ast.File) []string {
	var problems []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.EqualFold(sel.Sel.Name, "call") {
			return true
		}
		for _, arg := range call.Args {
			if serviceNameArg(arg) {
				problems = append(problems, fset.Position(call.Pos()).String()+
					": a machine called by service name; use runtime.Call(ctx, caller, req) with a typed request (node.Call)")
				break
			}
		}
		return true
	})
	return problems
}

func serviceNameArg(e ast.Expr) bool {
	switch a := e.(type) {
	case *ast.BasicLit:
		return a.Kind == token.STRING
	case *ast.SelectorExpr:
		return a.Sel.Name == "ServiceName"
	case *ast.Ident:
		return a.Name == "ServiceName"
	}
	return false
}

// TestTypedCallsLintBites proves TestTypedCalls catches the old shape: a
// fixture with three calls by name and two typed calls yields three
// problems, on the lines of the named ones.
func TestTypedCallsLintBites(t *testing.T) {
	const src = `package bad

func f(ctx context.Context, b Backend) {
	resp, err := b.Call(ctx, "storage", storage.Get{Addr: a})
	_, _ = g.cfg.Backend.Call(ctx, registry.ServiceName, registry.Resolve{Name: "x"})
	resp, err = g.call(req, "dht", dht.FindProviders{Addr: a})
	res, err := runtime.Call(ctx, b, storage.Get{Addr: a})
	page, err := call(g, req, audit.ReadRecords{From: 1})
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "io/bad/bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	problems := checkNamedCalls(fset, f)
	want := []string{"io/bad/bad.go:4:", "io/bad/bad.go:5:", "io/bad/bad.go:6:"}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want it at %s", i, problems[i], w)
		}
	}
}
