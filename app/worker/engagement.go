package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/engagement"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
)

// EngagementTickInterval is how often shops are enqueued for an
// engagement refresh. A refresh only asks Klaviyo for days that need it
// (today and yesterday every engagement.DefaultEvery), so most do nothing.
const EngagementTickInterval = time.Hour

// addEngagementWorkers registers the engagement workers and returns their
// periodic job.
func addEngagementWorkers(workers *river.Workers, cfg Config, deps Deps) []*river.PeriodicJob {
	river.AddWorker(workers, &EngagementTickWorker{st: deps.Store})
	river.AddWorker(workers, &RefreshEngagementWorker{svc: deps.Engagement, log: deps.Logger})
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(EngagementTickInterval), func() (river.JobArgs, *river.InsertOpts) {
			return job.EngagementTick{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: cfg.MaintenanceOnStart, ID: "engagement_tick"}),
	}
}

// EngagementTickWorker enqueues a refresh for every shop with an active
// Klaviyo integration (unique per shop while one is live).
type EngagementTickWorker struct {
	river.WorkerDefaults[job.EngagementTick]
	st *store.Store
}

// Work implements river.Worker.
func (w *EngagementTickWorker) Work(ctx context.Context, j *river.Job[job.EngagementTick]) error {
	ins, err := w.st.EngagementIntegrations(ctx)
	if err != nil {
		return err
	}
	var params []river.InsertManyParams
	for _, in := range ins {
		if in.Kind == forward.KindKlaviyo {
			params = append(params, river.InsertManyParams{Args: job.RefreshEngagement{ShopID: int64(in.ShopID)}})
		}
	}
	if len(params) == 0 {
		return nil
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("worker: engagement fan-out: %w", err)
	}
	return nil
}

// RefreshEngagementWorker refreshes one shop's engagement. Klaviyo's 429
// (or the account's rate windows being full) snoozes the job for the wait
// asked; a key Klaviyo refuses is recorded for the merchant and not
// retried until the next tick.
type RefreshEngagementWorker struct {
	river.WorkerDefaults[job.RefreshEngagement]
	svc *engagement.Service
	log *slog.Logger
}

// NextRetry implements river.Worker: a bounded backoff.
func (w *RefreshEngagementWorker) NextRetry(j *river.Job[job.RefreshEngagement]) time.Time {
	return time.Now().Add(job.Backoff(j.Attempt))
}

// Work implements river.Worker.
func (w *RefreshEngagementWorker) Work(ctx context.Context, j *river.Job[job.RefreshEngagement]) error {
	_, err := w.svc.Refresh(ctx, app.ShopID(j.Args.ShopID), j.Args.Force)
	var te *engagement.ThrottledError
	var ae *klaviyo.APIError
	switch {
	case err == nil, app.ErrorCode(err) == app.ENOTFOUND:
		return nil
	case errors.As(err, &te):
		return river.JobSnooze(te.Wait)
	case errors.As(err, &ae) && (ae.AuthFailure() || ae.Permanent()):
		w.log.WarnContext(ctx, "engagement refresh refused", "shop", j.Args.ShopID, "err", err)
		return river.JobCancel(err)
	}
	return err
}

// RefreshEngagementNow enqueues a forced refresh of the shop's engagement
// (the Stats page's "Refresh now"); unique while one is live.
func RefreshEngagementNow(ctx context.Context, rc *river.Client[pgx.Tx], shopID app.ShopID) error {
	if _, err := rc.Insert(ctx, job.RefreshEngagement{ShopID: int64(shopID), Force: true}, nil); err != nil {
		return fmt.Errorf("worker: refresh engagement of shop %d: %w", shopID, err)
	}
	return nil
}
