package worker

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/store"
)

// ClaimerOptions configure a Claimer. Zero values take the defaults noted.
type ClaimerOptions struct {
	// ID names the claimer in leases and logs; default random.
	ID string
	// Workers is how many batches are in progress at once; default 12. A
	// batch spends most of its time waiting on round trips, so on 2 cores
	// more batches in flight raise throughput (500 orders/s offered on a
	// shared 2-core machine: 4 workers sustained 407/s, 12 450/s, 16
	// 422/s); ClaimerOptions.Yield keeps them from crowding out intake.
	// Each holds a pool connection while it runs (serve's pool has 40).
	Workers int
	// Batch is the most webhooks claimed and applied in one transaction;
	// default 25. Each webhook is a subtransaction, and PostgreSQL keeps
	// the first 64 of a transaction in shared memory (more slow down every
	// other session's visibility checks), engine savepoints included.
	Batch int
	// Lease is how long claimed rows stay invisible to other claimers; a
	// process that dies gives its rows back after it (DESIGN.md §7: within
	// 30 s). A batch in progress renews it, for at most four more leases.
	// Default 20 s, so the rows are processed again well within the 30 s.
	Lease time.Duration
	// PollInterval is the longest a claimer waits without a notification
	// before looking for due rows (retries come due without one); default
	// 1 s.
	PollInterval time.Duration
	// MaxAttempts is a webhook's retry budget; after the last failed
	// attempt it is failed with its reason. Default job.MaxWebhookAttempts.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after attempt n failed;
	// default job.Backoff.
	Backoff func(attempt int) time.Duration
	// ShutdownGrace is how long batches in progress may finish after Run's
	// context ends; then they are rolled back and their rows released.
	// Default 10 s.
	ShutdownGrace time.Duration
	// Yield reports that webhook intake in this process is falling behind
	// (inbox.Writer.Busy); nil: never. Acknowledgements come first, so
	// while it holds, workers start no new batch (checking again every
	// YieldPoll), except the first, which starts one every YieldMax:
	// processing slows to a trickle rather than stopping.
	Yield func() bool
	// YieldMax is the longest the first worker waits for intake; default
	// 500 ms.
	YieldMax time.Duration
	// YieldPoll is how often a yielding worker looks again; default 5 ms.
	YieldPoll time.Duration
}

func (o *ClaimerOptions) defaults() {
	if o.ID == "" {
		b := make([]byte, 4)
		_, _ = crand.Read(b)
		// The process id in the name tells an operator (and the fault
		// matrix) whose leases a row carries.
		o.ID = "claimer-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
	}
	if o.Workers <= 0 {
		o.Workers = 12
	}
	if o.Batch <= 0 {
		o.Batch = 25
	}
	if o.Lease <= 0 {
		o.Lease = 20 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = job.MaxWebhookAttempts
	}
	if o.Backoff == nil {
		o.Backoff = job.Backoff
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 10 * time.Second
	}
	if o.YieldPoll <= 0 {
		o.YieldPoll = 5 * time.Millisecond
	}
	if o.YieldMax <= 0 {
		o.YieldMax = 500 * time.Millisecond
	}
}

// Claimer processes the webhook inbox. Its workers claim batches of due
// pending rows (FOR UPDATE SKIP LOCKED, with a lease: see
// store.ClaimWebhooks) and apply each batch in ONE transaction, a
// savepoint per webhook, so one failure undoes only its own webhook. It is
// woken by NOTIFY store.WebhooksChannel (the intake commit) and polls as a
// backstop. Run as many as you like, in as many processes: claims never
// overlap, and webhooks of one order are never applied at once (an
// advisory lock per order key, taken for the whole batch, in key order).
type Claimer struct {
	st       *store.Store
	pool     *pgxpool.Pool
	dispatch Dispatcher
	log      *slog.Logger
	opts     ClaimerOptions
	wake     chan struct{}
	seq      atomic.Int64
	metrics  claimerMetrics
}

