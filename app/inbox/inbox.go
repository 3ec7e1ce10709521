// Package inbox makes webhook deliveries durable before Shopify gets its
// 200. Handlers hand deliveries to a Writer; committer goroutines take
// whatever is waiting (up to MaxBatch) and write it with ONE statement and
// one commit: the inbox rows, deduplicated on (shop domain, webhook id).
// Under load many webhooks share a commit (group commit), which is how
// intake beats one fsync per webhook.
//
// The rows are the truth, and the queue: the same statement notifies
// store.WebhooksChannel when it stored a pending row, so the notification
// is delivered at the commit (never before, never lost with it), and the
// inbox Claimer (app/worker) takes the rows in arrival order. No job is
// inserted per webhook.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/store"
)

// Statuses a delivery can be stored with.
const (
	StatusPending = "pending"
	StatusFailed  = "failed"
	StatusIgnored = "ignored"
)

// Delivery is one verified webhook to store.
type Delivery struct {
	ShopDomain  string
	WebhookID   string
	EventID     string
	Topic       string
	APIVersion  string
	TriggeredAt *time.Time
	Headers     map[string]string
	Body        []byte
	// OrderKey is the Shopify order the delivery is about ("" for none):
	// webhooks of one order are never applied at once.
	OrderKey string
	// Status is StatusPending, or StatusFailed with Error when the intake
	// already knows processing cannot succeed (malformed JSON).
	Status string
	Error  string
}

// Result is what happened to a delivery.
type Result struct {
	ID        int64  // inbox row id; 0 for a duplicate
	Status    string // stored status; "" for a duplicate
	Reason    string // why it was ignored or failed
	Duplicate bool   // the same (shop, webhook id) was already stored
}

// Options tune a Writer.
type Options struct {
	Committers int // concurrent committing transactions (default 2)
	MaxBatch   int // deliveries per transaction at most (default 64)
	Queue      int // deliveries waiting for a committer at most (default 4096)
	// NotifyEvery is the shortest time between two commits that notify
	// store.WebhooksChannel (default 50 ms). PostgreSQL commits notifying
	// transactions one at a time, each with its own WAL flush (a global
	// lock held through the commit), so a notification in every commit
	// would undo the group commit of concurrent committers. A commit
	// inside the interval skips it, and one notification follows when the
	// interval ends: a claimer hears of new rows at most NotifyEvery late
	// (and one already working looks again after every batch anyway).
	NotifyEvery time.Duration
}

// Writer groups deliveries into transactions.
type Writer struct {
	pool       *pgxpool.Pool
	opts       Options
	reqs       chan *request
	committing atomic.Int32 // committers inside a commit now
	slowAt     atomic.Int64 // unix nanoseconds when a delivery last waited over busyWait for a committer
	notifiedAt atomic.Int64 // unix nanoseconds of the last notifying commit
	owed       atomic.Bool  // a commit stored pending rows without notifying
	metrics    writerMetrics
}

type request struct {
	d    Delivery
	res  Result
	err  error
	done chan struct{}
	at   time.Time // when it was queued
}

type writerMetrics struct {
	batch  prometheus.Histogram
	commit prometheus.Histogram
}

// NewWriter returns a Writer.
func NewWriter(pool *pgxpool.Pool, opts Options) *Writer {
	if opts.Committers <= 0 {
		opts.Committers = 2
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	if opts.NotifyEvery <= 0 {
		opts.NotifyEvery = 50 * time.Millisecond
	}
	return &Writer{
		pool: pool, opts: opts,
		reqs: make(chan *request, opts.Queue),
		metrics: writerMetrics{
			batch: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "perkbridge_inbox_batch_size", Help: "Webhooks stored per intake transaction.",
				Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
			}),
			commit: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "perkbridge_inbox_commit_seconds", Help: "Duration of one intake transaction.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
			}),
		},
	}
}

// Collectors returns the Writer's metrics for registration.
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.metrics.batch, w.metrics.commit}
}

