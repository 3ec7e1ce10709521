// Command genriver writes River's schema migrations for the River version in
// go.mod as goose migrations into the migrations folder:
// `go run ./migrations/genriver migrations`. migrations_test.go fails when
// the committed files drift from River.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/perkbridge/perkbridge/migrations/riversql"
)

func main() {
	dir := "migrations"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	files, err := riversql.Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), []byte(f.Text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
