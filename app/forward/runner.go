package forward

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
)

// RunnerOptions configure a Runner. Zero values take the defaults noted.
type RunnerOptions struct {
	// ID names the runner in leases and logs; default random.
	ID string
	// Workers bounds the batches in progress at once; default 8.
	Workers int
	// PollInterval is the longest the runner waits without a notification
	// before looking for due work (retries come due without one); default
	// 250 ms.
	PollInterval time.Duration
	// Lease is how long a claimed batch stays invisible to other runners;
	// a runner that dies gives its rows back after it. It must exceed the
	// time to send a batch. Default 2 min.
	Lease time.Duration
	// MaxAttempts is the retry budget of a delivery; after the last failed
	// attempt it is failed with its last reason. Default 12 (about 37
	// minutes with the default backoff).
	MaxAttempts int
	// Backoff is the wait before retry attempt n (1-based); default
	// job.Backoff (2^n s, capped at 10 min) with ±20% jitter.
	Backoff func(attempt int) time.Duration

	// KlaviyoBatch is how many single events one task sends at most
	// (default 350, Klaviyo's burst per second); KlaviyoChunk how many it
	// takes from the rate limiter and sends at once (default 50).
	KlaviyoBatch int
	KlaviyoChunk int
	// Klaviyo bulk jobs: single events go while the account's events
	// budget lasts; once its steady (per-minute) window is spent, due
	// events go in bulk jobs of up to KlaviyoBulkSize (default 1000)
	// until the window turns, one job per BulkRate.Steady pacing slot
	// (400 ms for 150/min), so a flood drains at the bulk limit without
	// spending the minute's jobs in its first seconds. Bulk events are
	// only "accepted, unconfirmed"; single events are confirmed one by
	// one. DisableBulk sends single events only.
	KlaviyoBulkSize int
	DisableBulk     bool
	// KlaviyoBulkTasks: how many bulk jobs of one integration this runner
	// prepares and sends at once while its events go in bulk (default 3;
	// single events use one task, which sends its chunk concurrently).
	// Each job is a claim, a request and a write of up to 1,000 rows, so
	// one task at a time would use a fraction of the bulk budget.
	KlaviyoBulkTasks int
	// BackfillAfter: events older than this when sent are recorded with
	// backfill true, so they do not trigger flows (a "you earned points"
	// email a day late does more harm than good). Default 24 h.
	BackfillAfter time.Duration
	// Klaviyo's per-account limits (defaults: the klaviyo package's
	// published rates).
	EventsRate, BulkRate, ProfilesRate klaviyo.Rate
	// RateGuard: a grant counts in the windows of now and of now + guard
	// (see store.TakeRate); it must exceed the time from a grant to the
	// request's arrival. Default 500 ms.
	RateGuard time.Duration

	// CleverTapBatch is the most records per upload (default 1000, the
	// API's cap); CleverTapInFlight the most uploads in flight per account
	// across every process (default 10 of CleverTap's 15);
	// CleverTapTasks the most batches of one integration this runner works
	// on at once (default 4).
	CleverTapBatch    int
	CleverTapInFlight int
	CleverTapTasks    int
	// CleverTapSlotTTL is how long an account slot stays held without a
	// renewal; the runner renews it every third of that while the upload
	// runs, so a killed process's slots come back within it. Default 5 s.
	CleverTapSlotTTL time.Duration
	// CleverTapLinger: while another upload of the account is in flight,
	// a partial batch (fewer due events than CleverTapBatch) waits for
	// more, up to this long since its oldest event came due, so a stream
	// of events fills few large uploads rather than many small ones. A
	// partial batch goes at once when no other upload is in flight.
	// Default 250 ms; negative: never wait.
	CleverTapLinger time.Duration
	// LateAfter: CleverTap events older than this are sent and marked
	// late, as they cannot trigger live campaigns. Default 2 h.
	LateAfter time.Duration

	// ProfileBatch is how many profile syncs a Klaviyo task handles
	// (default 50); ExpiringWithin the window of loyalty_points_expiring
	// (default 30 days).
	ProfileBatch   int
	ExpiringWithin time.Duration

	// SweepInterval is how often the runner prunes limit counters and
	// routes events the router missed in the last SweepWindow; defaults 1
	// min and 15 min.
	SweepInterval time.Duration
	SweepWindow   time.Duration
	// ShutdownGrace is how long batches in progress may finish after Run's
	// context ends; default 10 s.
	ShutdownGrace time.Duration
}

