// Package migrations holds the database schema as numbered SQL files with
// goose annotations, embedded into the binary and applied by one runner
// (app/store.Migrate) at `migrate`, at `serve` start and in test templates.
// River's own tables are one of these files (00002), generated from the
// River version in go.mod by genriver, so a River upgrade is a reviewed diff.
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
