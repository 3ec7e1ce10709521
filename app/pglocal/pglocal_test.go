package pglocal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perkbridge/perkbridge/app/pglocal"
)

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	dir, err := pglocal.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Errorf("%s missing in %s", b, dir)
		}
	}
}

// TestStart_ReuseAndStop starts a real cluster, proves a second Start reuses
// it without starting another server, and that Stop really stops it.
func TestStart_ReuseAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pg")
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Database: "app_db", Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "app_db" {
		t.Fatalf("database = %q, %v", db, err)
	}
	conn.Close(ctx)

	again, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Database: "app_db"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Port != c.Port {
		t.Fatalf("second Start used port %d, want reuse of %d", again.Port, c.Port)
	}
	// Stopping the reusing handle must leave the server up.
	if err := again.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, c.URL); err != nil {
		t.Fatalf("server stopped by a handle that did not start it: %v", err)
	} else {
		conn.Close(ctx)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, c.URL); err == nil {
		conn.Close(ctx)
		t.Fatal("server still accepts connections after Stop")
	}
}

// TestStart_CreatesReachableParents is the newcomer's first run: the data
// folder (.data) does not exist yet and is created by Start. As root,
// PostgreSQL runs as "postgres", which must be able to reach the cluster
// through every folder Start creates; a project folder it cannot enter
// (a 0700 home) moves the cluster to a folder it can, and says where.
func TestStart_CreatesReachableParents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name      string
		mode      os.FileMode
		wantMoved bool // only as root: postgres cannot enter a 0700 folder of root's
	}{
		{"open project folder", 0o755, false},
		{"private home folder", 0o700, os.Geteuid() == 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// t.TempDir's folders are 0700; the project's parent must be open.
			base, err := os.MkdirTemp("", "pglocal-parents-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			if err := os.Chmod(base, 0o755); err != nil {
				t.Fatal(err)
			}
			project := filepath.Join(base, "project")
			if err := os.Mkdir(project, tc.mode); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(project, ".data", "pg")
			c, err := pglocal.Start(ctx, pglocal.Options{Dir: want, Fast: true})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() { _ = c.Remove(context.Background()) })
			if moved := c.Dir != want; moved != tc.wantMoved {
				t.Fatalf("cluster in %s (wanted %s), moved = %v, want %v", c.Dir, want, moved, tc.wantMoved)
			}
			if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err != nil {
				t.Fatalf("no cluster in %s: %v", c.Dir, err)
			}
			conn, err := pgx.Connect(ctx, c.URL)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)
		})
	}
}
