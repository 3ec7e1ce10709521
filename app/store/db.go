// Package store is Perkbridge's data layer: gorm over PostgreSQL. Every
// tenant method takes the shop id right after the context, so no code path
// can read or change another shop's rows. Errors are translated once, here,
// into app error codes (formatError).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/migrations"
)

// DB bundles the one pgx pool of a process with the database/sql and gorm
// handles built over it, so gorm queries, River and the pgx hot paths share
// connections and limits.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Gorm *gorm.DB
}

// startupWait is how long Open waits for an unreachable database.
const startupWait = 60 * time.Second

// Open connects to url. Connections time out quickly so that requests fail
// fast with 503 while the database is down, instead of hanging.
func Open(ctx context.Context, url string, maxConns int32, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	// A backstop for every statement and idle transaction, so a stalled
	// database or a forgotten transaction frees its connection; the
	// DATABASE_URL may set its own (options=-c statement_timeout=...).
	for k, v := range map[string]string{"statement_timeout": "30s", "idle_in_transaction_session_timeout": "60s"} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	// A process started while the database restarts (an orchestrator
	// restarting it, a crash loop meeting a failover) waits for it rather
	// than exiting: up to startupWait, or ctx's end.
	pctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	for warned := false; ; {
		err := pool.Ping(pctx)
		if err == nil {
			break
		}
		if pctx.Err() != nil || !IsUnavailable(err) {
			pool.Close()
			return nil, fmt.Errorf("store: ping database: %w", err)
		}
		if !warned && log != nil {
			log.Warn("the database is not reachable yet; waiting for it", "err", err, "up_to", startupWait)
			warned = true
		}
		select {
		case <-pctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 newGormLogger(log),
		SkipDefaultTransaction: true, // single statements need no implicit transaction
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open gorm: %w", err)
	}
	return &DB{Pool: pool, SQL: sqlDB, Gorm: g}, nil
}

// Close releases every connection.
func (db *DB) Close() {
	_ = db.SQL.Close()
	db.Pool.Close()
}

func newGormLogger(log *slog.Logger) logger.Interface {
	if log == nil {
		return logger.Discard
	}
	return logger.New(slogPrinter{log}, logger.Config{
		SlowThreshold:             500 * time.Millisecond,
		LogLevel:                  logger.Warn,
		IgnoreRecordNotFoundError: true,
	})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.log.Warn("gorm", "msg", fmt.Sprintf(format, args...))
}

// Migrate applies every pending migration in migrations.FS, each in its own
// transaction. It is the only schema runner: `migrate`, `serve` and the test
// templates all call it.
func Migrate(ctx context.Context, db *sql.DB) error {
	p, err := gooseProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// MigrationStatus returns the highest applied and the latest embedded
// versions, and whether any embedded migration is not applied yet (one
// below the highest applied included).
func MigrationStatus(ctx context.Context, db *sql.DB) (current, latest int64, pending bool, err error) {
	p, err := gooseProvider(db)
	if err != nil {
		return 0, 0, false, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("store: migration version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	if pending, err = p.HasPending(ctx); err != nil {
		return 0, 0, false, fmt.Errorf("store: pending migrations: %w", err)
	}
	return current, latest, pending, nil
}

func gooseProvider(db *sql.DB) (*goose.Provider, error) {
	// Out of order: branches developed side by side number their
	// migrations as they go, so a database may have a later one applied
	// before an earlier one lands; each is applied once all the same.
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("store: goose: %w", err)
	}
	return p, nil
}

// Store runs the application's queries. A Store is either bound to the pool
// or, inside Tx, to one transaction.
type Store struct {
	db    *gorm.DB
	reads *batchReads // inside an inbox batch only: see WithBatchReads
}

// New returns a Store over g.
func New(g *gorm.DB) *Store { return &Store{db: g} }

// Gorm exposes the underlying handle to sibling store files and tests.
func (s *Store) Gorm() *gorm.DB { return s.db }

// Tx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. Nested calls run inside the outer transaction.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	err := s.db.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(&Store{db: g, reads: s.reads})
	})
	if err != nil {
		// A nested transaction rolled back to its savepoint: what it read
		// may have been its own undone write.
		s.ForgetBatchReads()
	}
	return formatError(err)
}

// formatError maps database errors to application errors, once, at the edge
// of the store: not found, unavailable database, conflicts.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var ae *app.Error
	if errors.As(err, &ae) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return app.Wrap(app.ENOTFOUND, err, "Not found.")
	}
	if IsUnavailable(err) {
		return app.Wrap(app.EUNAVAILABLE, err, "The database is unavailable. Try again shortly.")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return app.Wrap(app.ECONFLICT, err, "That already exists.")
		case "23503", "23514", "22P02":
			return app.Wrap(app.EINVALID, err, "Invalid value.")
		}
	}
	return err
}

// IsUnavailable reports whether err means the database cannot be reached:
// connection refused or reset, the server shutting down, or too many clients.
func IsUnavailable(err error) bool {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "57": // connection exception, operator intervention (admin shutdown)
			return true
		}
		return pgErr.Code == "53300" // too_many_connections
	}
	return errors.Is(err, driverBadConn)
}

var driverBadConn = driver.ErrBadConn
