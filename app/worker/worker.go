// Package worker runs Perkbridge's background work: the inbox Claimer,
// which processes stored webhooks in leased batches straight from their
// rows (claimer.go), and River (riverpgxv5, on the process's shared pgx
// pool) for the periodic and one-off jobs. Durable rows are the truth;
// jobs only do the work, and every worker is idempotent on its row.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/store"
)

// Dispatcher applies one stored webhook's effects inside tx, the same
// transaction that marks the row processed, so effects and the status
// commit together. It returns the Shopify customer the payload was about
// (for customers/redact), a job.Ignore error for deliveries that need no
// effect, or a job.Permanent error for ones that can never succeed.
type Dispatcher func(ctx context.Context, tx *store.Store, wh *store.Webhook) (subjectCustomerID *int64, err error)

// Config configures the River client.
type Config struct {
	// Work makes the client work jobs; false gives an insert-only client
	// (the web process with WORKERS=0).
	Work bool
	// RescueStuckJobsAfter bounds how long a job of a crashed process stays
	// "running" before another process takes it over.
	RescueStuckJobsAfter time.Duration
	// JobTimeout bounds one attempt.
	JobTimeout time.Duration
	// ID names the client (tests run several in one process).
	ID string
	// LoyaltyTickInterval is how often shops due for their periodic
	// loyalty work are enqueued (default LoyaltyTickInterval).
	LoyaltyTickInterval time.Duration
	// QuietRiver logs River's own messages (job counts, client start and
	// stop) only from warnings up: the demo's terminal is for people.
	QuietRiver bool
	// MaintenanceOnStart ticks once at start too (serve and worker set
	// it), so a process restarted more often than the tick still runs the
	// periodic work; tests with a frozen clock leave it off.
	MaintenanceOnStart bool
}

// Deps are what the workers need.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	// Loyalty runs coupon creation and the periodic loyalty jobs; nil
	// leaves them out.
	Loyalty *loyalty.Service
}

// NewClient builds the River client over pool.
func NewClient(pool *pgxpool.Pool, cfg Config, deps Deps) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{Logger: deps.Logger, ID: cfg.ID}
	if cfg.QuietRiver && deps.Logger != nil {
		rc.Logger = slog.New(minLevel{deps.Logger.Handler(), slog.LevelWarn})
	}
	if cfg.Work {
		if deps.Store == nil || deps.Logger == nil {
			return nil, errors.New("worker: Store and Logger are required")
		}
		if cfg.JobTimeout <= 0 {
			cfg.JobTimeout = time.Minute
		}
		if cfg.RescueStuckJobsAfter <= 0 {
			cfg.RescueStuckJobsAfter = 10 * time.Minute
		}
		if cfg.LoyaltyTickInterval <= 0 {
			cfg.LoyaltyTickInterval = LoyaltyTickInterval
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, &RetentionWorker{st: deps.Store, log: deps.Logger})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			job.QueueMaintenance: {MaxWorkers: 2},
			river.QueueDefault:   {MaxWorkers: 4},
		}
		// River's defaults (100 ms cooldown, 1 s poll) add up to a second per
		// hop without LISTEN; coupon creation wants tens of milliseconds.
		rc.FetchCooldown = 20 * time.Millisecond
		rc.FetchPollInterval = 250 * time.Millisecond
		rc.JobTimeout = cfg.JobTimeout
		rc.RescueStuckJobsAfter = cfg.RescueStuckJobsAfter
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return job.Retention{}, nil
			}, &river.PeriodicJobOpts{ID: "retention"}),
		}
		if deps.Loyalty != nil {
			rc.PeriodicJobs = append(rc.PeriodicJobs, addLoyaltyWorkers(workers, cfg, deps)...)
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("worker: river client: %w", err)
	}
	return c, nil
}

// minLevel is a slog handler that drops records below its level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// WebhookBodyRetention is how long a stored webhook body is kept: long
// enough to reprocess a failure, short enough that order payloads (names,
// addresses, phones) do not pile up.
const WebhookBodyRetention = 30 * 24 * time.Hour

// RetentionWorker blanks webhook bodies older than WebhookBodyRetention
// and expires the delivery log past each shop's retention (see
// ExpireDeliveryLog), in batches, until none is left.
type RetentionWorker struct {
	river.WorkerDefaults[job.Retention]
	st  *store.Store
	log *slog.Logger
}

// Work implements river.Worker.
func (w *RetentionWorker) Work(ctx context.Context, j *river.Job[job.Retention]) error {
	n, err := BlankOldWebhookBodies(ctx, w.st, time.Now().Add(-WebhookBodyRetention))
	if n > 0 {
		w.log.InfoContext(ctx, "retention: webhook bodies blanked", "count", n)
	}
	if err != nil {
		return err
	}
	gone, err := ExpireDeliveryLog(ctx, w.st, time.Now())
	if gone != (ExpiredLog{}) {
		w.log.InfoContext(ctx, "retention: delivery log expired", "deliveries", gone.Deliveries, "events", gone.Events)
	}
	return err
}

// BlankOldWebhookBodies blanks every body received before cutoff, 1,000 at
// a time, and returns how many.
func BlankOldWebhookBodies(ctx context.Context, st *store.Store, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, err := st.BlankWebhookBodiesBefore(ctx, cutoff, 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}
