package loyalty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/inbox"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
	"github.com/perkbridge/perkbridge/webhooks"
)

// The property tests use seeded generators, so a failure reproduces; the
// seed and iteration are in every message.
const propertySeed = 20260302

// hook is one webhook of a scenario. Event names the logical event: a
// duplicate carries the same event (and maybe the same webhook id).
type hook struct {
	event     string
	topic     string
	body      []byte
	webhookID string
}

// orderPlan is what a scenario does to one order, for the oracle.
type orderPlan struct {
	customer  int64
	baseMinor int64
	refunds   []int64 // refunded line subtotals, minor units
	cancelled bool
}

// scenario is a generated set of customers' orders with refunds and
// cancellations, and a delivery sequence: every distinct webhook at least
// once plus at least 30% duplicates, shuffled into any interleaving.
type scenario struct {
	distinct   []hook
	deliveries []hook
	plans      []orderPlan
	customers  []int64
}

func minor(v int64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }

func genScenario(t testing.TB, rng *rand.Rand, customers, maxOrders int) scenario {
	t.Helper()
	var sc scenario
	nextID := int64(7_000_000_000_000_000_000) // above 2^53: ids must survive exactly
	id := func() int64 { nextID += 1 + rng.Int64N(1000); return nextID }
	for range customers {
		cust := id()
		sc.customers = append(sc.customers, cust)
		for range 1 + rng.IntN(maxOrders) {
			oid := id()
			p := orderPlan{customer: cust, baseMinor: 1 + rng.Int64N(200_000)}
			if rng.IntN(8) == 0 {
				p.baseMinor = 1 + rng.Int64N(300) // tiny: rounding dominates
			}
			o := order{ID: oid, Customer: cust, Subtotal: minor(p.baseMinor)}
			sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("paid:%d", oid), topic: "orders/paid", body: o.body(t)})
			for range rng.IntN(4) {
				// A refund of up to 70% of the base in one or two lines;
				// several may add up to more than the base.
				amount := rng.Int64N(p.baseMinor*7/10 + 2)
				lines := []string{minor(amount)}
				if amount > 1 && rng.IntN(2) == 0 {
					part := rng.Int64N(amount)
					lines = []string{minor(part), minor(amount - part)}
				}
				p.refunds = append(p.refunds, amount)
				rid := id()
				sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("refund:%d", rid), topic: "refunds/create",
					body: refund{ID: rid, Order: oid, Lines: lines}.body(t)})
			}
			if rng.IntN(10) < 3 {
				p.cancelled = true
				sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("cancel:%d", oid), topic: "orders/cancelled", body: o.body(t)})
			}
			sc.plans = append(sc.plans, p)
		}
	}
	for i := range sc.distinct {
		sc.distinct[i].webhookID = uuid.NewString()
	}
	sc.deliveries = append(sc.deliveries, sc.distinct...)
	dups := 0
	for dups*10 < len(sc.deliveries)*3 || rng.IntN(3) > 0 { // ≥ 30% of all deliveries are duplicates
		d := sc.distinct[rng.IntN(len(sc.distinct))]
		if rng.IntN(2) == 0 {
			d.webhookID = uuid.NewString() // the same event under a new webhook id
		} // else a redelivery with the same X-Shopify-Webhook-Id
		sc.deliveries = append(sc.deliveries, d)
		dups++
		if dups > 4*len(sc.distinct) {
			break
		}
	}
	rng.Shuffle(len(sc.deliveries), func(i, j int) { sc.deliveries[i], sc.deliveries[j] = sc.deliveries[j], sc.deliveries[i] })
	if float64(len(sc.deliveries)-len(sc.distinct))/float64(len(sc.deliveries)) < 0.3 {
		t.Fatalf("only %d duplicates of %d deliveries", len(sc.deliveries)-len(sc.distinct), len(sc.deliveries))
	}
	return sc
}

// firstSeen returns the distinct events in the order of their first
// delivery: the sequence that applying each once "in order" means.
func (sc scenario) firstSeen() []hook {
	seen := map[string]bool{}
	var out []hook
	for _, d := range sc.deliveries {
		if !seen[d.event] {
			seen[d.event] = true
			out = append(out, d)
		}
	}
	return out
}

// expectedBalances is the oracle, from the ledger's rules alone: each order
// nets what it earned less floor(earned × refunded ÷ base), or nothing when
// cancelled, whatever the arrival order.
func (sc scenario) expectedBalances(s program.Settings) map[int64]int64 {
	out := map[int64]int64{}
	for _, c := range sc.customers {
		out[c] = 0
	}
	for _, p := range sc.plans {
		if p.cancelled {
			continue
		}
		earned := ledger.PointsForOrder(p.baseMinor, s, decimal.NewFromInt(1), 2)
		var refunded int64
		for _, r := range p.refunds {
			refunded += r
		}
		out[p.customer] += earned - ledger.ReversalForRefundCumulative(earned, 0, refunded, p.baseMinor)
	}
	return out
}

