package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/store"
)

// Loyalty schedule.
//
// Periodic loyalty work fans out: a LoyaltyTick every few minutes (on the
// leader only, as River runs periodic jobs) inserts one LoyaltyMaintenance
// job per active shop whose work last completed more than a tick ago,
// unique per shop while live, and that job runs the shop's expiry,
// reminders, birthdays, nudges, tier review and review requests at the
// time it runs, in the shop's time zone, then records the completion
// (shops.maintenance_completed_at, shown on the admin home). Every few
// minutes, and on start when Config.MaintenanceOnStart is set, so that
// deploys or crashes more often than hourly cannot starve the work; the
// completion record keeps a restart loop from redoing shops done moments
// ago. Each use case is idempotent on its natural keys and handles each
// customer in a short transaction of its own, so a retried, duplicated or
// overlapping run changes nothing twice.
const (
	LoyaltyTickInterval = 5 * time.Minute
	// CouponSweepInterval and CouponSweepAge: how often coupons still
	// pending after CouponSweepAge (a kick lost after commit) are re-kicked.
	CouponSweepInterval = time.Minute
	CouponSweepAge      = time.Minute
)

// addLoyaltyWorkers registers the loyalty workers and returns their
// periodic jobs.
func addLoyaltyWorkers(workers *river.Workers, cfg Config, deps Deps) []*river.PeriodicJob {
	river.AddWorker(workers, &LoyaltyTickWorker{st: deps.Store, every: cfg.LoyaltyTickInterval})
	river.AddWorker(workers, &LoyaltyMaintenanceWorker{svc: deps.Loyalty, st: deps.Store, log: deps.Logger})
	river.AddWorker(workers, &CreateCouponWorker{svc: deps.Loyalty})
	river.AddWorker(workers, &CreateReferralCouponWorker{svc: deps.Loyalty})
	river.AddWorker(workers, &VerifyReferralWorker{svc: deps.Loyalty})
	river.AddWorker(workers, &SweepCouponsWorker{svc: deps.Loyalty, log: deps.Logger})
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(cfg.LoyaltyTickInterval), func() (river.JobArgs, *river.InsertOpts) {
			return job.LoyaltyTick{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: cfg.MaintenanceOnStart, ID: "loyalty_tick"}),
		river.NewPeriodicJob(river.PeriodicInterval(CouponSweepInterval), func() (river.JobArgs, *river.InsertOpts) {
			return job.SweepCoupons{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true, ID: "sweep_coupons"}),
	}
}

// LoyaltyTickWorker fans out one LoyaltyMaintenance job per active shop
// whose work last completed more than a tick ago.
type LoyaltyTickWorker struct {
	river.WorkerDefaults[job.LoyaltyTick]
	st    *store.Store
	every time.Duration
}

// Work implements river.Worker.
func (w *LoyaltyTickWorker) Work(ctx context.Context, j *river.Job[job.LoyaltyTick]) error {
	// A little under a tick, so a shop done at the last tick is due at this one.
	ids, err := w.st.ShopsDueForMaintenance(ctx, time.Now().Add(-w.every*4/5))
	if err != nil || len(ids) == 0 {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: job.LoyaltyMaintenance{ShopID: int64(id)}}
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("worker: loyalty fan-out: %w", err)
	}
	return nil
}

// LoyaltyMaintenanceWorker runs one shop's periodic loyalty work now.
type LoyaltyMaintenanceWorker struct {
	river.WorkerDefaults[job.LoyaltyMaintenance]
	svc *loyalty.Service
	st  *store.Store
	log *slog.Logger
}

// Work implements river.Worker.
func (w *LoyaltyMaintenanceWorker) Work(ctx context.Context, j *river.Job[job.LoyaltyMaintenance]) error {
	now := time.Now()
	r, err := w.svc.RunMaintenance(ctx, app.ShopID(j.Args.ShopID), now)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil // the shop was deleted meanwhile
	}
	if err != nil {
		return err
	}
	if err := w.st.MarkMaintenanceCompleted(ctx, app.ShopID(j.Args.ShopID), now); err != nil {
		return err
	}
	if r != (loyalty.MaintenanceReport{}) {
		w.log.InfoContext(ctx, "loyalty maintenance", "shop", j.Args.ShopID, "expired", r.Expired, "reminded", r.Reminded,
			"birthdays", r.Birthdays, "nudged", r.Nudged, "tier_changes", r.TierChange, "review_requests", r.Reviews, "facts_read", r.Facts)
	}
	return nil
}

// CreateCouponWorker creates a redeemed coupon's discount code in Shopify.
type CreateCouponWorker struct {
	river.WorkerDefaults[job.CreateCoupon]
	svc *loyalty.Service
}

