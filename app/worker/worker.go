// Package worker runs Perkbridge's background work on River (riverpgxv5,
// on the process's shared pgx pool): processing stored webhooks, sweeping
// what was left pending, and the periodic jobs. Durable rows are the truth;
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

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/engagement"
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
	// WebhookWorkers is the number of webhooks processed at once per process.
	WebhookWorkers int
	// RescueStuckJobsAfter bounds how long a job of a crashed process stays
	// "running" before another process takes it over.
	RescueStuckJobsAfter time.Duration
	// JobTimeout bounds one attempt.
	JobTimeout time.Duration
	// SweepInterval and SweepAge: how often pending inbox rows older than
	// SweepAge are re-kicked.
	SweepInterval time.Duration
	SweepAge      time.Duration
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
	Store    *store.Store
	Dispatch Dispatcher
	Logger   *slog.Logger
	// Loyalty runs coupon creation and the periodic loyalty jobs; nil
	// leaves them out.
	Loyalty *loyalty.Service
	// Engagement refreshes opens and clicks from Klaviyo; nil leaves it out.
	Engagement *engagement.Service
}

// NewClient builds the River client over pool.
func NewClient(pool *pgxpool.Pool, cfg Config, deps Deps) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{Logger: deps.Logger, ID: cfg.ID}
	if cfg.QuietRiver && deps.Logger != nil {
		rc.Logger = slog.New(minLevel{deps.Logger.Handler(), slog.LevelWarn})
	}
	if cfg.Work {
		if deps.Store == nil || deps.Dispatch == nil || deps.Logger == nil {
			return nil, errors.New("worker: Store, Dispatch and Logger are required")
		}
		if cfg.WebhookWorkers <= 0 {
			cfg.WebhookWorkers = 8
		}
		if cfg.JobTimeout <= 0 {
			cfg.JobTimeout = time.Minute
		}
		if cfg.RescueStuckJobsAfter <= 0 {
			cfg.RescueStuckJobsAfter = 10 * time.Minute
		}
		if cfg.SweepInterval <= 0 {
			cfg.SweepInterval = time.Minute
		}
		if cfg.SweepAge <= 0 {
			cfg.SweepAge = 2 * time.Minute
		}
		if cfg.LoyaltyTickInterval <= 0 {
			cfg.LoyaltyTickInterval = LoyaltyTickInterval
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, &ProcessWebhookWorker{st: deps.Store, dispatch: deps.Dispatch, log: deps.Logger})
		river.AddWorker(workers, &SweepWebhooksWorker{st: deps.Store, age: cfg.SweepAge, log: deps.Logger})
		river.AddWorker(workers, &RetentionWorker{st: deps.Store, log: deps.Logger})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			job.QueueWebhooks:    {MaxWorkers: cfg.WebhookWorkers},
			job.QueueMaintenance: {MaxWorkers: 2},
			river.QueueDefault:   {MaxWorkers: 4},
		}
		// River's defaults (100 ms cooldown, 1 s poll) add up to a second per
		// hop without LISTEN; the webhook queue wants tens of milliseconds.
		rc.FetchCooldown = 20 * time.Millisecond
		rc.FetchPollInterval = 250 * time.Millisecond
		rc.JobTimeout = cfg.JobTimeout
		rc.RescueStuckJobsAfter = cfg.RescueStuckJobsAfter
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval), func() (river.JobArgs, *river.InsertOpts) {
				return job.SweepWebhooks{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true, ID: "sweep_webhooks"}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return job.Retention{}, nil
			}, &river.PeriodicJobOpts{ID: "retention"}),
		}
		if deps.Loyalty != nil {
			rc.PeriodicJobs = append(rc.PeriodicJobs, addLoyaltyWorkers(workers, cfg, deps)...)
		}
		if deps.Engagement != nil {
			rc.PeriodicJobs = append(rc.PeriodicJobs, addEngagementWorkers(workers, cfg, deps)...)
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("worker: river client: %w", err)
	}
	return c, nil
}

