package migrations_test

import (
	"os"
	"testing"

	"github.com/perkbridge/perkbridge/migrations/riversql"
)

// TestRiverMigrationsAreCurrent fails when go.mod's River version has schema
// migrations that the committed files lack: regenerate with
// `go run ./migrations/genriver migrations`.
func TestRiverMigrationsAreCurrent(t *testing.T) {
	t.Parallel()
	files, err := riversql.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("only %d River migrations generated", len(files))
	}
	for _, f := range files {
		got, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatalf("%s missing: regenerate River migrations", f.Name)
		}
		if string(got) != f.Text {
			t.Fatalf("%s differs from River's migration in go.mod; regenerate it", f.Name)
		}
	}
}