func propertySettings(s *program.Settings) {
	// Tiers off: a tier multiplier would make one order's points depend on
	// the processing order of the customer's other orders.
	s.Tiers.Enabled = false
}

// TestProperty_DuplicatesAndInterleavings_Direct drives the Service
// directly, for many seeded scenarios: a shuffled delivery sequence with
// ≥30% duplicates gives the same ledger (multiset of customer, kind,
// points, key) and balances as the distinct events applied once in order;
// every balance equals the sum of its ledger after every delivery; the
// balances match the oracle; lots reconcile.
func TestProperty_DuplicatesAndInterleavings_Direct(t *testing.T) {
	t.Parallel()
	iterations := 60
	if testing.Short() {
		iterations = 10
	}
	b := setup(t)
	for it := range iterations {
		rng := rand.New(rand.NewPCG(propertySeed, uint64(it)))
		sc := genScenario(t, rng, 2+rng.IntN(4), 3)
		got, want := b.newShop(t, "UTC"), b.newShop(t, "UTC")
		settings := b.program(t, got, propertySettings)
		b.program(t, want, propertySettings)
		for i, d := range sc.deliveries {
			b.direct(t, got, d.topic, d.body)
			if i%5 == 0 || i == len(sc.deliveries)-1 {
				b.balancesMatchLedger(t, got)
			}
		}
		for _, d := range sc.firstSeen() {
			b.direct(t, want, d.topic, d.body)
		}
		compareShops(t, b, got, want, fmt.Sprintf("seed %d iteration %d", propertySeed, it))
		if bal, exp := b.balances(t, got), sc.expectedBalances(settings); !sameBalances(bal, exp) {
			t.Fatalf("seed %d iteration %d: balances %v, oracle %v", propertySeed, it, bal, exp)
		}
		for _, c := range sc.customers {
			b.reconcile(t, got, c)
		}
	}
}

func compareShops(t testing.TB, b *bundle, got, want *store.Shop, where string) {
	t.Helper()
	gl, wl := b.shopLedger(t, got), b.shopLedger(t, want)
	if !reflect.DeepEqual(gl, wl) {
		t.Fatalf("%s: ledgers differ\n got %v\nwant %v", where, gl, wl)
	}
	if gb, wb := b.balances(t, got), b.balances(t, want); !reflect.DeepEqual(gb, wb) {
		t.Fatalf("%s: balances %v, want %v", where, gb, wb)
	}
	b.balancesMatchLedger(t, got)
}

func sameBalances(got, want map[int64]int64) bool {
	for c, w := range want {
		if got[c] != w {
			return false
		}
	}
	for c, g := range got {
		if want[c] != g {
			return false
		}
	}
	return true
}

// intake is the real webhook intake (handler, HMAC, group-commit inbox)
// over a bundle's database.
type intake struct {
	srv *httptest.Server
}

const webhookSecret = "loyalty-test-secret"

func startIntake(t *testing.T, b *bundle) *intake {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := inbox.NewWriter(b.db.Pool, inbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h := webhooks.NewHandler(&shopify.App{APIKey: "k", APISecret: webhookSecret}, w, log, prometheus.NewRegistry())
	e := echo.New()
	e.POST("/webhooks", h.Serve)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &intake{srv: srv}
}

// send delivers a signed webhook and requires the 200.
func (in *intake) send(t testing.TB, shop *store.Shop, d hook) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.srv.URL+"/webhooks", bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", d.topic)
	req.Header.Set("X-Shopify-Shop-Domain", shop.Domain)
	req.Header.Set("X-Shopify-Webhook-Id", d.webhookID)
	req.Header.Set("X-Shopify-Event-Id", d.event)
	req.Header.Set("X-Shopify-API-Version", "2026-10")
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	req.Header.Set("X-Shopify-Hmac-Sha256", fake.SignShopifyWebhook(webhookSecret, d.body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", d.topic, resp.StatusCode)
	}
}

// settled waits until no inbox row of shop is pending and checks none
// failed.
func settled(t *testing.T, b *bundle, shop *store.Shop) {
	t.Helper()
	waitFor(t, "the backlog to drain", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status = 'pending'", shop.ID) == 0
	})
	if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status NOT IN ('processed', 'ignored')", shop.ID); n != 0 {
		var reason string
		b.db.Pool.QueryRow(context.Background(), "SELECT last_error FROM webhooks WHERE shop_id = $1 AND status = 'failed' LIMIT 1", shop.ID).Scan(&reason)
		t.Fatalf("%d webhooks failed: %s", n, reason)
	}
}

