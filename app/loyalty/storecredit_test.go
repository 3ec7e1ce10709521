package loyalty_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
	"github.com/perkbridge/perkbridge/webhooks"
)

const customerGID = "gid://shopify/Customer/115310627314723954"

// creditReward is a store credit reward: 500 points buy 5.00 of store
// credit that expires 90 days later.
var creditReward = program.Reward{ID: "credit-5", Name: "5.00 store credit", PointsCost: 500,
	DiscountType: program.DiscountStoreCredit, Value: decimal.NewFromInt(5), ExpiresAfterDays: 90}

// creditSetup gives b's Service a fake Shopify on b's clock (so expiries
// are in its future), quick retries, the customer known to Shopify, the
// store credit reward in the program, 1000 points, and the crash seam hook
// (nil for none). With inserter, redemptions kick their River job.
func creditSetup(t *testing.T, b *bundle, hook func(context.Context, int64) error, inserter bool) *fake.Shopify {
	t.Helper()
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: "key", APISecret: "secret", Now: b.clock.Now})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.InstallShop(b.shop.Domain)
	f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: sampleCustomerID, Email: "john@example.com"})
	clients := quickClients{fakeClients{app: &shopify.App{APIKey: "key", APISecret: "secret", ShopOrigin: srv.URL + "/{shop}"}, fake: f}}
	var jobs loyalty.JobInserter
	if inserter {
		rc, err := worker.NewClient(b.db.Pool, worker.Config{}, worker.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		jobs = rc
	}
	b.svc = loyalty.New(b.st, clients, jobs, b.log, loyalty.WithClock(b.clock.Now), loyalty.WithAfterShopifyCall(hook))
	b.proc = webhooks.NewProcessor(b.svc, b.log)
	b.program(t, b.shop, func(s *program.Settings) { s.Rewards = append(s.Rewards, creditReward) })
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	if _, err := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 1000, "gift", "g"); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStoreCredit_RedeemIssuesOnce: a store credit redemption reserves the
// points and journals the credit (pending, with its amount, currency and
// expiry) before Shopify is called; the credit is made once, for that
// customer, in the shop currency, with the expiry; store_credit_issued and
// wallet_points_redeemed are written only when Shopify confirmed it, and
// running the job again changes nothing.
func TestStoreCredit_RedeemIssuesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := creditSetup(t, b, nil, false)
	ctx := context.Background()
	before := b.balance(t, b.shop, sampleCustomerID)

	c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	wantExpiry := t0.In(ny).AddDate(0, 0, 90).UTC().Truncate(time.Second) // 90 calendar days in the shop's zone
	if c.Status != store.CouponPending || c.DiscountType != "store_credit" || c.DiscountValue != "5.00" || c.Currency != "USD" ||
		!strings.HasPrefix(c.Code, "SC-") || c.ExpiresAt == nil || !c.ExpiresAt.Equal(wantExpiry) {
		t.Fatalf("journal row %+v, want pending 5.00 USD expiring %s", c, wantExpiry)
	}
	if got := b.balance(t, b.shop, sampleCustomerID); got != before-500 {
		t.Fatalf("balance %d after redeeming, want %d", got, before-500)
	}
	if n := len(b.events(t, b.shop, "store_credit_issued")) + len(b.events(t, b.shop, "wallet_points_redeemed")); n != 0 {
		t.Fatalf("%d events before Shopify confirmed", n)
	}
	if len(f.StoreCredits(b.shop.Domain)) != 0 {
		t.Fatal("credited inside the redemption")
	}
	// The same request again buys nothing more.
	again, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "req-1")
	if err != nil || again.ID != c.ID {
		t.Fatalf("repeated request: %+v, %v", again, err)
	}

	for i := range 2 {
		if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, i == 1); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID)
	credits := f.StoreCredits(b.shop.Domain)
	if len(credits) != 1 {
		t.Fatalf("%d credits in Shopify, want 1", len(credits))
	}
	cr := credits[0]
	if got.Status != store.CouponActive || got.ShopifyDiscountID != cr.ID || cr.CustomerID != sampleCustomerID ||
		!cr.Amount.Equal(decimal.NewFromInt(5)) || cr.Currency != "USD" || !cr.ExpiresAt.Equal(wantExpiry) {
		t.Fatalf("row %+v, Shopify credit %+v", got, cr)
	}
	issued, redeemed := b.events(t, b.shop, "store_credit_issued"), b.events(t, b.shop, "wallet_points_redeemed")
	if len(issued) != 1 || len(redeemed) != 1 {
		t.Fatalf("%d store_credit_issued, %d wallet_points_redeemed", len(issued), len(redeemed))
	}
	pi, pr := props(t, issued[0]), props(t, redeemed[0])
	if pi["amount"] != float64(5) || pi["currency"] != "USD" || pi["points_spent"] != float64(500) || pi["reward_id"] != "credit-5" ||
		pi["expires_at"] != wantExpiry.Format(time.RFC3339) || pi["reward_name"] != "5.00 store credit" {
		t.Fatalf("store_credit_issued %v", pi)
	}
	if pr["points"] != float64(500) || pr["reward_id"] != "credit-5" || pr["coupon_code"] != nil {
		t.Fatalf("wallet_points_redeemed %v", pr)
	}
	if got := b.balance(t, b.shop, sampleCustomerID); got != before-500 {
		t.Fatalf("balance %d, want %d", got, before-500)
	}
	// A second credit of the same customer the same second gets its own
	// expiry second: the two can never be mistaken for one another.
	c2, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "req-2")
	if err != nil {
		t.Fatal(err)
	}
	if !c2.ExpiresAt.Equal(wantExpiry.Add(time.Second)) {
		t.Fatalf("second credit expires %s, want a second after the first", c2.ExpiresAt)
	}
	// Shopify expires store credit itself: the reward sweep never returns
	// its points.
	if n, err := b.svc.ExpireRewards(ctx, b.shop.ID, wantExpiry.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("ExpireRewards touched %d store credits (%v)", n, err)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestStoreCredit_FaultsNeverCreditTwice: whatever Shopify does (refuses,
// loses the answer after crediting, is down, throttles), a store credit
// ends credited exactly once with the points spent, or not credited with
// the points back and the reason in redemption_failed; never credited
// twice, never points kept without a credit.
func TestStoreCredit_FaultsNeverCreditTwice(t *testing.T) {
	t.Parallel()
	const callTries = 4 // 1 + 3 retries on 5xx per Admin API call
	for _, tc := range []struct {
		name       string
		fault      func(f *fake.Shopify, shop string)
		final      bool
		wantErr    bool
		wantStatus string
		retry      bool
		wantFinal  string
		wantReason string
	}{
		{name: "refused by Shopify", fault: func(f *fake.Shopify, shop string) {
			f.RefuseNextStoreCredit(shop, "CREDIT_LIMIT_EXCEEDED", "The operation would cause the account's credit limit to be exceeded.")
		}, wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "credit limit"},
		{name: "customer unknown to Shopify", fault: func(f *fake.Shopify, shop string) { f.RemoveCustomer(shop, sampleCustomerID) },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "Owner does not exist"},
		{name: "store credit scopes not granted", fault: func(f *fake.Shopify, shop string) { f.DenyStoreCredit(shop, true) },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "approves its store credit permissions"},
		{name: "shop currency changed", fault: func(f *fake.Shopify, shop string) { f.SetCurrency(shop, "EUR") },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "currency"},
		{name: "answer lost after Shopify credited", fault: func(f *fake.Shopify, shop string) { f.LoseNextAnswer(shop, http.StatusGatewayTimeout, callTries) },
			wantErr: true, wantStatus: store.CouponPending, retry: true, wantFinal: store.CouponActive},
		{name: "answers lost on the last attempt", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.LoseNextAnswer(shop, http.StatusGatewayTimeout, callTries) },
			wantStatus: store.CouponActive, wantFinal: store.CouponActive},
		{name: "down, then up: looked up, then credited once", fault: func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, callTries) },
			wantErr: true, wantStatus: store.CouponPending, retry: true, wantFinal: store.CouponActive},
		{name: "down on the last attempt, never credited: pending until no call can land, then failed", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, callTries) },
			wantStatus: store.CouponPending, wantFinal: store.CouponFailed, wantReason: "503"},
		{name: "down on the last attempt, look-up down too: left for the sweep", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, 2*callTries) },
			wantStatus: store.CouponPending, retry: true, wantFinal: store.CouponActive},
		{name: "throttled on the last attempt, never credited", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusTooManyRequests, 6) },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "throttled"},
		{name: "throttled: waits and credits once", fault: func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusTooManyRequests, 1) },
			wantStatus: store.CouponActive, wantFinal: store.CouponActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			f := creditSetup(t, b, nil, false)
			ctx := context.Background()
			before := b.balance(t, b.shop, sampleCustomerID)
			c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "click-1")
			if err != nil {
				t.Fatal(err)
			}
			if tc.fault != nil {
				tc.fault(f, b.shop.Domain)
			}
			err = b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, tc.final)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CreateCoupon err = %v, want error %v", err, tc.wantErr)
			}
			got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID)
			if got.Status != tc.wantStatus {
				t.Fatalf("row %s (%s), want %s", got.Status, got.LastError, tc.wantStatus)
			}
			if tc.retry {
				if got.LastError == "" {
					t.Error("a pending store credit does not say what went wrong")
				}
				b.clock.Add(loyalty.CreditCallQuiet) // the job's backoff, or the sweep
				if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			// The sweep's last attempt, once no earlier call can land.
			b.clock.Add(loyalty.CreditCallQuiet)
			if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, true); err != nil {
				t.Fatalf("again: %v", err)
			}
			got, _ = b.st.Coupon(ctx, b.shop.ID, c.ID)
			credits := f.StoreCredits(b.shop.Domain)
			issued, failed := b.events(t, b.shop, "store_credit_issued"), b.events(t, b.shop, "redemption_failed")
			switch tc.wantFinal {
			case store.CouponActive:
				if got.Status != store.CouponActive || len(credits) != 1 || got.ShopifyDiscountID != credits[0].ID {
					t.Fatalf("row %+v, Shopify holds %+v", got, credits)
				}
				if len(issued) != 1 || len(failed) != 0 {
					t.Fatalf("%d store_credit_issued, %d redemption_failed", len(issued), len(failed))
				}
				if got := b.balance(t, b.shop, sampleCustomerID); got != before-500 {
					t.Fatalf("balance %d, want %d", got, before-500)
				}
			case store.CouponFailed:
				if len(credits) != 0 || len(issued) != 0 || len(failed) != 1 {
					t.Fatalf("Shopify holds %d credits; %d issued, %d failed events", len(credits), len(issued), len(failed))
				}
				p := props(t, failed[0])
				if p["reward_id"] != "credit-5" || p["points"] != float64(500) || !strings.Contains(p["reason"].(string), tc.wantReason) {
					t.Fatalf("redemption_failed %v, want reason with %q", p, tc.wantReason)
				}
				if !strings.Contains(got.LastError, tc.wantReason) {
					t.Fatalf("the row's reason %q lacks %q", got.LastError, tc.wantReason)
				}
				if got := b.balance(t, b.shop, sampleCustomerID); got != before {
					t.Fatalf("balance %d, want the points back: %d", got, before)
				}
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}

