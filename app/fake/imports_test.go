package fake_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoClientImports enforces the package's rule (STYLE.md §8.1): the fakes
// encode each vendor contract independently, so they never import our
// client packages.
func TestNoClientImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"/app/shopify", "/app/klaviyo", "/app/clevertap"}
	for _, f := range files {
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.HasPrefix(p, "github.com/perkbridge/perkbridge") && strings.HasSuffix(p, bad) {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}