// TestProperty_ThroughWebhookPipeline sends the shuffled deliveries with
// duplicates (half redelivered under the same webhook id, half under a new
// one) as signed HTTP webhooks through the real handler and inbox; one
// claimer worker then processes the backlog in arrival order through the
// Processor and the Service. The ledger and balances equal those of the
// distinct events applied once, in order, directly.
func TestProperty_ThroughWebhookPipeline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := startIntake(t, b)
	rng := rand.New(rand.NewPCG(propertySeed, 1000))
	type run struct {
		sc        scenario
		got, want *store.Shop
	}
	var runs []run
	for range 3 {
		sc := genScenario(t, rng, 6, 3)
		got, want := b.newShop(t, "UTC"), b.newShop(t, "UTC")
		b.program(t, got, propertySettings)
		b.program(t, want, propertySettings)
		for _, d := range sc.deliveries {
			in.send(t, got, d)
		}
		for _, d := range sc.firstSeen() {
			b.direct(t, want, d.topic, d.body)
		}
		runs = append(runs, run{sc, got, want})
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", runs[0].got.ID); n != 0 {
		t.Fatal("processing happened before the worker started")
	}
	inArrivalOrder := startSingleWorker(t, b, "single")
	for _, r := range runs {
		settled(t, b, r.got)
	}
	inArrivalOrder()
	settings := program.Defaults()
	propertySettings(&settings)
	for i, r := range runs {
		settled(t, b, r.got)
		where := fmt.Sprintf("seed %d pipeline run %d", propertySeed, i)
		compareShops(t, b, r.got, r.want, where)
		if bal, exp := b.balances(t, r.got), r.sc.expectedBalances(settings); !sameBalances(bal, exp) {
			t.Fatalf("%s: balances %v, oracle %v", where, bal, exp)
		}
		// Redeliveries under the same webhook id were stopped at intake.
		distinctIDs := map[string]bool{}
		for _, d := range r.sc.deliveries {
			distinctIDs[d.webhookID] = true
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1", r.got.ID); n != int64(len(distinctIDs)) {
			t.Fatalf("%s: %d inbox rows for %d webhook ids", where, n, len(distinctIDs))
		}
		for _, c := range r.sc.customers {
			b.reconcile(t, r.got, c)
		}
	}
}

// startSingleWorker runs one claimer worker (one batch at a time, each in
// row order) and returns a check that the rows it applied so far were
// applied in ascending id order, each once: the order the inbox
// acknowledged them (a reordering of sequential deliveries reorders the
// ledger with them).
func startSingleWorker(t *testing.T, b *bundle, id string) (inArrivalOrder func()) {
	t.Helper()
	var mu sync.Mutex
	var applied []int64
	startRiverWith(t, b, id, 1, func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
		mu.Lock()
		applied = append(applied, wh.ID)
		mu.Unlock()
		return b.proc.Dispatch(ctx, tx, wh)
	})
	return func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(applied) == 0 {
			t.Fatal("nothing applied")
		}
		for i := 1; i < len(applied); i++ {
			if applied[i] <= applied[i-1] {
				t.Fatalf("inbox row %d applied after row %d: out of arrival order (or twice)", applied[i], applied[i-1])
			}
		}
	}
}