// NextRetry implements river.Worker: a bounded backoff.
func (w *CreateCouponWorker) NextRetry(j *river.Job[job.CreateCoupon]) time.Time {
	return time.Now().Add(job.Backoff(j.Attempt))
}

// Work implements river.Worker. The last attempt fails the coupon and
// gives its points back instead of leaving it pending.
func (w *CreateCouponWorker) Work(ctx context.Context, j *river.Job[job.CreateCoupon]) error {
	return w.svc.CreateCoupon(ctx, app.ShopID(j.Args.ShopID), j.Args.CouponID, j.Attempt >= j.MaxAttempts)
}

// CreateReferralCouponWorker creates a referred friend's discount code in
// Shopify.
type CreateReferralCouponWorker struct {
	river.WorkerDefaults[job.CreateReferralCoupon]
	svc *loyalty.Service
}

// NextRetry implements river.Worker: a bounded backoff.
func (w *CreateReferralCouponWorker) NextRetry(j *river.Job[job.CreateReferralCoupon]) time.Time {
	return time.Now().Add(job.Backoff(j.Attempt))
}

// Work implements river.Worker. The last attempt marks the coupon failed.
func (w *CreateReferralCouponWorker) Work(ctx context.Context, j *river.Job[job.CreateReferralCoupon]) error {
	return w.svc.CreateReferralCoupon(ctx, app.ShopID(j.Args.ShopID), j.Args.ReferralID, j.Attempt >= j.MaxAttempts)
}

// SweepCouponsWorker re-kicks coupons still pending after CouponSweepAge.
type SweepCouponsWorker struct {
	river.WorkerDefaults[job.SweepCoupons]
	svc *loyalty.Service
	log *slog.Logger
}

// Work implements river.Worker.
func (w *SweepCouponsWorker) Work(ctx context.Context, j *river.Job[job.SweepCoupons]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	n, err := KickStaleCoupons(ctx, client, w.svc, CouponSweepAge)
	if n > 0 {
		w.log.InfoContext(ctx, "re-kicked pending coupons", "count", n)
	}
	return err
}

// KickStaleCoupons enqueues creation of every coupon (reward coupons and
// referred friends' coupons) pending for longer than age (unique while a job for the coupon is live) and returns how many
// jobs it added. It also re-kicks the check of referrals verifying for
// longer than age (a kick lost, or run before the order committed).
func KickStaleCoupons(ctx context.Context, rc *river.Client[pgx.Tx], svc *loyalty.Service, age time.Duration) (int, error) {
	stale, err := svc.StaleCoupons(ctx, age)
	if err != nil {
		return 0, err
	}
	friends, err := svc.StaleReferralCoupons(ctx, age)
	if err != nil {
		return 0, err
	}
	verifying, err := svc.StaleVerifyingReferrals(ctx, age)
	if err != nil || len(stale)+len(friends)+len(verifying) == 0 {
		return 0, err
	}
	params := make([]river.InsertManyParams, 0, len(stale)+len(friends)+len(verifying))
	for _, r := range verifying {
		params = append(params, river.InsertManyParams{Args: job.VerifyReferral{ShopID: int64(r.ShopID), ReferralID: r.ReferralID}})
	}
	for _, c := range stale {
		params = append(params, river.InsertManyParams{Args: job.CreateCoupon{ShopID: int64(c.ShopID), CouponID: c.ID}})
	}
	for _, r := range friends {
		params = append(params, river.InsertManyParams{Args: job.CreateReferralCoupon{ShopID: int64(r.ShopID), ReferralID: r.ReferralID}})
	}
	res, err := rc.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("worker: coupon sweep kick: %w", err)
	}
	kicked := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			kicked++
		}
	}
	return kicked, nil
}

// VerifyReferralWorker checks a referral whose friend paid a first order
// with Shopify, then completes or blocks it.
type VerifyReferralWorker struct {
	river.WorkerDefaults[job.VerifyReferral]
	svc *loyalty.Service
}

// NextRetry implements river.Worker: the bounded backoff of coupons.
func (w *VerifyReferralWorker) NextRetry(j *river.Job[job.VerifyReferral]) time.Time {
	return time.Now().Add(job.Backoff(j.Attempt))
}

// Work implements river.Worker.
func (w *VerifyReferralWorker) Work(ctx context.Context, j *river.Job[job.VerifyReferral]) error {
	return w.svc.VerifyReferral(ctx, app.ShopID(j.Args.ShopID), j.Args.ReferralID, j.Attempt >= j.MaxAttempts)
}