func (o *RunnerOptions) defaults() {
	if o.ID == "" {
		b := make([]byte, 4)
		_, _ = crand.Read(b)
		o.ID = "runner-" + hex.EncodeToString(b)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Workers, 8)
	defD(&o.PollInterval, 250*time.Millisecond)
	defD(&o.Lease, 2*time.Minute)
	def(&o.MaxAttempts, 12)
	if o.Backoff == nil {
		o.Backoff = ScaledBackoff(time.Second)
	}
	def(&o.KlaviyoBatch, 350)
	def(&o.KlaviyoChunk, 50)
	def(&o.KlaviyoBulkSize, klaviyo.MaxBulkEvents)
	o.KlaviyoBulkSize = min(o.KlaviyoBulkSize, klaviyo.MaxBulkEvents)
	def(&o.KlaviyoBulkTasks, 3)
	defD(&o.BackfillAfter, 24*time.Hour)
	if o.EventsRate.Burst <= 0 {
		o.EventsRate = klaviyo.EventsRate
	}
	if o.BulkRate.Burst <= 0 {
		o.BulkRate = klaviyo.BulkEventsRate
	}
	if o.ProfilesRate.Burst <= 0 {
		o.ProfilesRate = klaviyo.ProfilesRate
	}
	defD(&o.RateGuard, 500*time.Millisecond)
	def(&o.CleverTapBatch, 1000)
	o.CleverTapBatch = min(o.CleverTapBatch, 1000)
	def(&o.CleverTapInFlight, 10)
	def(&o.CleverTapTasks, 4)
	defD(&o.CleverTapSlotTTL, 5*time.Second)
	if o.CleverTapLinger == 0 {
		o.CleverTapLinger = 250 * time.Millisecond
	}
	defD(&o.LateAfter, 2*time.Hour)
	def(&o.ProfileBatch, 50)
	defD(&o.ExpiringWithin, 30*24*time.Hour)
	defD(&o.SweepInterval, time.Minute)
	defD(&o.SweepWindow, 15*time.Minute)
	defD(&o.ShutdownGrace, 10*time.Second)
}

// ScaledBackoff is job.Backoff counted in unit instead of seconds (2^n
// units, capped at 600), with ±20% jitter. A shorter unit keeps the shape
// of the schedule and the number of attempts a long outage takes, in less
// time (DELIVERY_RETRY_UNIT).
func ScaledBackoff(unit time.Duration) func(attempt int) time.Duration {
	return func(n int) time.Duration {
		d := time.Duration(int64(job.Backoff(n)/time.Second) * int64(unit))
		return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
	}
}

// Runner delivers pending deliveries and profile syncs. It is long-running
// (started by main, stopped by cancelling Run's context) and not a River
// job: the delivery rows are the queue. Run as many as you like, in as
// many processes: claims never overlap and the sink limits are shared
// through the database.
type Runner struct {
	svc  *Service
	st   *store.Store
	pool *pgxpool.Pool
	opts RunnerOptions
	log  *slog.Logger

	wake  chan struct{}
	sem   chan struct{}
	tasks sync.WaitGroup
	seq   atomic.Int64

	mu        sync.Mutex
	busy      map[taskKey]int
	notBefore map[taskKey]gate
	lookedUp  map[string]lookupResult // by customer and common property (lookupKey)
	flight    singleflight.Group
	throttles map[string]int // consecutive 429s per rate key
	// overSteady: integrations whose Klaviyo events budget was found spent
	// for the minute, until when (their events go in bulk jobs meanwhile).
	overSteady map[int64]time.Time
	// partial: CleverTap event tasks sending a partial batch, per
	// integration (see linger).
	partial map[int64]int
	round   int
}

type taskKind int

const (
	taskEvents taskKind = iota
	taskProfiles
)

type taskKey struct {
	integration int64
	kind        taskKind
}

// gate holds a task kind back until at: idle gates (nothing was there)
// open on the next notification, limit gates (rate limits, no lease) do
// not.
type gate struct {
	at   time.Time
	idle bool
}

// taskResult is what a task reports back to the dispatcher.
type taskResult struct {
	worked    bool      // rows were claimed: look again at once
	notBefore time.Time // hold this task kind until then (rate limit)
}

// NewRunner returns a Runner over db (its pool carries the LISTEN
// connection's settings) and svc.
func NewRunner(db *store.DB, svc *Service, opts RunnerOptions) *Runner {
	opts.defaults()
	return &Runner{
		svc: svc, st: svc.st, pool: db.Pool, opts: opts, log: svc.log.With("runner", opts.ID),
		wake: make(chan struct{}, 1), sem: make(chan struct{}, opts.Workers),
		busy: map[taskKey]int{}, notBefore: map[taskKey]gate{}, lookedUp: map[string]lookupResult{},
		overSteady: map[int64]time.Time{}, partial: map[int64]int{},
	}
}

