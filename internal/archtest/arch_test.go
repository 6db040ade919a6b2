package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, two folders up.
const root = "../.."

// goFile is one parsed non-test source file.
type goFile struct {
	path string // from the repository's root
	pkg  string // its folder, "." for the root
	ast  *ast.File
	fset *token.FileSet
	src  []byte
}

func sources(t *testing.T) []goFile {
	t.Helper()
	var out []goFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		full, err := parser.ParseFile(fset, path, src, 0)
		if err == nil {
			f = full
		}
		out = append(out, goFile{path: rel, pkg: filepath.Dir(rel), ast: f, fset: fset, src: src})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d Go files under %s: the walk is wrong", len(out), root)
	}
	return out
}

// forbidden are the imports each layer must not make (docs/ARCHITECTURE.md, "Layers"): front ends go
// through the manager, the manager does not do sound, and nothing imports the window.
var forbidden = map[string][]string{
	"app":      {"stayline/phone", "stayline/audio", "stayline/internal/core"},
	"headless": {"stayline/phone", "stayline/audio", "stayline/app"},
	"failover": {"stayline/audio", "stayline/app", "stayline/internal/core"},
	"phone":    {"stayline/failover", "stayline/app"},
	"audio":    {"stayline/phone", "stayline/failover", "stayline/app"},
	"history":  {"stayline/phone", "stayline/app"},
	"config":   {"stayline/phone", "stayline/failover", "stayline/app", "stayline/audio"},
	"netwatch": {"stayline/phone", "stayline/failover", "stayline/app", "stayline/audio", "stayline/config"},
}

func TestImportsRunOneWay(t *testing.T) {
	for _, f := range sources(t) {
		for _, imp := range f.ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden[f.pkg] {
				if path == bad {
					t.Errorf("%s imports %s", f.path, path)
				}
			}
			if path == "stayline/app" && f.pkg != "." {
				t.Errorf("%s imports the window: only main may", f.path)
			}
		}
	}
}

// maxLines is the most a source file may hold: past it, a file is doing several things.
const maxLines = 600

func TestNoFileOverSixHundredLines(t *testing.T) {
	for _, f := range sources(t) {
		if n := strings.Count(string(f.src), "\n"); n > maxLines {
			t.Errorf("%s has %d lines (at most %d: split it by role)", f.path, n, maxLines)
		}
	}
}

// englishAllowed are the places that must read a library's words because it offers no value to test.
var englishAllowed = map[string]string{
	"phone/media.go": "pion/srtp keeps its replay error's type unexported: only its text says a packet was replayed",
}

// TestNoPackageParsesAnothersEnglish finds comparisons (==, !=, strings.HasPrefix/HasSuffix/Contains/
// EqualFold/Index) whose operand is a Reason field or an error's Error(): meaning passed as words breaks the
// day someone rewords a message. Causes, states and errors are values (failover.EndCause, CallState,
// errors.Is).
func TestNoPackageParsesAnothersEnglish(t *testing.T) {
	matchers := map[string]bool{"HasPrefix": true, "HasSuffix": true, "Contains": true, "EqualFold": true, "Index": true}
	for _, f := range sources(t) {
		if _, ok := englishAllowed[f.path]; ok {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if (e.Op == token.EQL || e.Op == token.NEQ) && (isWords(e.X) && isLiteral(e.Y) || isWords(e.Y) && isLiteral(e.X)) {
					t.Errorf("%s: compares words: %s", f.fset.Position(e.Pos()), f.src[f.fset.Position(e.Pos()).Offset:f.fset.Position(e.End()).Offset])
				}
			case *ast.CallExpr:
				sel, ok := e.Fun.(*ast.SelectorExpr)
				if !ok || !matchers[sel.Sel.Name] {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "strings" {
					return true
				}
				for _, arg := range e.Args {
					if isWords(arg) {
						t.Errorf("%s: matches words: %s", f.fset.Position(e.Pos()), f.src[f.fset.Position(e.Pos()).Offset:f.fset.Position(e.End()).Offset])
					}
				}
			}
			return true
		})
	}
}

// isWords is an expression that holds a message: x.Reason, x.Error(), or strings.ToLower of one.
func isWords(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "Reason"
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
			if sel.Sel.Name == "Error" && len(x.Args) == 0 {
				return true
			}
			if sel.Sel.Name == "ToLower" && len(x.Args) == 1 {
				return isWords(x.Args[0])
			}
		}
	}
	return false
}

// isLiteral is a non-empty string literal (comparing with "" asks whether there is a message at all).
func isLiteral(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.STRING && b.Value != `""`
}