// Run commits deliveries until ctx is done; what is already queued is
// committed before it returns, so no accepted request is left waiting.
func (w *Writer) Run(ctx context.Context) {
	// The notifier outlives the committers, so the drain's commits are
	// announced too.
	nctx, stopNotifier := context.WithCancel(context.WithoutCancel(ctx))
	notifierDone := make(chan struct{})
	go func() { defer close(notifierDone); w.notifier(nctx) }()
	defer func() { stopNotifier(); <-notifierDone }()
	done := make(chan struct{}, w.opts.Committers)
	for range w.opts.Committers {
		go func() {
			w.loop(ctx)
			done <- struct{}{}
		}()
	}
	for range w.opts.Committers {
		<-done
	}
}

func (w *Writer) loop(ctx context.Context) {
	batch := make([]*request, 0, w.opts.MaxBatch)
	for {
		var first *request
		select {
		case first = <-w.reqs:
		case <-ctx.Done():
			// Drain: requests already queued still get their answer.
			for {
				select {
				case r := <-w.reqs:
					w.commit([]*request{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		// Take whatever else is already waiting, without waiting for more:
		// an idle system commits at once, a busy one commits in groups.
	fill:
		for len(batch) < w.opts.MaxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// notifySlot reports whether this commit should notify (no commit did in
// the last NotifyEvery) and takes the slot if so.
func (w *Writer) notifySlot() bool {
	last := w.notifiedAt.Load()
	now := time.Now().UnixNano()
	return now-last >= int64(w.opts.NotifyEvery) && w.notifiedAt.CompareAndSwap(last, now)
}

// notifier sends the notification commits skipped, once per NotifyEvery,
// after their commits; a final one when ctx ends.
func (w *Writer) notifier(ctx context.Context) {
	t := time.NewTicker(w.opts.NotifyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.payDebt(context.Background())
			return
		case <-t.C:
			w.payDebt(ctx)
		}
	}
}

func (w *Writer) payDebt(ctx context.Context) {
	if !w.owed.Swap(false) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w.notifiedAt.Store(time.Now().UnixNano())
	if _, err := w.pool.Exec(ctx, "SELECT pg_notify($1, '')", store.WebhooksChannel); err != nil {
		// The claimers' poll finds the rows anyway; try again next tick.
		w.owed.Store(true)
	}
}

// ErrOverloaded means the intake queue is full; the handler answers 503 and
// Shopify retries later.
var ErrOverloaded = errors.New("inbox: intake queue is full")

// Write stores d durably and returns once its transaction has committed.
func (w *Writer) Write(ctx context.Context, d Delivery) (Result, error) {
	if d.Status == "" {
		d.Status = StatusPending
	}
	r := &request{d: d, done: make(chan struct{}), at: time.Now()}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	default:
		return Result{}, ErrOverloaded
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		// The commit may still land; Shopify's retry is then deduplicated.
		return Result{}, ctx.Err()
	}
}

// complianceTopics are processed even for uninstalled or unknown shops:
// they are how Shopify tells us to delete data, and shop/redact arrives 48
// hours after uninstall by design.
var complianceTopics = []string{"shop/redact", "customers/redact", "customers/data_request"}

const insertSQL = `
WITH d AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::text[], $8::bytea[], $9::text[], $10::text[], $12::text[])
        AS d(shop_domain, webhook_id, event_id, topic, api_version, triggered_at, headers, body, status, last_error, order_key)
), decided AS (
    SELECT coalesce(s.id, 0) AS shop_id, d.*,
        CASE
            WHEN d.status <> 'pending' THEN d.status
            WHEN d.topic = ANY($11::text[]) THEN 'pending'
            WHEN s.id IS NULL THEN 'ignored'
            WHEN s.state <> 'active' THEN 'ignored'
            ELSE 'pending'
        END AS final_status,
        CASE
            WHEN d.status <> 'pending' THEN d.last_error
            WHEN d.topic = ANY($11::text[]) THEN ''
            WHEN s.id IS NULL THEN 'unknown shop: the app is not installed on ' || d.shop_domain
            WHEN s.state <> 'active' THEN 'shop uninstalled: no effect'
            ELSE ''
        END AS final_error
    FROM d LEFT JOIN shops s ON s.domain = d.shop_domain
), ins AS (
    INSERT INTO webhooks (shop_id, shop_domain, webhook_id, event_id, topic, api_version, triggered_at,
                          headers, body, status, last_error, processed_at, order_key)
    SELECT shop_id, shop_domain, webhook_id, event_id, topic, api_version, triggered_at,
           headers::jsonb, body, final_status, final_error,
           CASE WHEN final_status = 'pending' THEN NULL ELSE now() END, order_key
    FROM decided
    ON CONFLICT (shop_id, shop_domain, webhook_id) DO NOTHING
    RETURNING id, shop_domain, webhook_id, status, last_error
)
-- One notification per commit that stored a pending row; PostgreSQL
-- delivers it at the commit. (The uncorrelated subquery runs once.)
SELECT id, shop_domain, webhook_id, status, last_error FROM ins
WHERE (SELECT count(*) FROM (SELECT pg_notify($13, '') FROM ins WHERE status = 'pending' AND $14::bool LIMIT 1) n) >= 0`

func (w *Writer) commit(batch []*request) {
	w.committing.Add(1)
	defer w.committing.Add(-1)
	start := time.Now()
	if start.Sub(batch[0].at) > busyWait {
		w.slowAt.Store(start.UnixNano())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.store(ctx, batch)
	w.metrics.commit.Observe(time.Since(start).Seconds())
	w.metrics.batch.Observe(float64(len(batch)))
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

func (w *Writer) store(ctx context.Context, batch []*request) error {
	n := len(batch)
	var (
		domains, ids, events, topics, versions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		triggered                              = make([]*time.Time, n)
		headers, statuses, errs, orders        = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bodies                                 = make([][]byte, n)
	)
	for i, r := range batch {
		d := r.d
		domains[i], ids[i], events[i], topics[i], versions[i] = d.ShopDomain, d.WebhookID, d.EventID, d.Topic, d.APIVersion
		triggered[i], bodies[i], statuses[i], errs[i], orders[i] = d.TriggeredAt, d.Body, d.Status, d.Error, d.OrderKey
		h, _ := json.Marshal(d.Headers)
		headers[i] = string(h)
	}
	// One statement, one implicit transaction, one commit for the batch.
	notify := w.notifySlot()
	rows, err := w.pool.Query(ctx, insertSQL, domains, ids, events, topics, versions, triggered, headers, bodies, statuses, errs, complianceTopics, orders, store.WebhooksChannel, notify)
	if err != nil {
		return fmt.Errorf("inbox: insert: %w", err)
	}
	type key struct{ domain, id string }
	inserted := map[key]Result{}
	for rows.Next() {
		var res Result
		var k key
		if err := rows.Scan(&res.ID, &k.domain, &k.id, &res.Status, &res.Reason); err != nil {
			rows.Close()
			return fmt.Errorf("inbox: scan: %w", err)
		}
		inserted[k] = res
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inbox: insert: %w", err)
	}
	if !notify {
		for _, res := range inserted {
			if res.Status == StatusPending {
				w.owed.Store(true)
				break
			}
		}
	}
	// Map results back. A key inserted once answers its first request; any
	// other request with the same key (now, or stored earlier) is a duplicate.
	for _, r := range batch {
		k := key{r.d.ShopDomain, r.d.WebhookID}
		if res, ok := inserted[k]; ok {
			r.res = res
			delete(inserted, k)
		} else {
			r.res = Result{Duplicate: true}
		}
	}
	return nil
}

// Queued returns how many deliveries wait for a committer.
func (w *Writer) Queued() int { return len(w.reqs) }

// busyWait is how long a delivery may wait for a committer before intake
// counts as falling behind, and busyHold how long it counts so after.
const (
	busyWait = 10 * time.Millisecond
	busyHold = 250 * time.Millisecond
)

// Busy reports that intake is not keeping up: every committer is in a
// commit and deliveries wait for one, or within the last busyHold a
// delivery waited over busyWait before its commit began. Webhook
// processing defers to it (worker.ClaimerOptions.Yield), since
// acknowledgements come first: Shopify waits 5 s for one, while a stored
// webhook can wait. (Held a moment, because the claimers look between
// batches: an instant's sample misses most of a busy spell.)
func (w *Writer) Busy() bool {
	if len(w.reqs) > 0 && int(w.committing.Load()) >= w.opts.Committers {
		return true
	}
	return time.Now().UnixNano()-w.slowAt.Load() < int64(busyHold)
}
