package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/inbox"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
)

// claimBundle is a fresh database with a test_effects table: dispatchers
// write one row per webhook they apply, inside the batch's transaction, so
// committed applications are counted exactly and undone ones vanish.
type claimBundle struct {
	db  *store.DB
	st  *store.Store
	log *slog.Logger
}

func setupClaim(t *testing.T) *claimBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	if _, err := db.Pool.Exec(context.Background(), `CREATE TABLE test_effects (webhook_row bigint NOT NULL, claimer text NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	return &claimBundle{db: db, st: store.New(db.Gorm), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// insert stores n pending rows directly (no notification), the i-th about
// order orderOf(i) ("" for none), and returns their ids.
func (b *claimBundle) insert(t *testing.T, n int, orderOf func(i int) string) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		key := ""
		if orderOf != nil {
			key = orderOf(i)
		}
		if err := b.db.Pool.QueryRow(context.Background(), `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status, order_key)
VALUES ('claim.myshopify.com', $1, 'orders/paid', '{}', 'pending', $2) RETURNING id`, fmt.Sprintf("%s-%d", t.Name(), i), key).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// effect records that claimer applied wh, in the batch's transaction.
func effect(ctx context.Context, tx *store.Store, wh *store.Webhook, claimer string) error {
	return tx.Gorm().WithContext(ctx).Exec("INSERT INTO test_effects (webhook_row, claimer) VALUES (?, ?)", wh.ID, claimer).Error
}

// run starts a claimer until the returned stop (or the test's end); stop
// returns once Run has.
func (b *claimBundle) run(t *testing.T, dispatch worker.Dispatcher, opts worker.ClaimerOptions) (stop func()) {
	t.Helper()
	c := worker.NewClaimer(b.db, dispatch, b.log, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (b *claimBundle) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (b *claimBundle) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClaimer_FourClaimersExactlyOnce: four claimers (four workers each,
// small batches) race over 2,000 webhooks written through the real inbox
// while they run, every one of them delivered a second time too (the
// duplicate is dropped at intake): every webhook is applied exactly once,
// none is left behind, none needed a second attempt, no lease is left.
func TestClaimer_FourClaimersExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	const n = 2000
	var applied atomic.Int64
	for i := range 4 {
		name := fmt.Sprintf("c%d", i)
		b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			applied.Add(1)
			return nil, effect(ctx, tx, wh, name)
		}, worker.ClaimerOptions{ID: name, Batch: 7})
	}
	w := inbox.NewWriter(b.db.Pool, inbox.Options{})
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); w.Run(wctx) }()
	defer func() { stopWriter(); <-writerDone }()
	var wg sync.WaitGroup
	var dups, fresh atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				for range 2 { // each delivery twice: Shopify's retry
					res, err := w.Write(context.Background(), inbox.Delivery{ShopDomain: "race.myshopify.com", WebhookID: fmt.Sprint("r-", i),
						Topic: "customers/redact", Body: []byte(`{}`), OrderKey: fmt.Sprint(i % 50)})
					switch {
					case err != nil:
						t.Error(err)
						return
					case res.Duplicate:
						dups.Add(1)
					default:
						fresh.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != n || dups.Load() != n {
		t.Fatalf("%d stored, %d duplicates; want %d each", fresh.Load(), dups.Load(), n)
	}
	b.waitFor(t, "every webhook processed", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed'") == n
	})
	if got := b.count(t, "SELECT count(*) FROM test_effects"); got != n {
		t.Fatalf("%d effects for %d webhooks", got, n)
	}
	if got := b.count(t, "SELECT count(DISTINCT webhook_row) FROM test_effects"); got != n {
		t.Fatalf("%d webhooks applied, want %d", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE attempts <> 1 OR lease_holder IS NOT NULL OR lease_until IS NOT NULL"); got != 0 {
		t.Fatalf("%d rows retried or still leased", got)
	}
	if got := b.count(t, "SELECT count(DISTINCT claimer) FROM test_effects"); got < 2 {
		t.Fatalf("only %d claimer applied webhooks: no race", got)
	}
	// Applications rolled back (none here) would show as applied > n.
	if applied.Load() != n {
		t.Fatalf("dispatched %d times for %d webhooks", applied.Load(), n)
	}
}

// TestClaimer_OrderSerialised: webhooks of 40 orders, interleaved, worked
// by four claimers of four workers: two webhooks of one order are never
// applied at the same time, while webhooks of different orders are.
func TestClaimer_OrderSerialised(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	const n, orders = 400, 40
	b.insert(t, n, func(i int) string { return fmt.Sprint(1000 + i%orders) })
	var mu sync.Mutex
	inFlight := map[string]int{}
	var violations []string
	var concurrent, maxConcurrent atomic.Int64
	overlap := make(chan struct{}) // closed once two webhooks were applied at once
	var overlapOnce sync.Once
	dispatch := func(name string) worker.Dispatcher {
		return func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			mu.Lock()
			inFlight[wh.OrderKey]++
			if inFlight[wh.OrderKey] > 1 {
				violations = append(violations, fmt.Sprintf("order %s: row %d applied while another of its webhooks was", wh.OrderKey, wh.ID))
			}
			mu.Unlock()
			c := concurrent.Add(1)
			for m := maxConcurrent.Load(); c > m && !maxConcurrent.CompareAndSwap(m, c); m = maxConcurrent.Load() {
			}
			if c >= 2 {
				overlapOnce.Do(func() { close(overlap) })
			}
			// The first applications wait (at most 10 s) until two overlap,
			// so the test cannot pass by running one batch at a time.
			select {
			case <-overlap:
			case <-time.After(10 * time.Second):
			}
			err := effect(ctx, tx, wh, name) // a round trip with the order "held"
			concurrent.Add(-1)
			mu.Lock()
			inFlight[wh.OrderKey]--
			mu.Unlock()
			return nil, err
		}
	}
	for i := range 4 {
		name := fmt.Sprintf("s%d", i)
		b.run(t, dispatch(name), worker.ClaimerOptions{ID: name, Batch: 5})
	}
	b.waitFor(t, "every webhook processed", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed'") == n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Fatalf("%d concurrent applications of one order, e.g. %s", len(violations), violations[0])
	}
	if maxConcurrent.Load() < 2 {
		t.Fatal("no two webhooks were ever applied at once: the test proves nothing")
	}
	if got := b.count(t, "SELECT count(DISTINCT webhook_row) FROM test_effects"); got != n {
		t.Fatalf("%d webhooks applied, want %d", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE attempts <> 1"); got != 0 {
		t.Fatalf("%d webhooks needed another attempt (a lock conflict between batches?)", got)
	}
}

// TestClaimer_KilledClaimersRowsTakenOver: a claimer freezes mid-batch and
// its context is cancelled before it commits, its leases left held (what a
// kill -9 leaves behind). Another claimer takes its rows once the lease
// has ended, and applies each exactly once; when the frozen one wakes up,
// its late work is undone and changes nothing.
func TestClaimer_KilledClaimersRowsTakenOver(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	const n = 30
	const lease = time.Second
	ids := b.insert(t, n, nil)
	hang := make(chan struct{})
	var frozen atomic.Int64
	stopDoomed := make(chan struct{})
	doomedDone := make(chan struct{})
	go func() {
		defer close(doomedDone)
		c := worker.NewClaimer(b.db, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			if err := effect(ctx, tx, wh, "doomed"); err != nil {
				return nil, err
			}
			frozen.Add(1)
			<-hang // frozen: deaf to its context
			return nil, nil
		}, b.log, worker.ClaimerOptions{ID: "doomed", Workers: 1, Batch: 10, Lease: lease, ShutdownGrace: time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-stopDoomed; cancel() }()
		_ = c.Run(ctx)
	}()
	b.waitFor(t, "the doomed claimer to hold a batch", func() bool { return frozen.Load() == 1 })
	close(stopDoomed) // its context ends before the commit: the batch can neither commit nor release
	held := b.count(t, "SELECT count(*) FROM webhooks WHERE lease_holder LIKE 'doomed:%' AND status = 'pending'")
	if held != 10 {
		t.Fatalf("the doomed claimer holds %d rows, want its batch of 10", held)
	}
	killedAt := time.Now()
	b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		return nil, effect(ctx, tx, wh, "survivor")
	}, worker.ClaimerOptions{ID: "survivor", PollInterval: 100 * time.Millisecond})
	b.waitFor(t, "every webhook processed by the survivor", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed'") == n
	})
	took := time.Since(killedAt)
	// Not a timing assertion on speed: a bound that fails only if the rows
	// were never taken over within the lease (here 1 s) and a poll.
	if took > lease+20*time.Second {
		t.Fatalf("takeover took %v with a lease of %v", took, lease)
	}
	// The doomed batch's rows were claimed twice, and taken over only
	// after their lease ended.
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE attempts = 2"); got != 10 {
		t.Fatalf("%d rows claimed twice, want the 10 of the doomed batch", got)
	}
	close(hang) // the frozen claimer wakes up: its transaction is gone
	<-doomedDone
	if got := b.count(t, "SELECT count(*) FROM test_effects WHERE claimer = 'survivor'"); got != n {
		t.Fatalf("the survivor applied %d webhooks, want %d", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM test_effects"); got != n {
		t.Fatalf("%d effects for %d webhooks: the dead claimer's work counted", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE id = ANY($1) AND status = 'processed' AND lease_holder IS NULL", ids); got != n {
		t.Fatalf("%d of %d rows processed and released", got, n)
	}
	t.Logf("a killed claimer's rows were taken over %v after the kill (lease %v)", took.Round(time.Millisecond), lease)
}

// TestClaimer_OneFailureDoesNotFailTheBatch: ten webhooks claimed and
// applied in one transaction, where one fails after writing, one can never
// succeed, one is ignored and one panics: each is settled on its own (the
// failure's effects undone by its savepoint, the ignored one's kept), the
// others commit, and the retried ones succeed or run out of attempts.
func TestClaimer_OneFailureDoesNotFailTheBatch(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	ids := b.insert(t, 10, nil)
	const flaky, broken, ignored, panics, hopeless = 2, 4, 6, 7, 9
	var calls sync.Map // row id -> *atomic.Int64
	dispatch := func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		v, _ := calls.LoadOrStore(wh.ID, new(atomic.Int64))
		call := v.(*atomic.Int64).Add(1)
		if err := effect(ctx, tx, wh, fmt.Sprint(call)); err != nil {
			return nil, err
		}
		switch wh.ID {
		case ids[flaky]:
			if call == 1 {
				return nil, errors.New("loyalty: transient trouble")
			}
		case ids[broken]:
			return nil, job.Permanent(errors.New("payload does not match the topic's schema"))
		case ids[ignored]:
			return nil, job.Ignore("test order: no loyalty effect")
		case ids[panics]:
			if call == 1 {
				panic("nil map")
			}
		case ids[hopeless]:
			return nil, errors.New("loyalty: still broken")
		}
		return nil, nil
	}
	// One worker, batches of ten, retries due at once, three attempts.
	b.run(t, dispatch, worker.ClaimerOptions{ID: "one", Workers: 1, Batch: 10, MaxAttempts: 3,
		Backoff: func(int) time.Duration { return 0 }, PollInterval: 50 * time.Millisecond})
	b.waitFor(t, "every row settled", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'pending'") == 0
	})
	status := func(i int) (st, reason string, attempts int) {
		t.Helper()
		b.db.Pool.QueryRow(context.Background(), "SELECT status, last_error, attempts FROM webhooks WHERE id = $1", ids[i]).Scan(&st, &reason, &attempts)
		return
	}
	for i := range ids {
		st, reason, attempts := status(i)
		switch i {
		case flaky, panics:
			if st != "processed" || attempts != 2 {
				t.Errorf("row %d: %s after %d attempts, want processed at the second", i, st, attempts)
			}
		case broken:
			if st != "failed" || attempts != 1 || !strings.Contains(reason, "schema") {
				t.Errorf("permanent failure: %s after %d attempts, reason %q", st, attempts, reason)
			}
		case ignored:
			if st != "ignored" || reason != "test order: no loyalty effect" {
				t.Errorf("ignored: %s, %q", st, reason)
			}
		case hopeless:
			if st != "failed" || attempts != 3 || !strings.Contains(reason, "still broken") {
				t.Errorf("hopeless: %s after %d attempts, reason %q", st, attempts, reason)
			}
		default:
			if st != "processed" || attempts != 1 {
				t.Errorf("row %d: %s after %d attempts", i, st, attempts)
			}
		}
	}
	// Effects: each success and the ignored row once; nothing of a failed
	// attempt.
	for i, want := range map[int]string{flaky: "2", panics: "2", ignored: "1", 0: "1"} {
		var got []string
		rows, _ := b.db.Pool.Query(context.Background(), "SELECT claimer FROM test_effects WHERE webhook_row = $1", ids[i])
		for rows.Next() {
			var c string
			rows.Scan(&c)
			got = append(got, c)
		}
		rows.Close()
		if len(got) != 1 || got[0] != want {
			t.Errorf("row %d: effects of calls %v, want only call %s", i, got, want)
		}
	}
	if got := b.count(t, "SELECT count(*) FROM test_effects WHERE webhook_row = ANY($1)", []int64{ids[broken], ids[hopeless]}); got != 0 {
		t.Errorf("%d effects of failed webhooks committed", got)
	}
	// The first batch was one transaction: the rows it settled share its
	// start time.
	if got := b.count(t, "SELECT count(DISTINCT processed_at) FROM webhooks WHERE id = ANY($1)", []int64{ids[0], ids[1], ids[3], ids[5], ids[broken], ids[ignored], ids[8]}); got != 1 {
		t.Errorf("the first batch's rows were settled by %d transactions, want 1", got)
	}
}

// TestClaimer_GracefulShutdown: at shutdown a batch in progress finishes
// within the grace; one that cannot is rolled back and its rows released
// at once, due now, their attempt given back.
func TestClaimer_GracefulShutdown(t *testing.T) {
	t.Parallel()
	t.Run("BatchFinishes", func(t *testing.T) {
		t.Parallel()
		b := setupClaim(t)
		b.insert(t, 5, nil)
		entered, proceed := make(chan struct{}), make(chan struct{})
		var once sync.Once
		stop := b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			once.Do(func() { close(entered); <-proceed })
			return nil, effect(ctx, tx, wh, "g")
		}, worker.ClaimerOptions{ID: "g", Workers: 1, Batch: 5, ShutdownGrace: time.Minute})
		<-entered
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		close(proceed) // shutdown has begun (or is about to): the batch goes on
		<-stopped
		if got := b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed' AND lease_holder IS NULL"); got != 5 {
			t.Fatalf("%d of 5 processed by the batch under way at shutdown", got)
		}
	})
	t.Run("BatchCutReleased", func(t *testing.T) {
		t.Parallel()
		b := setupClaim(t)
		b.insert(t, 5, nil)
		var entered atomic.Bool
		stop := b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			if err := effect(ctx, tx, wh, "cut"); err != nil {
				return nil, err
			}
			entered.Store(true)
			<-ctx.Done() // longer than the grace
			return nil, ctx.Err()
		}, worker.ClaimerOptions{ID: "cut", Workers: 1, Batch: 5, ShutdownGrace: time.Millisecond})
		b.waitFor(t, "the batch to start", entered.Load)
		stop()
		if got := b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'pending' AND lease_holder IS NULL AND lease_until IS NULL AND attempts = 0 AND next_attempt_at <= now()"); got != 5 {
			t.Fatalf("%d of 5 rows released untouched", got)
		}
		if got := b.count(t, "SELECT count(*) FROM test_effects"); got != 0 {
			t.Fatalf("%d effects of the cut batch committed", got)
		}
	})
}

// TestClaimer_WokenByIntake: a claimer that polls once an hour still
// processes a webhook at once: the intake commit notifies it.
func TestClaimer_WokenByIntake(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	processed := make(chan int64, 1)
	c := worker.NewClaimer(b.db, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		processed <- wh.ID
		return nil, nil
	}, b.log, worker.ClaimerOptions{ID: "sleepy", Workers: 1, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The listener is up once it has connected; wait for that before
	// writing (the first look, at start, finds nothing).
	b.waitFor(t, "the listener", func() bool {
		return b.count(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND state = 'idle'") > 0
	})
	w := inbox.NewWriter(b.db.Pool, inbox.Options{})
	wctx, stopWriter := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); w.Run(wctx) }()
	defer func() { stopWriter(); <-wdone }()
	res, err := w.Write(context.Background(), inbox.Delivery{ShopDomain: "wake.myshopify.com", WebhookID: "w1", Topic: "shop/redact", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-processed:
		if id != res.ID {
			t.Fatalf("processed row %d, wrote %d", id, res.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not woken by the intake's notification")
	}
}

// TestClaimer_CrashLoopingWebhookFails: a row whose claims never settled
// (the process died on it every time) is failed with the reason once its
// attempts are spent, instead of killing the next process too.
func TestClaimer_CrashLoopingWebhookFails(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	ids := b.insert(t, 1, nil)
	// Eight claims already, the last holder gone (its lease ended).
	if _, err := b.db.Pool.Exec(context.Background(), `UPDATE webhooks SET attempts = $2, lease_holder = 'dead:1', lease_until = now() - interval '1 second' WHERE id = $1`,
		ids[0], job.MaxWebhookAttempts); err != nil {
		t.Fatal(err)
	}
	var dispatched atomic.Int64
	b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		dispatched.Add(1)
		return nil, nil
	}, worker.ClaimerOptions{ID: "next"})
	b.waitFor(t, "the row to fail", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'failed' AND last_error LIKE 'gave up after 8 attempts%'") == 1
	})
	if dispatched.Load() != 0 {
		t.Fatal("the crash-looping webhook was dispatched again")
	}
}

// TestClaimer_StuckBatchGivesUpItsRows: a batch stuck in a handler that
// ignores its context keeps its rows for a few leases (it renews them),
// then other claimers take them; its own late work is undone.
func TestClaimer_StuckBatchGivesUpItsRows(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	const lease = 600 * time.Millisecond
	b.insert(t, 3, nil)
	hang := make(chan struct{})
	var stuck atomic.Bool
	stopStuck := b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		if err := effect(ctx, tx, wh, "stuck"); err != nil {
			return nil, err
		}
		stuck.Store(true)
		<-hang
		return nil, nil
	}, worker.ClaimerOptions{ID: "stuck", Workers: 1, Batch: 3, Lease: lease})
	b.waitFor(t, "the batch to be stuck", stuck.Load)
	started := time.Now()
	b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		return nil, effect(ctx, tx, wh, "other")
	}, worker.ClaimerOptions{ID: "other", PollInterval: 50 * time.Millisecond})
	b.waitFor(t, "the rows taken over", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed'") == 3
	})
	// Held while renewed: not before the first lease plus a renewal.
	if held := time.Since(started); held < lease {
		t.Fatalf("taken over after %v, before the lease of %v ended: the renewal did not hold", held, lease)
	}
	close(hang)
	stopStuck()
	if got := b.count(t, "SELECT count(*) FROM test_effects WHERE claimer = 'stuck'"); got != 0 {
		t.Fatalf("%d effects of the stuck batch committed after it lost its rows", got)
	}
	if got := b.count(t, "SELECT count(*) FROM test_effects WHERE claimer = 'other'"); got != 3 {
		t.Fatalf("%d effects of the claimer that took over, want 3", got)
	}
}

// TestClaimer_BatchThatBreaksRunsOutOfAttempts: a webhook whose handling
// breaks the whole transaction (here: its connection dies) is not retried
// forever: every broken batch counts its attempt, and once they are spent
// the row is failed with the reason.
func TestClaimer_BatchThatBreaksRunsOutOfAttempts(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	b.insert(t, 1, nil)
	var calls atomic.Int64
	b.run(t, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		calls.Add(1)
		tx.Gorm().WithContext(ctx).Exec("SELECT pg_terminate_backend(pg_backend_pid())")
		return nil, nil
	}, worker.ClaimerOptions{ID: "poison", Workers: 1, MaxAttempts: 3, PollInterval: 50 * time.Millisecond})
	b.waitFor(t, "the row to fail", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'failed' AND last_error LIKE 'gave up after 3 attempts%'") == 1
	})
	if calls.Load() != 3 {
		t.Fatalf("dispatched %d times, want 3", calls.Load())
	}
}

// TestClaimer_YieldsToIntake: while intake is busy (Yield true) only the
// first worker applies batches, one per YieldMax, so processing still goes
// on; once intake has caught up the other workers claim again.
func TestClaimer_YieldsToIntake(t *testing.T) {
	t.Parallel()
	b := setupClaim(t)
	var busy atomic.Bool
	busy.Store(true)
	var inflight, most atomic.Int32
	release := make(chan struct{})
	var phase2 atomic.Bool
	dispatch := func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if phase2.Load() {
			// Held until a second worker is applying one too.
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		} else {
			// A little work, so batches of several workers would overlap.
			time.Sleep(2 * time.Millisecond)
		}
		return nil, effect(ctx, tx, wh, "c")
	}
	b.run(t, dispatch, worker.ClaimerOptions{ID: "yield", Workers: 4, Batch: 1, PollInterval: 20 * time.Millisecond, Yield: busy.Load, YieldMax: 5 * time.Millisecond})
	b.insert(t, 40, nil)
	b.waitFor(t, "40 webhooks applied while intake is busy", func() bool {
		return b.count(t, "SELECT count(*) FROM test_effects") == 40
	})
	if m := most.Load(); m != 1 {
		t.Fatalf("%d batches at once while intake was busy; want 1", m)
	}
	phase2.Store(true)
	busy.Store(false)
	for i := range 8 {
		if _, err := b.db.Pool.Exec(context.Background(), `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status)
VALUES ('claim.myshopify.com', $1, 'orders/paid', '{}', 'pending')`, fmt.Sprint("phase2-", i)); err != nil {
			t.Fatal(err)
		}
	}
	b.waitFor(t, "two workers at once after intake caught up", func() bool { return inflight.Load() >= 2 })
	close(release)
	b.waitFor(t, "every webhook applied", func() bool {
		return b.count(t, "SELECT count(*) FROM test_effects") == 48
	})
}