var errCrash = errors.New("crash: the process died after Shopify answered")

// TestCrashSeam_ShopifyCallThenDeath: the process dies between Shopify's
// confirmation and the confirmation's write (the seam), for a discount
// code and for a store credit. Afterwards the recovery path (the coupon
// sweep re-kicks the row, River runs the job) finds in Shopify what the
// dead attempt made: the points are spent once, Shopify holds exactly one
// code or credit, the row is active and its events were written once.
func TestCrashSeam_ShopifyCallThenDeath(t *testing.T) {
	t.Parallel()
	for _, reward := range []string{"amount-5", "credit-5"} {
		t.Run(reward, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var crashes atomic.Int32
			crashed := make(chan int64, 1)
			hook := func(ctx context.Context, couponID int64) error {
				if crashes.Add(1) == 1 {
					crashed <- couponID
					return errCrash
				}
				return nil
			}
			f := creditSetup(t, b, hook, false) // no inserter: the kick is lost with the process
			ctx := context.Background()
			before := b.balance(t, b.shop, sampleCustomerID)
			c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, reward, "click-1")
			if err != nil {
				t.Fatal(err)
			}
			// The job's first run: Shopify makes the code or credit, then the
			// process dies before writing it down.
			if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); !errors.Is(err, errCrash) {
				t.Fatalf("CreateCoupon = %v, want the crash", err)
			}
			if id := <-crashed; id != c.ID {
				t.Fatalf("seam called for %d", id)
			}
			made := len(f.DiscountCodes(b.shop.Domain)) + len(f.StoreCredits(b.shop.Domain))
			if got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID); got.Status != store.CouponPending || made != 1 {
				t.Fatalf("after the crash: row %s, Shopify holds %d", got.Status, made)
			}

			// Recovery: a new process's sweep finds the row pending and its
			// River worker runs the job again.
			b.clock.Add(2 * time.Minute)
			startRiver(t, b, "restarted", 0)
			inserter, _ := worker.NewClient(b.db.Pool, worker.Config{}, worker.Deps{})
			if n, err := worker.KickStaleCoupons(ctx, inserter, b.svc, worker.CouponSweepAge); err != nil || n != 1 {
				t.Fatalf("sweep kicked %d, %v", n, err)
			}
			waitFor(t, "the recovered row to become active", func() bool {
				got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID)
				return got.Status == store.CouponActive
			})
			got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID)
			codes, credits := f.DiscountCodes(b.shop.Domain), f.StoreCredits(b.shop.Domain)
			created, issued := b.events(t, b.shop, "coupon_created"), b.events(t, b.shop, "store_credit_issued")
			redeemed := b.events(t, b.shop, "wallet_points_redeemed")
			if reward == "amount-5" {
				if len(codes) != 1 || len(credits) != 0 || got.ShopifyDiscountID != codes[0].ID || len(created) != 1 || len(issued) != 0 {
					t.Fatalf("codes %+v, credits %d, row %+v, %d coupon_created", codes, len(credits), got, len(created))
				}
				if err := fake.CheckRewardDiscount(codes[0], customerGID); err != nil {
					t.Fatal(err)
				}
			} else {
				if len(credits) != 1 || len(codes) != 0 || got.ShopifyDiscountID != credits[0].ID || len(issued) != 1 || len(created) != 0 {
					t.Fatalf("credits %+v, codes %d, row %+v, %d store_credit_issued", credits, len(codes), got, len(issued))
				}
			}
			if len(redeemed) != 1 {
				t.Fatalf("%d wallet_points_redeemed", len(redeemed))
			}
			if got := b.balance(t, b.shop, sampleCustomerID); got != before-500 {
				t.Fatalf("balance %d, want the points spent once: %d", got, before-500)
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}