// ProcessWebhookWorker processes one inbox row exactly once: the row is
// locked, skipped unless still pending, dispatched and marked processed in
// one transaction. A rescued or duplicated job finds the row processed and
// does nothing.
type ProcessWebhookWorker struct {
	river.WorkerDefaults[job.ProcessWebhook]
	st       *store.Store
	dispatch Dispatcher
	log      *slog.Logger
}

// NextRetry implements river.Worker: a bounded backoff.
func (w *ProcessWebhookWorker) NextRetry(j *river.Job[job.ProcessWebhook]) time.Time {
	return time.Now().Add(job.Backoff(j.Attempt))
}

// Work implements river.Worker.
func (w *ProcessWebhookWorker) Work(ctx context.Context, j *river.Job[job.ProcessWebhook]) error {
	id := j.Args.WebhookID
	var topic, domain string
	err := w.st.Tx(ctx, func(tx *store.Store) error {
		wh, err := tx.LockWebhook(ctx, id)
		if app.ErrorCode(err) == app.ENOTFOUND {
			// The row is gone (shop/redact deleted the shop): nothing to do.
			return nil
		}
		if err != nil {
			return err
		}
		topic, domain = wh.Topic, wh.ShopDomain
		if wh.Status != store.WebhookPending {
			return nil
		}
		subject, err := w.dispatch(ctx, tx, wh)
		var ig *job.IgnoredError
		switch {
		case errors.As(err, &ig):
			return tx.MarkWebhookIgnored(ctx, id, ig.Reason, subject)
		case err != nil:
			return err
		}
		return tx.MarkWebhookProcessed(ctx, id, subject)
	})
	if err == nil {
		return nil
	}
	final := job.IsPermanent(err) || j.Attempt >= j.MaxAttempts
	w.log.WarnContext(ctx, "webhook processing failed", "webhook", id, "topic", topic, "shop", domain,
		"attempt", j.Attempt, "final", final, "err", err)
	if rerr := w.st.RecordWebhookError(context.WithoutCancel(ctx), id, err.Error(), final); rerr != nil {
		w.log.ErrorContext(ctx, "recording webhook error", "webhook", id, "err", rerr)
	}
	if job.IsPermanent(err) {
		return river.JobCancel(err)
	}
	return err
}

// SweepWebhooksWorker re-kicks inbox rows still pending after a while: a
// kick lost to a crash after commit, or a row reset for reprocessing whose
// kick failed. The kick is unique while a job for the row is live.
type SweepWebhooksWorker struct {
	river.WorkerDefaults[job.SweepWebhooks]
	st  *store.Store
	age time.Duration
	log *slog.Logger
}

// Work implements river.Worker.
func (w *SweepWebhooksWorker) Work(ctx context.Context, j *river.Job[job.SweepWebhooks]) error {
	ids, err := w.st.StalePendingWebhooks(ctx, w.age, 1000)
	if err != nil || len(ids) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: job.ProcessWebhook{WebhookID: id}, InsertOpts: job.KickOpts()}
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return fmt.Errorf("worker: sweep kick: %w", err)
	}
	kicked := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			kicked++
		}
	}
	if kicked > 0 {
		w.log.InfoContext(ctx, "re-kicked pending webhooks", "count", kicked)
	}
	return nil
}

// Kick enqueues processing of one inbox row after its transaction committed
// (reprocess). Unique while a job for the row is live; the sweep covers a
// kick that fails.
func Kick(ctx context.Context, rc *river.Client[pgx.Tx], webhookID int64) error {
	if _, err := rc.Insert(ctx, job.ProcessWebhook{WebhookID: webhookID}, job.KickOpts()); err != nil {
		return fmt.Errorf("worker: kick webhook %d: %w", webhookID, err)
	}
	return nil
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
