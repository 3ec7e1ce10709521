// Package pgtest gives tests a real, migrated PostgreSQL database. It uses
// TEST_DATABASE_URL when set (the README's test command starts one cluster
// for the whole run and sets it); otherwise it starts, or reuses, a local
// cluster for this user under the system temp directory. Migrations are
// applied once per process to a template database named after their hash;
// NewDB clones it per test (for code that commits) and Tx gives a
// transaction rolled back at cleanup (for store-level tests).
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perkbridge/perkbridge/app/pglocal"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/migrations"
)

var (
	once       sync.Once
	onceErr    error
	adminURL   string // any database on the server, used for CREATE DATABASE
	templateDB string
	sharedDB   *store.DB // for Tx: one migrated database shared by rolled-back transactions
	sharedErr  error
	sharedOnce sync.Once
)

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adminURL = os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		dir := filepath.Join(os.TempDir(), "perkbridge-pgtest-"+strconv.Itoa(os.Getuid()))
		c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Database: "perkbridge_test", Fast: true})
		if err != nil {
			return err
		}
		adminURL = c.URL
	}
	templateDB = "pbtmpl_" + migrationsHash()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect %s: %w", redact(adminURL), err)
	}
	defer conn.Close(ctx)
	// Several test binaries run at once: one builds the template, the
	// others wait on the lock and then find it.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727001)"); err != nil {
		return fmt.Errorf("pgtest: lock: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(727001)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", templateDB).Scan(&exists); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if !exists {
		building := templateDB + "_building_" + strconv.Itoa(os.Getpid())
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
			return fmt.Errorf("pgtest: create template: %w", err)
		}
		db, err := store.Open(ctx, withDatabase(adminURL, building), 4, nil)
		if err != nil {
			return err
		}
		err = store.Migrate(ctx, db.SQL)
		db.Close()
		if err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+templateDB); err != nil {
			return fmt.Errorf("pgtest: publish template: %w", err)
		}
	}
	return nil
}

func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func ensure(tb testing.TB) {
	tb.Helper()
	once.Do(func() { onceErr = setup() })
	if onceErr != nil {
		tb.Fatalf("pgtest: %v", onceErr)
	}
}

// NewURL creates a fresh database cloned from the migrated template, drops
// it at cleanup and returns its URL (for tests that run the whole program).
func NewURL(tb testing.TB) string {
	tb.Helper()
	ensure(tb)
	ctx := context.Background()
	name := fmt.Sprintf("pbtest_%d_%d", os.Getpid(), nextID())
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateDB); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(adminURL, name)
}

// NewDB returns an open handle on a fresh migrated database, closed and
// dropped at cleanup.
func NewDB(tb testing.TB) *store.DB {
	tb.Helper()
	u := NewURL(tb)
	db, err := store.Open(context.Background(), u, 20, nil)
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// Tx returns a Store bound to a transaction that is rolled back at cleanup,
// on a database shared by the package's tests. Use it for store-level tests
// that need no commit.
func Tx(tb testing.TB) *store.Store {
	tb.Helper()
	ensure(tb)
	sharedOnce.Do(func() {
		// One database lives for the whole process; transactions keep the
		// tests that share it apart. Later processes drop it (createPersistent).
		u, err := createPersistent()
		if err != nil {
			sharedErr = err
			return
		}
		sharedDB, sharedErr = store.Open(context.Background(), u, 20, nil)
	})
	if sharedErr != nil {
		tb.Fatalf("pgtest: shared database: %v", sharedErr)
	}
	tx := sharedDB.Gorm.Begin()
	if tx.Error != nil {
		tb.Fatalf("pgtest: begin: %v", tx.Error)
	}
	tb.Cleanup(func() { tx.Rollback() })
	return store.New(tx)
}

func createPersistent() (string, error) {
	ctx := context.Background()
	name := fmt.Sprintf("pbshared_%d_%d", os.Getpid(), time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	// Drop shared databases left by earlier processes that have exited.
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'pbshared_%' OR datname LIKE 'pbtest_%'")
	var stale []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil && !processAlive(n) {
			stale = append(stale, n)
		}
	}
	rows.Close()
	for _, n := range stale {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateDB); err != nil {
		return "", fmt.Errorf("create shared database: %w", err)
	}
	return withDatabase(adminURL, name), nil
}

// processAlive reports whether the pid embedded in a test database name is
// still running (names are pbshared_<pid>_… and pbtest_<pid>_…).
func processAlive(name string) bool {
	var pid int
	for _, prefix := range []string{"pbshared_%d_", "pbtest_%d_"} {
		if n, _ := fmt.Sscanf(name, prefix, &pid); n == 1 {
			break
		}
	}
	if pid <= 0 {
		return true
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

var (
	idMu sync.Mutex
	id   int
)

func nextID() int {
	idMu.Lock()
	defer idMu.Unlock()
	id++
	return id
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