type claimerMetrics struct {
	claimed   prometheus.Counter
	outcomes  *prometheus.CounterVec
	batch     prometheus.Histogram
	queueAge  prometheus.Histogram
	batchTime prometheus.Histogram
	yielded   prometheus.Counter
}

// NewClaimer returns a Claimer over db (its pool carries the LISTEN
// connection's settings) that applies webhooks with dispatch.
func NewClaimer(db *store.DB, dispatch Dispatcher, log *slog.Logger, opts ClaimerOptions) *Claimer {
	opts.defaults()
	return &Claimer{
		st: store.New(db.Gorm), pool: db.Pool, dispatch: dispatch, log: log.With("claimer", opts.ID), opts: opts,
		wake: make(chan struct{}, 1),
		metrics: claimerMetrics{
			claimed: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "perkbridge_inbox_claimed_total", Help: "Inbox rows claimed by this process."}),
			outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "perkbridge_inbox_processed_total",
				Help: "Claimed inbox rows by outcome (processed, ignored, failed, retry, released, lost)."}, []string{"outcome"}),
			batch: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "perkbridge_inbox_claim_batch_size", Help: "Webhooks applied per processing transaction.",
				Buckets: []float64{1, 2, 4, 8, 16, 32, 64}}),
			queueAge: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "perkbridge_inbox_queue_age_seconds", Help: "Time from intake to claim of an inbox row (retries: from when it came due).",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)}),
			batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "perkbridge_inbox_batch_seconds", Help: "Duration of one processing transaction.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
			yielded: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "perkbridge_inbox_yield_waits_total", Help: "Times a processing worker waited for webhook intake to catch up before claiming."}),
		},
	}
}

// Collectors returns the claimer's metrics for registration.
func (c *Claimer) Collectors() []prometheus.Collector {
	m := c.metrics
	return []prometheus.Collector{m.claimed, m.outcomes, m.batch, m.queueAge, m.batchTime, m.yielded}
}

// Run processes the inbox until ctx ends, then lets batches in progress
// finish (at most ShutdownGrace; the rest is rolled back and released)
// and returns nil.
func (c *Claimer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.listen(ctx) }()
	for i := range c.opts.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); c.loop(ctx, i == 0) }()
	}
	wg.Wait()
	return nil
}

// poke wakes one idle worker.
func (c *Claimer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// listen wakes a worker on every NOTIFY of store.WebhooksChannel, on its
// own connection (not one of the pool's), reconnecting after errors. The
// poll interval covers notifications lost while reconnecting.
func (c *Claimer) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+store.WebhooksChannel)
		}
		if err == nil {
			c.poke() // rows may have come while nobody listened
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					c.poke()
				}
			}
		}
		if conn != nil {
			_ = conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("inbox listener reconnecting", "err", err)
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loop is one worker: claim a batch and apply it; look again at once
// after a batch, otherwise wait for a wake-up or the poll interval. Before
// each claim it waits for intake to catch up (the first worker at most
// YieldMax, so processing never stops).
func (c *Claimer) loop(ctx context.Context, first bool) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			if !c.yield(ctx, first) {
				break
			}
			n, err := c.Once(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("inbox batch failed", "err", err)
					sleep(ctx, c.opts.PollInterval)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(c.opts.PollInterval)
	}
}

// yield waits while intake is falling behind (ClaimerOptions.Yield) and
// reports whether the worker may go on (false: ctx ended).
func (c *Claimer) yield(ctx context.Context, first bool) bool {
	if c.opts.Yield == nil || !c.opts.Yield() {
		return true
	}
	c.metrics.yielded.Inc()
	t := time.NewTicker(c.opts.YieldPoll)
	defer t.Stop()
	var until time.Time
	if first {
		until = time.Now().Add(c.opts.YieldMax)
	}
	for c.opts.Yield() && (!first || time.Now().Before(until)) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// holder returns a unique lease holder name: an outcome applies only if
// its own claim still holds the row.
func (c *Claimer) holder() string {
	return c.opts.ID + ":" + strconv.FormatInt(c.seq.Add(1), 10)
}

// batchContext outlives ctx by ShutdownGrace, so a batch in progress at
// shutdown commits rather than being cut off.
func (c *Claimer) batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.opts.ShutdownGrace, cancel) })
	return bctx, func() { stop(); cancel() }
}

