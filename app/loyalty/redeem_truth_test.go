package loyalty_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// quickClients are fakeClients whose 5xx retries wait a millisecond, so a
// test of Shopify's outages runs in milliseconds.
type quickClients struct{ fakeClients }

func (c quickClients) Client(sh *store.Shop) *shopify.Client {
	cl := c.fakeClients.Client(sh)
	cl.RetryBaseDelay = time.Millisecond
	return cl
}

// withQuickShopify gives b's Service a fake Shopify (with b's shop
// installed) whose clients retry in milliseconds, and returns the fake.
func withQuickShopify(t *testing.T, b *bundle) *fake.Shopify {
	t.Helper()
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: "key", APISecret: "secret"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.InstallShop(b.shop.Domain)
	clients := quickClients{fakeClients{app: &shopify.App{APIKey: "key", APISecret: "secret", ShopOrigin: srv.URL + "/{shop}"}, fake: f}}
	b.svc = loyalty.New(b.st, clients, nil, b.log, loyalty.WithClock(b.clock.Now))
	return f
}

// TestRedemption_EventsOnlyWhenShopifyConfirms: coupon_created and
// wallet_points_redeemed are written when, and only when, Shopify has
// confirmed the discount code exists; a code Shopify will never create
// gives the points back with redemption_failed; an answer lost on the way
// (a gateway timeout after Shopify created the code) is resolved by looking
// the code up, never by failing a code that works or by creating it twice.
func TestRedemption_EventsOnlyWhenShopifyConfirms(t *testing.T) {
	t.Parallel()
	// Each Admin API call is tried 4 times (1 + 3 retries on 5xx).
	const callTries = 4
	for _, tc := range []struct {
		name  string
		fault func(f *fake.Shopify, shop string)
		final bool // the job's last attempt
		// outcome of the first CreateCoupon
		wantErr    bool
		wantStatus string
		// a second attempt later (the job's retry, or the sweep)
		retry      bool
		wantFinal  string
		wantReason string
	}{
		{name: "confirmed", wantStatus: store.CouponActive, wantFinal: store.CouponActive},
		{name: "refused by Shopify", fault: func(f *fake.Shopify, shop string) { f.RefuseNextDiscount(shop, "Customer does not exist") },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "Customer does not exist"},
		{name: "answer lost after Shopify created it", fault: func(f *fake.Shopify, shop string) { f.LoseNextAnswer(shop, http.StatusGatewayTimeout, 1) },
			wantStatus: store.CouponActive, wantFinal: store.CouponActive},
		{name: "answers lost on the last attempt", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.LoseNextAnswer(shop, http.StatusGatewayTimeout, callTries) },
			wantStatus: store.CouponActive, wantFinal: store.CouponActive},
		{name: "down, then up: retried", fault: func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, callTries) },
			wantErr: true, wantStatus: store.CouponPending, retry: true, wantFinal: store.CouponActive},
		{name: "down on the last attempt, never created", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, callTries) },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "503"},
		{name: "throttled on the last attempt, never created", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusTooManyRequests, 6) },
			wantStatus: store.CouponFailed, wantFinal: store.CouponFailed, wantReason: "throttled"},
		{name: "down on the last attempt, look-up down too: left for the sweep", final: true,
			fault:      func(f *fake.Shopify, shop string) { f.FailNext(shop, http.StatusServiceUnavailable, 2*callTries) },
			wantStatus: store.CouponPending, retry: true, wantFinal: store.CouponActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			f := withQuickShopify(t, b)
			ctx := context.Background()

			b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
			if _, err := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 1000, "gift", "g"); err != nil {
				t.Fatal(err)
			}
			before := b.balance(t, b.shop, sampleCustomerID)
			coupon, err := b.svc.RedeemWithKey(ctxAs("user:1"), b.shop.ID, sampleCustomerID, "amount-5", "click-1")
			if err != nil {
				t.Fatal(err)
			}
			// Reserved, not announced: the points are held, no flow hears of a code yet.
			if got := b.balance(t, b.shop, sampleCustomerID); got != before-500 {
				t.Fatalf("balance after redeeming %d, want %d", got, before-500)
			}
			if n := len(b.events(t, b.shop, "coupon_created")) + len(b.events(t, b.shop, "wallet_points_redeemed")); n != 0 {
				t.Fatalf("%d redemption events before Shopify confirmed", n)
			}

			if tc.fault != nil {
				tc.fault(f, b.shop.Domain)
			}
			err = b.svc.CreateCoupon(ctx, b.shop.ID, coupon.ID, tc.final)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CreateCoupon err = %v, want error %v", err, tc.wantErr)
			}
			got, _ := b.st.Coupon(ctx, b.shop.ID, coupon.ID)
			if got.Status != tc.wantStatus {
				t.Fatalf("coupon %s (%s), want %s", got.Status, got.LastError, tc.wantStatus)
			}
			if tc.retry {
				if got.LastError == "" {
					t.Error("a pending coupon does not say what went wrong")
				}
				if err := b.svc.CreateCoupon(ctx, b.shop.ID, coupon.ID, false); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			// Running the job again after the outcome changes nothing.
			if err := b.svc.CreateCoupon(ctx, b.shop.ID, coupon.ID, true); err != nil {
				t.Fatalf("again: %v", err)
			}

			got, _ = b.st.Coupon(ctx, b.shop.ID, coupon.ID)
			created, redeemed := b.events(t, b.shop, "coupon_created"), b.events(t, b.shop, "wallet_points_redeemed")
			failed := b.events(t, b.shop, "redemption_failed")
			codes := f.DiscountCodes(b.shop.Domain)
			switch tc.wantFinal {
			case store.CouponActive:
				if got.Status != store.CouponActive || len(codes) != 1 || codes[0].Code != coupon.Code || got.ShopifyDiscountID != codes[0].ID {
					t.Fatalf("coupon %+v, Shopify holds %+v", got, codes)
				}
				if len(created) != 1 || len(redeemed) != 1 || len(failed) != 0 {
					t.Fatalf("%d coupon_created, %d wallet_points_redeemed, %d redemption_failed", len(created), len(redeemed), len(failed))
				}
				pc, pr := props(t, created[0]), props(t, redeemed[0])
				if pc["coupon_code"] != coupon.Code || pc["points_spent"] != float64(500) || pc["discount_type"] != "fixed_amount" ||
					pr["coupon_code"] != coupon.Code || pr["points"] != float64(500) || pr["reward_id"] != "amount-5" || redeemed[0].PointsBalance != before-500 {
					t.Fatalf("coupon_created %v, wallet_points_redeemed %v (balance %d)", pc, pr, redeemed[0].PointsBalance)
				}
				if b := b.balance(t, b.shop, sampleCustomerID); b != before-500 {
					t.Fatalf("balance %d, want %d", b, before-500)
				}
			case store.CouponFailed:
				if len(codes) != 0 || len(created)+len(redeemed) != 0 || len(failed) != 1 {
					t.Fatalf("Shopify holds %d codes; %d created, %d redeemed, %d failed events", len(codes), len(created), len(redeemed), len(failed))
				}
				p := props(t, failed[0])
				if p["reward_id"] != "amount-5" || p["points"] != float64(500) || !strings.Contains(p["reason"].(string), tc.wantReason) {
					t.Fatalf("redemption_failed %v, want reason with %q", p, tc.wantReason)
				}
				if got := b.balance(t, b.shop, sampleCustomerID); got != before || failed[0].PointsBalance != before {
					t.Fatalf("balance %d (event says %d), want the points back: %d", got, failed[0].PointsBalance, before)
				}
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}