// Run delivers until ctx ends, then lets batches in progress finish (at
// most ShutdownGrace) and returns nil.
func (r *Runner) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); r.listen(ctx) }()
	go func() { defer bg.Done(); r.maintain(ctx) }()
	defer func() {
		bg.Wait()
		r.tasks.Wait()
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		// Every routing transaction notifies: under load, wake-ups come in
		// storms, and one look for due work every few milliseconds serves
		// them all.
		sleep(ctx, minDispatchGap-time.Since(last))
		last = time.Now()
		timer.Reset(r.dispatch(ctx))
	}
}

// minDispatchGap is the least time between two looks for due work.
const minDispatchGap = 5 * time.Millisecond

// poke wakes the dispatcher.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// notified opens idle gates (new rows may be there) and wakes the
// dispatcher.
func (r *Runner) notified() {
	r.mu.Lock()
	for k, g := range r.notBefore {
		if g.idle {
			delete(r.notBefore, k)
		}
	}
	r.mu.Unlock()
	r.poke()
}

// listen wakes the runner on every NOTIFY of store.DeliveriesChannel, on
// its own connection (not one of the pool's), reconnecting after errors.
// The poll interval covers notifications lost while reconnecting.
func (r *Runner) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+store.DeliveriesChannel)
		}
		if err == nil {
			r.notified()
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					r.notified()
				}
			}
		}
		if conn != nil {
			_ = conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("deliveries listener reconnecting", "err", err)
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// dispatch starts tasks for due work, within the worker budget and each
// task kind's concurrency, and returns how long to wait before looking
// again without a wake-up.
func (r *Runner) dispatch(ctx context.Context) time.Duration {
	if ctx.Err() != nil {
		return r.opts.PollInterval
	}
	due, err := r.st.DueIntegrations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("looking for due deliveries", "err", err)
		}
		return max(r.opts.PollInterval, time.Second)
	}
	wait := r.opts.PollInterval
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.round++
	for k := range due {
		in := due[(k+r.round)%len(due)]
		for _, kind := range []taskKind{taskEvents, taskProfiles} {
			if (kind == taskEvents && !in.DueEvents) || (kind == taskProfiles && !in.DueProfiles) {
				continue
			}
			key := taskKey{in.ID, kind}
			if g, ok := r.notBefore[key]; ok {
				if now.Before(g.at) {
					wait = min(wait, g.at.Sub(now))
					continue
				}
				delete(r.notBefore, key)
			}
			for r.busy[key] < r.capacity(in, kind, now) {
				select {
				case r.sem <- struct{}{}:
				default:
					return wait // every worker is busy; a finishing task wakes us
				}
				r.busy[key]++
				r.start(ctx, in, key)
			}
		}
	}
	return max(wait, time.Millisecond)
}

// capacity is how many tasks of one kind this runner runs at once for one
// integration: several CleverTap uploads (each holds an account lease),
// one Klaviyo task (it sends its events concurrently) or, while its events
// go in bulk jobs, KlaviyoBulkTasks; one profile task. The caller holds
// r.mu.
func (r *Runner) capacity(in store.DueIntegration, kind taskKind, now time.Time) int {
	switch {
	case kind == taskEvents && in.Kind == KindCleverTap:
		return r.opts.CleverTapTasks
	case kind == taskEvents && in.Kind == KindKlaviyo && !r.opts.DisableBulk && now.Before(r.overSteady[in.ID]):
		return r.opts.KlaviyoBulkTasks
	}
	return 1
}

// start runs one task in its own goroutine. The caller holds r.mu and has
// taken a worker slot.
func (r *Runner) start(ctx context.Context, in store.DueIntegration, key taskKey) {
	r.tasks.Add(1)
	go func() {
		defer r.tasks.Done()
		tctx, cancel := r.taskContext(ctx)
		res := r.runTask(tctx, &in, key.kind)
		cancel()
		r.mu.Lock()
		r.busy[key]--
		switch {
		case !res.notBefore.IsZero():
			r.notBefore[key] = gate{at: res.notBefore}
		case !res.worked:
			r.notBefore[key] = gate{at: time.Now().Add(r.opts.PollInterval), idle: true}
		}
		r.mu.Unlock()
		<-r.sem
		r.poke()
	}()
}

// taskContext outlives ctx by ShutdownGrace, so a batch in flight at
// shutdown is finished and recorded rather than cut off mid-request (which
// for CleverTap would make it a possible duplicate).
func (r *Runner) taskContext(ctx context.Context) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.opts.ShutdownGrace, cancel) })
	return tctx, func() { stop(); cancel() }
}

