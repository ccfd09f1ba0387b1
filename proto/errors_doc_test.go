package proto

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestErrorCodesDocumented: every Code constant of errors.go has its row
// in README.md's table of error codes.
func TestErrorCodesDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Error codes\n")
	if !ok {
		t.Fatal("README.md has no ## Error codes")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	n := 0
	for _, file := range []string{"errors.go", "rooms.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		inspectCodes(t, f, table, &n)
	}
	if n < 20 {
		t.Errorf("found %d codes in errors.go; the test reads it wrong", n)
	}
}

// inspectCodes checks that every Code constant of f is in table, counting
// them in n.
func inspectCodes(t *testing.T, f *ast.File, table string, n *int) {
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Code") || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		code, _ := strconv.Unquote(lit.Value)
		*n++
		if !strings.Contains(table, "\n| `"+code+"` |") {
			t.Errorf("%s (%q) is not in README.md's error codes", vs.Names[0].Name, code)
		}
		return true
	})
}
