package loyalty_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
	"github.com/perkbridge/perkbridge/webhooks"
)

// fakeClients hands out GraphQL clients of the fake Shopify with a valid
// token, as app/tenant.Service does for real shops.
type fakeClients struct {
	app  *shopify.App
	fake *fake.Shopify
}

func (c fakeClients) Client(sh *store.Shop) *shopify.Client {
	return c.app.NewClient(sh.Domain, tokenFunc(func() string { return c.fake.ValidAccessToken(sh.Domain) }))
}

type tokenFunc func() string

func (f tokenFunc) AccessToken(context.Context, bool) (string, error) { return f(), nil }

// shopifyBundle is a bundle whose Service creates coupons in a fake
// Shopify from River jobs.
type shopifyBundle struct {
	*bundle
	fake *fake.Shopify
}

func setupShopify(t *testing.T, startWorker bool) *shopifyBundle {
	t.Helper()
	b := setup(t)
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: "key", APISecret: "secret"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.InstallShop(b.shop.Domain)
	clients := fakeClients{app: &shopify.App{APIKey: "key", APISecret: "secret", ShopOrigin: srv.URL + "/{shop}"}, fake: f}
	inserter, err := worker.NewClient(b.db.Pool, worker.Config{}, worker.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	b.svc = loyalty.New(b.st, clients, inserter, b.log, loyalty.WithClock(b.clock.Now))
	b.proc = webhooks.NewProcessor(b.svc, b.log)
	if startWorker {
		startRiver(t, b, "w1", 0)
	}
	return &shopifyBundle{bundle: b, fake: f}
}

// startRiver runs a working River client with the loyalty workers, and an
// inbox claimer with webhookWorkers workers (0: the default), until the
// test ends.
func startRiver(t *testing.T, b *bundle, id string, webhookWorkers int) {
	t.Helper()
	startRiverWith(t, b, id, webhookWorkers, b.proc.Dispatch)
}

// startRiverWith is startRiver with the webhook dispatcher given.
func startRiverWith(t *testing.T, b *bundle, id string, webhookWorkers int, dispatch worker.Dispatcher) {
	t.Helper()
	startRiverOpts(t, b, worker.ClaimerOptions{ID: id, Workers: webhookWorkers}, dispatch)
}

// startRiverOpts is startRiverWith with the claimer's options given.
func startRiverOpts(t *testing.T, b *bundle, opts worker.ClaimerOptions, dispatch worker.Dispatcher) {
	t.Helper()
	id := opts.ID
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = time.Second
	}
	claimer := worker.NewClaimer(b.db, dispatch, log, opts)
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() { defer close(cdone); _ = claimer.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-cdone })
	rc, err := worker.NewClient(b.db.Pool, worker.Config{Work: true, ID: id},
		worker.Deps{Store: b.st, Logger: log, Loyalty: b.svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.Stop(ctx)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedeem_OldestExpiringFirstAndCouponInShopify: a redemption spends
// the soonest-expiring lots first (a lot that never expires last, though
// older), and the coupon is created in Shopify by the job, outside the
// transaction: one use, for that customer only, ending with the coupon.
func TestRedeem_OldestExpiringFirstAndCouponInShopify(t *testing.T) {
	t.Parallel()
	b := setupShopify(t, true)
	ctx := context.Background()
	// Lot 1: signup points that never expire (expiry off at the time).
	b.program(t, b.shop, func(s *program.Settings) { s.ExpiryMonths = 0; s.Tiers.Enabled = false })
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	// Lot 2: order points that expire in 12 months.
	b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
	b.clock.Add(24 * time.Hour)
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95"}.body(t))
	// Lot 3: a later order, expiring later.
	b.clock.Add(24 * time.Hour)
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID + 1, Customer: sampleCustomerID, Subtotal: "200.00"}.body(t))

	coupon, err := b.svc.Redeem(ctxAs("user:9"), b.shop.ID, sampleCustomerID, "amount-5") // 500 points
	if err != nil {
		t.Fatal(err)
	}
	es := b.entries(t, b.shop, sampleCustomerID)
	redeem := es[len(es)-1]
	c := b.customerRow(t, b.shop, sampleCustomerID)
	lots, _ := b.st.Lots(ctx, b.shop.ID, c.ID)
	if redeem.Kind != ledger.KindRedeem || len(redeem.Allocations) != 2 ||
		redeem.Allocations[0] != (ledger.Allocation{LotID: lots[1].ID, Points: 404}) ||
		redeem.Allocations[1] != (ledger.Allocation{LotID: lots[2].ID, Points: 96}) {
		t.Fatalf("redeem drew %+v from lots %+v", redeem.Allocations, lots)
	}
	if lots[0].Remaining != 100 {
		t.Fatalf("the never-expiring lot was spent: %+v", lots[0])
	}

	waitFor(t, "the coupon to become active", func() bool {
		got, _ := b.st.Coupon(ctx, b.shop.ID, coupon.ID)
		return got.Status == store.CouponActive
	})
	got, _ := b.st.Coupon(ctx, b.shop.ID, coupon.ID)
	codes := b.fake.DiscountCodes(b.shop.Domain)
	if len(codes) != 1 {
		t.Fatalf("%d discount codes in Shopify", len(codes))
	}
	d := codes[0]
	if d.Code != coupon.Code || d.ID != got.ShopifyDiscountID || d.UsageLimit != 1 || !d.AppliesOncePerCustomer ||
		len(d.CustomerIDs) != 1 || d.CustomerIDs[0] != "gid://shopify/Customer/115310627314723954" || d.EndsAt == "" {
		t.Fatalf("discount %+v, coupon %+v", d, got)
	}
	value := d.Input["customerGets"].(map[string]any)["value"].(map[string]any)["discountAmount"].(map[string]any)["amount"]
	if value != "5" {
		t.Fatalf("discount amount %v", value)
	}

	// The coupon used on an order raises coupon_redeemed once.
	withCode := order{ID: orderID + 2, Customer: sampleCustomerID, Subtotal: "30.00", Codes: []string{strings.ToLower(coupon.Code)}}
	b.deliver(t, b.shop, "orders/create", withCode.body(t))
	b.deliver(t, b.shop, "orders/paid", withCode.body(t))
	red := b.events(t, b.shop, "coupon_redeemed")
	if len(red) != 1 {
		t.Fatalf("%d coupon_redeemed events", len(red))
	}
	if p := props(t, red[0]); p["coupon_code"] != coupon.Code || p["order_id"] != "820982911946154510" || red[0].Channel != "online_store" {
		t.Fatalf("coupon_redeemed %v", p)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestRedeem_LostKickIsSwept: a coupon whose kick was lost (no job
// inserter) stays pending until the sweep re-kicks it.
func TestRedeem_LostKickIsSwept(t *testing.T) {
	t.Parallel()
	sb := setupShopify(t, false)
	ctx := context.Background()
	// A Service with no inserter: the kick is "lost".
	lost := loyalty.New(sb.st, nil, nil, sb.log, loyalty.WithClock(sb.clock.Now))
	sb.deliver(t, sb.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	lost.Adjust(ctxAs("user:1"), sb.shop.ID, sampleCustomerID, 400, "gift", "g")
	coupon, err := lost.Redeem(ctxAs("user:1"), sb.shop.ID, sampleCustomerID, "amount-5")
	if err != nil {
		t.Fatal(err)
	}
	startRiver(t, sb.bundle, "sweeper", 0)
	// The sweep that runs on start finds the coupon too young: once it has
	// completed, no job exists for the coupon and it is still pending.
	waitFor(t, "the sweep run on start", func() bool {
		return sb.count(t, "SELECT count(*) FROM river_job WHERE kind = 'sweep_coupons' AND state = 'completed'") >= 1
	})
	if n := sb.count(t, "SELECT count(*) FROM river_job WHERE kind = 'create_coupon'"); n != 0 {
		t.Fatalf("a lost kick was not lost: %d create_coupon jobs", n)
	}
	if got, _ := sb.st.Coupon(ctx, sb.shop.ID, coupon.ID); got.Status != store.CouponPending {
		t.Fatalf("a lost kick was not lost: %s", got.Status)
	}
	// The sweep (run here with the clock past the sweep age).
	sb.clock.Add(2 * time.Minute)
	inserter, _ := worker.NewClient(sb.db.Pool, worker.Config{}, worker.Deps{})
	n, err := worker.KickStaleCoupons(ctx, inserter, sb.svc, worker.CouponSweepAge)
	if err != nil || n != 1 {
		t.Fatalf("sweep kicked %d, %v", n, err)
	}
	if n, _ := worker.KickStaleCoupons(ctx, inserter, sb.svc, worker.CouponSweepAge); n != 0 {
		t.Fatalf("a second sweep doubled the live job (%d)", n)
	}
	waitFor(t, "the swept coupon to become active", func() bool {
		got, _ := sb.st.Coupon(ctx, sb.shop.ID, coupon.ID)
		return got.Status == store.CouponActive
	})
	if len(sb.fake.DiscountCodes(sb.shop.Domain)) != 1 {
		t.Fatal("no discount code in Shopify")
	}
}

// TestRedeem_FailedCouponGivesPointsBack: a coupon Shopify will never
// create (here: the shop uninstalled) is marked failed and its points come
// back, once.
func TestRedeem_FailedCouponGivesPointsBack(t *testing.T) {
	t.Parallel()
	sb := setupShopify(t, false)
	ctx := context.Background()
	sb.deliver(t, sb.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	sb.svc.Adjust(ctxAs("user:1"), sb.shop.ID, sampleCustomerID, 400, "gift", "g")
	coupon, err := sb.svc.Redeem(ctxAs("user:1"), sb.shop.ID, sampleCustomerID, "amount-5")
	if err != nil {
		t.Fatal(err)
	}
	if got := sb.balance(t, sb.shop, sampleCustomerID); got != 0 {
		t.Fatalf("balance %d", got)
	}
	if err := sb.st.MarkUninstalled(ctx, sb.shop.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := sb.svc.CreateCoupon(ctx, sb.shop.ID, coupon.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := sb.st.Coupon(ctx, sb.shop.ID, coupon.ID)
	if got.Status != store.CouponFailed || got.LastError == "" {
		t.Fatalf("coupon %+v", got)
	}
	if b := sb.balance(t, sb.shop, sampleCustomerID); b != 500 {
		t.Fatalf("balance after failure %d", b)
	}
	sb.reconcile(t, sb.shop, sampleCustomerID)
}