// TestConcurrentWorkers_SameBacklog: two claimers (different ids) on one
// database drain the same backlog concurrently, four batches of three at
// a time each; the result equals one worker's. Processing order across
// webhooks of one order is not fixed under concurrency, and the way a
// refund's points split between refund entries depends on it (ledger
// rounds per cumulative step), so the comparison is on what the ledger
// promises is order-independent: every balance, and per order the points
// earned less the points taken back, the cancellation, and for orders
// never cancelled the points earned and taken back; plus no failure, no
// retry (no deadlock) and reconciled lots. Both claimers must have taken
// rows (each waits at its first webhook until the other holds rows), or
// the test fails. The direct property test above shows the full ledger equality for
// a fixed order.
func TestConcurrentWorkers_SameBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := startIntake(t, b)
	rng := rand.New(rand.NewPCG(propertySeed, 2000))
	sc := genScenario(t, rng, 25, 3)
	got, want := b.newShop(t, "UTC"), b.newShop(t, "UTC")
	b.program(t, got, propertySettings)
	b.program(t, want, propertySettings)
	for _, d := range sc.deliveries {
		in.send(t, got, d)
	}
	for _, d := range sc.firstSeen() {
		b.direct(t, want, d.topic, d.body)
	}
	// Each claimer's first webhook waits until the other claimer has
	// claimed rows too (at most 10 s), so the first one started cannot
	// drain the backlog alone: both really work it, concurrently. (Waiting
	// for the other's first webhook instead could wait on this batch's
	// order locks.)
	ids := [2]string{"worker-a", "worker-b"}
	var took [2]atomic.Bool
	holds := func(i int) bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE lease_holder LIKE $1", ids[i]+":%") > 0
	}
	barrier := func(i int) worker.Dispatcher {
		var first sync.Once
		return func(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
			first.Do(func() {
				took[i].Store(true)
				for deadline := time.Now().Add(10 * time.Second); !took[1-i].Load() && !holds(1-i) && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
			})
			return b.proc.Dispatch(ctx, tx, wh)
		}
	}
	// Small batches: one claimer's batches must leave rows for the other.
	startRiverOpts(t, b, worker.ClaimerOptions{ID: ids[0], Workers: 4, Batch: 3}, barrier(0))
	startRiverOpts(t, b, worker.ClaimerOptions{ID: ids[1], Workers: 4, Batch: 3}, barrier(1))
	settled(t, b, got)

	if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND attempts > 1", got.ID); n != 0 {
		var errs string
		b.db.Pool.QueryRow(context.Background(), "SELECT coalesce(string_agg(last_error, E'\\n'), '') FROM webhooks WHERE shop_id = $1 AND attempts > 1", got.ID).Scan(&errs)
		t.Fatalf("%d webhooks needed a retry (lock conflict):\n%s", n, errs)
	}
	if !took[0].Load() || !took[1].Load() {
		t.Fatalf("only one claimer applied webhooks (%v, %v): the test did not run two workers concurrently", took[0].Load(), took[1].Load())
	}
	if gb, wb := b.balances(t, got), b.balances(t, want); !reflect.DeepEqual(gb, wb) {
		t.Fatalf("balances %v, one worker %v", gb, wb)
	}
	settings := program.Defaults()
	propertySettings(&settings)
	if bal, exp := b.balances(t, got), sc.expectedBalances(settings); !sameBalances(bal, exp) {
		t.Fatalf("balances %v, oracle %v", bal, exp)
	}
	// Per order: the net points and the cancellation always agree; earned
	// and taken back agree for orders never cancelled (a cancellation that
	// overtook the earn leaves 0 and 0 where the other order gives E and E).
	orderState := func(shop *store.Shop) map[string][4]int64 {
		rows, err := b.db.Pool.Query(context.Background(), "SELECT order_gid, earned, reversed, cancelled FROM orders WHERE shop_id = $1", shop.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][4]int64{}
		for rows.Next() {
			var gid string
			var e, r int64
			var c bool
			rows.Scan(&gid, &e, &r, &c)
			if c {
				out[gid] = [4]int64{e - r, 1, -1, -1}
			} else {
				out[gid] = [4]int64{e - r, 0, e, r}
			}
		}
		return out
	}
	if g, w := orderState(got), orderState(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("order states differ:\n got %v\nwant %v", g, w)
	}
	b.balancesMatchLedger(t, got)
	for _, c := range sc.customers {
		b.reconcile(t, got, c)
	}
}

// BenchmarkApplyOrder measures one orders/paid through the Service on a
// real database: customer and account, order row, ledger entry and lot,
// tier activity and rolling-window evaluation, events, in one transaction.
func BenchmarkApplyOrder(b *testing.B) {
	bb := setup(b)
	bb.program(b, bb.shop, nil) // defaults: tiers on, rolling 12-month window
	const customers = 500
	bodies := make([][]byte, 0, b.N)
	for i := range b.N {
		o := order{ID: 6_000_000_000_000_000_000 + int64(i), Customer: 5_000_000_000_000_000_000 + int64(i%customers), Subtotal: minor(1000 + int64(i%50_000))}
		bodies = append(bodies, o.body(b))
	}
	ctx := context.Background()
	orders := make([]shopify.Order, len(bodies))
	for i, body := range bodies {
		if err := json.Unmarshal(body, &orders[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		err := bb.st.Tx(ctx, func(tx *store.Store) error {
			return bb.svc.Order(ctx, tx, bb.shop, "orders/paid", &orders[i], 0)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := bb.count(b, "SELECT count(*) FROM ledger_entries WHERE kind = 'earn'"); n != int64(b.N) {
		b.Fatalf("%d earn entries for %d orders", n, b.N)
	}
}
