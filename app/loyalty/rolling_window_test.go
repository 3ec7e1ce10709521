package loyalty_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRefund_RollingWindowAtOrderDate: under the default rolling 12-month
// amount-spent tiers (Silver at 500.00), a refund lowers the window the
// refunded order counted in, dated at the order's earn, never as a new
// negative dated today: refunding a 13-month-old order leaves today's
// window alone, and a refund of an 11-month-old order leaves the window
// with its order, so neither drags the customer's later windows down.
// Every refund's tier activity is dated at its order's earn.
func TestRefund_RollingWindowAtOrderDate(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_101
	type step struct {
		at     time.Time
		topic  string // orders/paid or refunds/create
		order  int64
		amount string
	}
	month := func(n int) time.Time { return t0.AddDate(0, n, 0) }
	cases := []struct {
		name     string
		steps    []step
		tier     string
		windowAt time.Time
		metric   int64 // amount spent in the window ending at windowAt
	}{
		{"RefundOfOrderOutsideWindowLeavesTodayAlone", []step{
			{month(-13), "orders/paid", 1, "600.00"},
			{t0, "orders/paid", 2, "450.00"},
			{t0, "refunds/create", 1, "600.00"},
			{t0, "orders/paid", 3, "100.00"},
		}, "silver", t0, 55000},
		{"RefundLeavesTheWindowWithItsOrder", []step{
			{month(-11), "orders/paid", 1, "600.00"},
			{t0, "refunds/create", 1, "600.00"},
			{month(2), "orders/paid", 3, "550.00"},
		}, "silver", month(2), 55000},
		{"RefundInsideWindowStillLowersIt", []step{
			{month(-1), "orders/paid", 1, "600.00"},
			{t0, "refunds/create", 1, "600.00"},
		}, "silver", t0, 0}, // Silver is held until its window ends
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, nil) // defaults: rolling 12 months, amount spent
			earnedAt := map[int64]time.Time{}
			for i, s := range tc.steps {
				b.clock.Set(s.at)
				id := 7_200_000_000_000_000_000 + s.order
				line := id + 100
				switch s.topic {
				case "orders/paid":
					o := liveOrder{ID: id, Customer: customer, Email: "sam@example.com", UpdatedAt: s.at,
						Lines: []shopLine{{ID: line, Title: "Wool coat", Qty: 1, Price: s.amount}}}
					b.deliver(t, b.shop, s.topic, o.body(t))
					earnedAt[id] = s.at
				case "refunds/create":
					r := liveRefund{ID: 7_210_000_000_000_000_000 + int64(i), Order: id,
						Lines: []refundLine{{LineID: line, Qty: 1, Subtotal: s.amount}}, Money: []string{s.amount}}
					b.deliver(t, b.shop, s.topic, r.body(t))
					// The refund's tier activity is dated at its order's earn.
					var at time.Time
					err := b.db.Pool.QueryRow(context.Background(), "SELECT occurred_at FROM tier_activities WHERE shop_id = $1 AND source_key = $2",
						b.shop.ID, fmt.Sprintf("refund:%s", r.gid())).Scan(&at)
					if err != nil || !at.Equal(earnedAt[id]) {
						t.Fatalf("refund activity at %v (%v), want the order's earn %v", at, err, earnedAt[id])
					}
				}
			}
			if got := b.account(t, b.shop, customer).TierKey; got != tc.tier {
				t.Fatalf("tier %q, want %q", got, tc.tier)
			}
			from := tc.windowAt.AddDate(-1, 0, 0)
			if got := b.count(t, `SELECT coalesce(sum(spent_minor), 0) FROM tier_activities WHERE shop_id = $1 AND occurred_at >= $2 AND occurred_at <= $3`,
				b.shop.ID, from, tc.windowAt); got != tc.metric {
				t.Fatalf("amount spent in the window %d, want %d", got, tc.metric)
			}
			b.reconcile(t, b.shop, customer)
		})
	}
}