// Once claims one batch and applies it, and returns how many rows it
// claimed. Workers call it in a loop; tests call it to step.
func (c *Claimer) Once(ctx context.Context) (int, error) {
	holder := c.holder()
	rows, err := c.st.ClaimWebhooks(ctx, holder, c.opts.Batch, c.opts.Lease)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if len(rows) == c.opts.Batch {
		c.poke() // more may be waiting: another worker looks too
	}
	c.metrics.claimed.Add(float64(len(rows)))
	now := time.Now()
	for _, wh := range rows {
		since := wh.ReceivedAt
		if wh.NextAttemptAt.After(since) {
			since = wh.NextAttemptAt
		}
		c.metrics.queueAge.Observe(max(now.Sub(since), 0).Seconds())
	}
	bctx, cancel := c.batchContext(ctx)
	defer cancel()
	stopRenew := c.renew(bctx, holder)
	start := time.Now()
	counts, err := c.apply(bctx, holder, rows)
	stopRenew()
	c.metrics.batchTime.Observe(time.Since(start).Seconds())
	c.metrics.batch.Observe(float64(len(rows)))
	if err != nil {
		// Rolled back: nothing of the batch happened. Give the rows back
		// now; if that fails too, their lease ends by itself. Cut off by
		// shutdown, they were not really tried; otherwise (the database
		// went away, or something in the batch broke the transaction) the
		// attempt counts, so a batch that always breaks runs out of them.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		ids := make([]int64, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		if rerr := c.st.ReleaseWebhooks(rctx, holder, ids, ctx.Err() != nil); rerr != nil {
			c.log.Warn("releasing inbox rows failed; their lease will expire", "rows", len(ids), "err", rerr)
		}
		c.metrics.outcomes.WithLabelValues("released").Add(float64(len(rows)))
		return len(rows), fmt.Errorf("worker: inbox batch of %d: %w", len(rows), err)
	}
	for k, n := range counts {
		c.metrics.outcomes.WithLabelValues(k).Add(float64(n))
	}
	return len(rows), nil
}

// maxRenewals bounds how many leases a batch may run beyond its first: a
// batch stuck in a handler (deaf to its context) gives its rows up then,
// and its late work is undone when it settles (SettleWebhook's guard).
const maxRenewals = 4