// TestCancelRedemption: the merchant cancels an unused coupon: the code is
// deleted in Shopify, the points come back once with
// wallet_points_rewarded (reason redemption_cancelled), and cancelling
// again (or two clicks at once) changes nothing more. A coupon used on an
// order, a pending one, a store credit and another customer's coupon are
// refused.
func TestCancelRedemption(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := creditSetup(t, b, nil, false)
	ctx := context.Background()
	if _, err := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 1000, "more", "g2"); err != nil {
		t.Fatal(err)
	}
	before := b.balance(t, b.shop, sampleCustomerID)
	redeem := func(reward, key string) *store.Coupon {
		t.Helper()
		c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, reward, key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := redeem("amount-5", "k1")
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, c.ID); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("cancelling a pending coupon: %v, want conflict", err)
	}
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err != nil {
		t.Fatal(err)
	}
	codes := f.DiscountCodes(b.shop.Domain)
	if len(codes) != 1 {
		t.Fatalf("%d codes", len(codes))
	}
	if err := fake.CheckRewardDiscount(codes[0], customerGID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, 42, c.ID); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("another customer's coupon: %v, want not found", err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, c.ID)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
	}
	got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID)
	if got.Status != store.CouponCancelled || got.CancelledAt == nil || len(f.DiscountCodes(b.shop.Domain)) != 0 {
		t.Fatalf("row %+v, Shopify holds %d codes", got, len(f.DiscountCodes(b.shop.Domain)))
	}
	if bal := b.balance(t, b.shop, sampleCustomerID); bal != before {
		t.Fatalf("balance %d after cancelling, want %d", bal, before)
	}
	rewarded := b.events(t, b.shop, "wallet_points_rewarded")
	var back []map[string]any
	for _, e := range rewarded {
		if p := props(t, e); p["reason"] == "redemption_cancelled" {
			back = append(back, p)
		}
	}
	if len(back) != 1 || back[0]["points"] != float64(500) {
		t.Fatalf("cancellation events %v", back)
	}

	// Used on an order: 409, the code stays.
	used := redeem("amount-5", "k2")
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, used.ID, false); err != nil {
		t.Fatal(err)
	}
	withCode := order{ID: orderID + 5, Customer: sampleCustomerID, Subtotal: "30.00", Codes: []string{used.Code}}
	b.deliver(t, b.shop, "orders/create", withCode.body(t))
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, used.ID); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("cancelling a used coupon: %v, want conflict", err)
	}
	if len(f.DiscountCodes(b.shop.Domain)) != 1 {
		t.Fatal("a used coupon's code was deleted")
	}
	// Used in Shopify, its order's webhook not here yet: 409, the code stays.
	early := redeem("amount-5", "k4")
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, early.ID, false); err != nil {
		t.Fatal(err)
	}
	if !f.UseDiscount(b.shop.Domain, early.Code) {
		t.Fatal("no such code in Shopify")
	}
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, early.ID); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("cancelling a coupon Shopify counts as used: %v, want conflict", err)
	}
	if got, _ := b.st.Coupon(ctx, b.shop.ID, early.ID); got.Status != store.CouponActive || len(f.DiscountCodes(b.shop.Domain)) != 2 {
		t.Fatalf("a used coupon changed: %s", got.Status)
	}
	// A store credit: 409 (not taken back here).
	sc := redeem("credit-5", "k3")
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, sc.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, sc.ID); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("cancelling a store credit: %v, want conflict", err)
	}
	if bal := b.balance(t, b.shop, sampleCustomerID); bal != before-1500 {
		t.Fatalf("balance %d, want %d", bal, before-1500)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestCancelRedemption_CodeAlreadyGoneInShopify: a code deleted in Shopify
// before (a cancellation whose write was lost, or the merchant deleting it
// in the admin) still cancels: the points come back.
func TestCancelRedemption_CodeAlreadyGoneInShopify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := creditSetup(t, b, nil, false)
	ctx := context.Background()
	before := b.balance(t, b.shop, sampleCustomerID)
	c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "amount-5", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err != nil {
		t.Fatal(err)
	}
	f.DeleteDiscount(b.shop.Domain, f.DiscountCodes(b.shop.Domain)[0].ID)
	got, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, c.ID)
	if err != nil || got.Status != store.CouponCancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	if bal := b.balance(t, b.shop, sampleCustomerID); bal != before {
		t.Fatalf("balance %d, want %d", bal, before)
	}
	// Shopify down: 503-style error, nothing changed.
	c2, _ := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "amount-5", "k2")
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c2.ID, false); err != nil {
		t.Fatal(err)
	}
	f.FailNext(b.shop.Domain, http.StatusServiceUnavailable, 4)
	if _, err := b.svc.CancelRedemption(ctxAs("user:7"), b.shop.ID, sampleCustomerID, c2.ID); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("cancel with Shopify down: %v", err)
	}
	if got, _ := b.st.Coupon(ctx, b.shop.ID, c2.ID); got.Status != store.CouponActive || len(f.DiscountCodes(b.shop.Domain)) != 1 {
		t.Fatalf("row %s after a failed cancel", got.Status)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestStoreCredit_NeverTwoCallsInFlight: after a call whose outcome is
// unknown (here a 503, which Shopify never ran; it could as well have been
// a timeout still running there), a retry inside CreditCallQuiet looks the
// credit up but sends nothing; after it, one credit is sent. Two attempts
// racing on the same row send one call between them.
func TestStoreCredit_NeverTwoCallsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := creditSetup(t, b, nil, false)
	ctx := context.Background()
	c, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "k1")
	if err != nil {
		t.Fatal(err)
	}
	f.FailNext(b.shop.Domain, http.StatusServiceUnavailable, 1)
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err == nil {
		t.Fatal("a 503 answered no error")
	}
	credits := func() int { return len(f.StoreCredits(b.shop.Domain)) }
	mutations := func() int {
		n := 0
		for _, r := range f.Requests(b.shop.Domain) {
			if strings.Contains(string(r.Body), "storeCreditAccountCredit(") {
				n++
			}
		}
		return n
	}
	sent := mutations()
	b.clock.Add(loyalty.CreditCallQuiet / 2)
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err == nil || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("retry inside the quiet period = %v, want a wait", err)
	}
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, true); err != nil {
		t.Fatalf("last attempt inside the quiet period = %v, want left pending", err)
	}
	if got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID); got.Status != store.CouponPending || mutations() != sent || credits() != 0 {
		t.Fatalf("inside the quiet period: row %s, %d more calls, %d credits", got.Status, mutations()-sent, credits())
	}
	b.clock.Add(loyalty.CreditCallQuiet)
	if err := b.svc.CreateCoupon(ctx, b.shop.ID, c.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.st.Coupon(ctx, b.shop.ID, c.ID); got.Status != store.CouponActive || credits() != 1 || mutations() != sent+1 {
		t.Fatalf("after the quiet period: row %s, %d credits, %d more calls", got.Status, credits(), mutations()-sent)
	}

	// Racing attempts on a fresh row: one call between them.
	c2, err := b.svc.RedeemWithKey(ctxAs("shopper"), b.shop.ID, sampleCustomerID, "credit-5", "k2")
	if err != nil {
		t.Fatal(err)
	}
	sent = mutations()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.svc.CreateCoupon(ctx, b.shop.ID, c2.ID, false)
		}()
	}
	wg.Wait()
	if got, _ := b.st.Coupon(ctx, b.shop.ID, c2.ID); got.Status != store.CouponActive || credits() != 2 || mutations() != sent+1 {
		t.Fatalf("racing attempts: row %s, %d credits, %d calls", got.Status, credits(), mutations()-sent)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}