func (r *Runner) runTask(ctx context.Context, in *store.DueIntegration, kind taskKind) (res taskResult) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("delivery task panicked", "integration", in.ID, "panic", p)
			res = taskResult{notBefore: time.Now().Add(5 * time.Second)}
		}
	}()
	switch {
	case kind == taskEvents && in.Kind == KindKlaviyo:
		return r.klaviyoEvents(ctx, in)
	case kind == taskEvents && in.Kind == KindCleverTap:
		return r.cleverTapEvents(ctx, in)
	case kind == taskProfiles && in.Kind == KindKlaviyo:
		return r.klaviyoProfiles(ctx, in)
	case kind == taskProfiles && in.Kind == KindCleverTap:
		return r.cleverTapProfiles(ctx, in)
	}
	return taskResult{notBefore: time.Now().Add(time.Minute)}
}

// prepare returns the integration's client and common property, pausing
// the integration when either cannot be had (credentials sealed under a
// key this process lacks, a corrupt property): retrying cannot help.
func (r *Runner) prepare(ctx context.Context, in *store.DueIntegration) (*sinkClient, identity.Property, bool) {
	prop, err := identity.ParseProperty(in.CommonProperty)
	if err != nil {
		r.pause(ctx, in, "The common property "+strconvQuote(in.CommonProperty)+" is not valid: save the integration again.")
		return nil, prop, false
	}
	c, err := r.svc.client(&in.Integration)
	if err != nil {
		r.log.Error("integration credentials unreadable", "integration", in.ID, "err", err)
		r.pause(ctx, in, "The stored credentials cannot be read (the encryption key changed?): enter them again.")
		return nil, prop, false
	}
	return c, prop, true
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// pause pauses the integration with reason, unless the merchant changed
// its credentials meanwhile.
func (r *Runner) pause(ctx context.Context, in *store.DueIntegration, reason string) {
	ok, err := r.st.PauseIntegration(context.WithoutCancel(ctx), in.ShopID, in.ID, in.Credentials, reason)
	if err != nil {
		r.log.Error("pausing integration", "integration", in.ID, "err", err)
		return
	}
	if ok {
		r.log.Warn("integration paused", "shop_id", in.ShopID, "integration", in.ID, "kind", in.Kind, "reason", reason)
	}
}

// record writes delivery outcomes. The sink has already acted on them, so
// the write is retried (with the database's own backoff) for up to the
// lease: an outcome lost here means a resend after the lease expires.
func (r *Runner) record(ctx context.Context, outs []store.DeliveryOutcome) {
	if len(outs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(r.opts.Lease / 2)
	for i := 0; ; i++ {
		n, err := r.st.RecordDeliveryOutcomes(ctx, outs)
		if err == nil {
			if int(n) < len(outs) {
				r.log.Warn("delivery outcomes not applied: the lease expired and another runner took the rows",
					"outcomes", len(outs), "applied", n)
			}
			return
		}
		if time.Now().After(deadline) {
			r.log.Error("recording delivery outcomes failed; the rows will be retried when their lease expires", "err", err, "outcomes", len(outs))
			return
		}
		sleep(ctx, min(time.Duration(1<<min(i, 5))*100*time.Millisecond, 5*time.Second))
	}
}

// recordProfiles writes profile outcomes, retrying like record.
func (r *Runner) recordProfiles(ctx context.Context, outs []store.ProfileOutcome) {
	if len(outs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(r.opts.Lease / 2)
	for i := 0; ; i++ {
		err := r.st.RecordProfileOutcomes(ctx, outs)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.log.Error("recording profile outcomes failed", "err", err, "outcomes", len(outs))
			return
		}
		sleep(ctx, min(time.Duration(1<<min(i, 5))*100*time.Millisecond, 5*time.Second))
	}
}

// Outcome constructors. Every outcome carries the claim's attempt count,
// the guard that it still owns the row.

func sentOutcome(d *store.ClaimedDelivery, status string, code int, excerpt string, dup bool) store.DeliveryOutcome {
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: status, StatusCode: code, Excerpt: excerpt, PossiblyDuplicated: dup}
}

// identityOptions are the integration's identity choices.
func identityOptions(in *store.DueIntegration) identity.Options {
	return identity.Options{PhoneFallback: in.PhoneFallback, SendPhone: in.SendPhone}
}

// keepPayload reports whether the delivery log keeps the payload of an
// outcome: everything not confirmed by the sink (failed, unconfirmed, to
// be retried), so the merchant sees what was sent and what a retry sends.
// Confirmed ones do not need it, and skipped ones were never built.
func keepPayload(o store.DeliveryOutcome) bool {
	switch o.Status {
	case store.DeliveryFailed, store.DeliveryUnconfirmed:
		return true
	case store.DeliveryPending:
		return !o.Release
	}
	return false
}

func failedOutcome(d *store.ClaimedDelivery, code int, msg, excerpt string) store.DeliveryOutcome {
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: store.DeliveryFailed, StatusCode: code, Error: msg, Excerpt: excerpt}
}

