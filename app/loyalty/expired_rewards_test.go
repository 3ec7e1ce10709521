package loyalty_test

import (
	"context"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestExpireRewards: a reward coupon that reaches its end unused is marked
// expired; with return_expired_reward_points its points come back, once,
// with wallet_points_rewarded (reason reward_expired); without, they stay
// spent. A coupon used on an order before its end is left alone.
func TestExpireRewards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		back   bool
		used   bool
		status string
		refund int64
	}{
		{"points stay spent by default", false, false, store.CouponExpired, 0},
		{"points come back when the program says so", true, false, store.CouponExpired, 500},
		{"a used coupon is not expired", true, true, store.CouponActive, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			withQuickShopify(t, b)
			b.program(t, b.shop, func(s *program.Settings) { s.ReturnExpiredRewardPoints = tc.back; s.Tiers.Enabled = false })
			ctx := context.Background()
			b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
			b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 1000, "gift", "g")
			coupon, err := b.svc.RedeemWithKey(ctxAs("user:1"), b.shop.ID, sampleCustomerID, "amount-5", "r1")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.svc.CreateCoupon(ctx, b.shop.ID, coupon.ID, false); err != nil {
				t.Fatal(err)
			}
			if tc.used {
				withCode := order{ID: orderID + 9, Customer: sampleCustomerID, Subtotal: "30.00", Codes: []string{coupon.Code}}
				b.deliver(t, b.shop, "orders/paid", withCode.body(t))
			}
			before := b.balance(t, b.shop, sampleCustomerID)
			// The day before the end: nothing happens.
			if n, err := b.svc.ExpireRewards(ctx, b.shop.ID, coupon.ExpiresAt.Add(-24*time.Hour)); err != nil || n != 0 {
				t.Fatalf("before the end: %d, %v", n, err)
			}
			for range 2 { // twice: once is all it does
				if _, err := b.svc.RunMaintenance(ctx, b.shop.ID, coupon.ExpiresAt.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := b.st.Coupon(ctx, b.shop.ID, coupon.ID)
			if got.Status != tc.status {
				t.Fatalf("coupon %s, want %s", got.Status, tc.status)
			}
			if bal := b.balance(t, b.shop, sampleCustomerID); bal != before+tc.refund {
				t.Fatalf("balance %d, want %d", bal, before+tc.refund)
			}
			var returned int
			for _, e := range b.events(t, b.shop, "wallet_points_rewarded") {
				if p := props(t, e); p["reason"] == "reward_expired" {
					returned++
					if p["points"] != float64(500) {
						t.Errorf("returned %v points", p["points"])
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.refund > 0]; returned != want {
				t.Fatalf("%d reward_expired events, want %d", returned, want)
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}