// renew extends the batch's leases every third of the lease while it runs,
// so a long batch is not taken over, for at most maxRenewals leases. Rows
// the batch has already settled are locked by its transaction and skipped.
func (c *Claimer) renew(ctx context.Context, holder string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.opts.Lease / 3)
		defer t.Stop()
		until := time.Now().Add(maxRenewals * c.opts.Lease)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Now().After(until) {
					c.log.Warn("inbox batch still running after several leases; its rows go to other claimers when the lease ends", "holder", holder)
					return
				}
				if err := c.st.RenewWebhookLeases(ctx, holder, c.opts.Lease); err != nil && ctx.Err() == nil {
					c.log.Warn("renewing inbox leases failed", "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// orderLockClass is the first key of the order advisory locks (the
// two-key space, apart from single-key locks such as the sweeps').
const orderLockClass = 727_031

// orderLocks returns the advisory lock keys of the batch's orders, sorted
// and distinct. Two keys may collide: that only serialises two orders.
func orderLocks(rows []store.Webhook) []int32 {
	var keys []int32
	for i := range rows {
		if k, ok := orderLock(&rows[i]); ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// orderLock is the advisory lock key of a webhook's order, if it has one.
func orderLock(wh *store.Webhook) (int32, bool) {
	if wh.OrderKey == "" {
		return 0, false
	}
	h := fnv.New32a()
	h.Write([]byte(wh.ShopDomain))
	h.Write([]byte{'/'})
	h.Write([]byte(wh.OrderKey))
	return int32(h.Sum32()), true
}

// batchLockWait is the longest a webhook of a batch waits for a lock
// another batch holds before it is put back.
const batchLockWait = 300 * time.Millisecond

// orderBusyRetry is how soon a webhook whose order another batch is
// applying is tried again (without spending an attempt).
const orderBusyRetry = 100 * time.Millisecond

const savepoint = "inbox_webhook"

// apply runs the batch in one transaction: the order locks first (tried,
// all of them before any effect; a webhook whose order is busy elsewhere
// is put back), then each webhook under its savepoint, settled in the same
// transaction as its effects.
func (c *Claimer) apply(ctx context.Context, holder string, rows []store.Webhook) (map[string]int, error) {
	var counts map[string]int
	err := c.st.Tx(ctx, func(tx *store.Store) error {
		counts = map[string]int{}
		// The batch reads each shop and program once, not once per
		// webhook (forgotten after a rollback and on any write to them).
		tx = tx.WithBatchReads()
		// A batch holds what it wrote until it commits, so a webhook that
		// waits for a row another batch holds (the same customer's
		// account, the shop's guest counter) would make every batch wait
		// in turn. It waits batchLockWait at most, then is put back (see
		// conflict) and the batch goes on.
		if err := tx.SetLockTimeout(ctx, batchLockWait); err != nil {
			return err
		}
		// The order locks are tried, never waited for: a batch that had
		// to wait for a neighbour holding one of its orders would hold all
		// of its own meanwhile, and batches would convoy (a killed
		// worker's rows then took a minute to come through). A webhook
		// whose order another batch is applying is put back for a moment,
		// its attempt given back.
		held, err := tx.TryLockOrderKeys(ctx, orderLockClass, orderLocks(rows))
		if err != nil {
			return err
		}
		for i := range rows {
			wh := &rows[i]
			if k, ok := orderLock(wh); ok && !held[k] {
				o := store.WebhookOutcome{ID: wh.ID, Holder: holder, Status: store.WebhookPending, Uncount: true,
					NextAttemptAt: time.Now().Add(orderBusyRetry)}
				if _, err := tx.SettleWebhook(ctx, o); err != nil {
					return err
				}
				counts["order_busy"]++
				continue
			}
			if err := tx.Savepoint(ctx, savepoint); err != nil {
				return err
			}
			o, keep, err := c.one(ctx, tx, holder, wh)
			if err != nil {
				return err
			}
			if !keep {
				if err := tx.RollbackTo(ctx, savepoint); err != nil {
					return err
				}
			}
			ok, err := tx.SettleWebhook(ctx, o)
			if err != nil {
				return err
			}
			if !ok {
				// The lease ended and another claimer holds the row: this
				// application must not count.
				if err := tx.RollbackTo(ctx, savepoint); err != nil {
					return err
				}
				c.log.Warn("inbox row lost to another claimer (lease expired); its effects here are undone", "webhook", wh.ID)
				counts["lost"]++
				continue
			}
			outcome := o.Status
			if o.Status == store.WebhookPending {
				outcome = "retry"
				if o.Uncount {
					outcome = "released"
				}
			}
			counts[outcome]++
		}
		return c.route(ctx, tx)
	})
	return counts, err
}

const routeSavepoint = "inbox_route"

// route creates the deliveries of the loyalty events the batch's webhooks
// wrote, in one statement per shop instead of one per webhook (the
// webhooks' routing was collected: store.RouteEvents in a batch). Events
// of webhooks rolled back are gone and route nothing. Routing that fails
// (a lock held elsewhere past batchLockWait) is tried once more; if it
// fails again the batch commits without those deliveries and the delivery
// runner's routing sweep (store.RouteUnrouted) creates them within its
// interval: the loyalty effects are not undone for a late delivery.
func (c *Claimer) route(ctx context.Context, tx *store.Store) error {
	var err error
	for try := 0; try < 2; try++ {
		if err = tx.Savepoint(ctx, routeSavepoint); err != nil {
			return err
		}
		if _, err = tx.RouteBatchEvents(ctx); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rerr := tx.RollbackTo(ctx, routeSavepoint); rerr != nil {
			return rerr
		}
	}
	c.log.Warn("routing the batch's loyalty events failed; the routing sweep will create their deliveries", "err", err)
	return nil
}

// one applies a webhook inside the batch's savepoint and returns its
// outcome, and whether its effects are kept. An error aborts the batch
// (the context ended, or the transaction broke).
func (c *Claimer) one(ctx context.Context, tx *store.Store, holder string, wh *store.Webhook) (store.WebhookOutcome, bool, error) {
	o := store.WebhookOutcome{ID: wh.ID, Holder: holder}
	if wh.Attempts > c.opts.MaxAttempts {
		// Claimed and never settled, again and again: the process died
		// on it each time (a crash, a kill, an out-of-memory).
		o.Status = store.WebhookFailed
		o.Reason = fmt.Sprintf("gave up after %d attempts that never finished: the process working on it stopped, or its batch broke, each time", wh.Attempts-1)
		if wh.LastError != "" {
			o.Reason += " (last error: " + wh.LastError + ")"
		}
		c.log.Warn("webhook processing failed", "webhook", wh.ID, "topic", wh.Topic, "shop", wh.ShopDomain,
			"attempt", wh.Attempts, "final", true, "err", o.Reason)
		return o, false, nil
	}
	subject, err := c.dispatchSafely(ctx, tx, wh)
	var ig *job.IgnoredError
	switch {
	case err == nil:
		o.Status, o.SubjectCustomerID = store.WebhookProcessed, subject
		return o, true, nil
	case errors.As(err, &ig):
		// Whatever was remembered before the decision commits with it.
		o.Status, o.Reason, o.SubjectCustomerID = store.WebhookIgnored, ig.Reason, subject
		return o, true, nil
	case ctx.Err() != nil:
		return o, false, ctx.Err()
	case conflict(err):
		// Another batch holds what this webhook needs and waits for
		// something this batch holds: not the webhook's fault. Put back
		// without spending the attempt; the next claim takes it.
		o.Status, o.Uncount, o.NextAttemptAt = store.WebhookPending, true, time.Now().Add(orderBusyRetry)
		c.log.Info("webhook put back after a lock conflict", "webhook", wh.ID, "topic", wh.Topic, "shop", wh.ShopDomain, "err", err)
		return o, false, nil
	}
	final := job.IsPermanent(err) || wh.Attempts >= c.opts.MaxAttempts
	c.log.WarnContext(ctx, "webhook processing failed", "webhook", wh.ID, "topic", wh.Topic, "shop", wh.ShopDomain,
		"attempt", wh.Attempts, "final", final, "err", err)
	o.Reason = err.Error()
	if final {
		o.Status = store.WebhookFailed
	} else {
		o.Status, o.NextAttemptAt = store.WebhookPending, time.Now().Add(c.opts.Backoff(wh.Attempts))
	}
	return o, false, nil
}

// dispatchSafely turns a panic in a topic handler into that webhook's
// error, so it does not take the batch (or the process) down.
func (c *Claimer) dispatchSafely(ctx context.Context, tx *store.Store, wh *store.Webhook) (subject *int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("webhook handler panicked", "webhook", wh.ID, "topic", wh.Topic, "panic", p)
			subject, err = nil, fmt.Errorf("worker: handler panicked: %v", p)
		}
	}()
	return c.dispatch(ctx, tx, wh)
}

// conflict reports a deadlock or serialization failure between batches.
func conflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// deadlock, serialization failure, lock wait over batchLockWait
		return pgErr.Code == "40P01" || pgErr.Code == "40001" || pgErr.Code == "55P03"
	}
	return false
}