func skippedOutcome(d *store.ClaimedDelivery, reason string) store.DeliveryOutcome {
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: store.DeliverySkipped, Error: reason}
}

// releaseOutcome gives a claimed row back untouched (not sent: throttled,
// paused, shutting down), due at next, without spending an attempt.
func releaseOutcome(d *store.ClaimedDelivery, next time.Time) store.DeliveryOutcome {
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: store.DeliveryPending, Release: true, NextAttemptAt: next}
}

// waitOutcome keeps a row pending until next with the answer that made it
// wait (a 429, a paused integration), without spending an attempt.
func waitOutcome(d *store.ClaimedDelivery, next time.Time, code int, msg, excerpt string) store.DeliveryOutcome {
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: store.DeliveryPending, Uncount: true,
		NextAttemptAt: next, StatusCode: code, Error: msg, Excerpt: excerpt}
}

// retryOutcome schedules another attempt after the backoff, or fails the
// delivery with msg once the retry budget is spent.
func (r *Runner) retryOutcome(d *store.ClaimedDelivery, code int, msg, excerpt string) store.DeliveryOutcome {
	if d.Attempts >= r.opts.MaxAttempts {
		return failedOutcome(d, code, fmt.Sprintf("%s (gave up after %d attempts)", msg, d.Attempts), excerpt)
	}
	next := time.Now().Add(r.opts.Backoff(d.Attempts))
	return store.DeliveryOutcome{ID: d.ID, Attempts: d.Attempts, Status: store.DeliveryPending, NextAttemptAt: next,
		StatusCode: code, Error: msg, Excerpt: excerpt}
}

// maintain prunes the limit counters and runs the routing sweep every
// SweepInterval, in one runner at a time (an advisory lock).
func (r *Runner) maintain(ctx context.Context) {
	t := time.NewTicker(r.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("forwarding sweep failed", "err", err)
			}
		}
	}
}

// sweepLock is the advisory lock key of the sweep.
const sweepLock = 727_030

// Sweep prunes expired rate windows and pauses, settles integrations left
// initializing by a crash, and routes the events that RouteEvents missed
// (see store.RouteUnrouted) since each shop's last sweep, less
// SweepWindow.
// Runners call it every SweepInterval; only one at a time does the work.
func (r *Runner) Sweep(ctx context.Context) error {
	return r.st.Tx(ctx, func(tx *store.Store) error {
		ok, err := tx.TryAdvisoryXactLock(ctx, sweepLock)
		if err != nil || !ok {
			return err
		}
		now := time.Now()
		if err := tx.PruneSinkLimits(ctx, now.Add(-10*time.Minute)); err != nil {
			return err
		}
		// A credential check takes at most twice the HTTP timeout (the
		// region probe); one still "initializing" long after was cut off.
		if n, err := tx.ResetStaleInitializing(ctx, now.Add(-2*r.svc.opts.HTTPTimeout-time.Minute)); err != nil {
			return err
		} else if n > 0 {
			r.log.Warn("settled integrations left initializing", "integrations", n)
		}
		// From each shop's mark (where the last sweep got), less the
		// window for transactions that commit late: a sweeper that was
		// down for hours still repairs what was written meanwhile.
		shops, err := tx.ShopsToSweep(ctx, now, r.opts.SweepWindow)
		if err != nil {
			return err
		}
		for _, sh := range shops {
			n, err := tx.RouteUnrouted(ctx, sh.ID, sh.Since)
			if err != nil {
				return err
			}
			if n > 0 {
				r.log.Warn("routed loyalty events the router had missed", "shop_id", sh.ID, "deliveries", n, "since", sh.Since)
			}
		}
		return tx.MarkSwept(ctx, now)
	})
}

// holder returns a unique lease holder name.
func (r *Runner) holder() string {
	return r.opts.ID + ":" + strconv.FormatInt(r.seq.Add(1), 10)
}

// errorCode returns the HTTP status an error carries, or 0.
func errorCode(err error) int {
	var kae *klaviyo.APIError
	if errors.As(err, &kae) {
		return kae.Status
	}
	return cleverTapStatus(err)
}
