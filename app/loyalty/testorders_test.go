package loyalty_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestOrders_TestOrdersCountOnlyWhenSwitchedOn: an order with "test": true
// (the Bogus gateway, a payment provider's test mode) is ignored by
// default: no order row, no customer, no points, no events. With the
// program's count_test_orders on it earns, is refunded and cancelled like a
// real order. One that earned while the switch was on is still cancelled
// after it is turned off. A real order earns either way. Payloads are the
// orders/paid and refunds/create samples with the fields edited; each step
// goes through the Processor as the worker runs it.
func TestOrders_TestOrdersCountOnlyWhenSwitchedOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const cust int64 = 9_007_199_254_740_993
	type step struct {
		topic  string // orders/paid, orders/cancelled or refunds/create
		count  bool   // count_test_orders while this webhook is processed
		status string // stored webhook status
	}
	cases := []struct {
		name    string
		test    bool
		steps   []step
		balance int64
		events  int // wallet_points_* events
	}{
		{name: "TestOrderIgnoredByDefault", test: true,
			steps: []step{
				{topic: "orders/create", status: store.WebhookIgnored},
				{topic: "orders/paid", status: store.WebhookIgnored},
				{topic: "orders/cancelled", status: store.WebhookIgnored},
			}},
		{name: "TestOrderEarnsWhenCounted", test: true,
			steps: []step{
				{topic: "orders/create", count: true, status: store.WebhookIgnored}, // recorded; earns on paid
				{topic: "orders/paid", count: true, status: store.WebhookProcessed},
				{topic: "refunds/create", count: true, status: store.WebhookProcessed},
			},
			balance: 30, events: 2}, // 40 earned, 10 taken back
		{name: "CountedTestOrderCancelledAfterSwitchOff", test: true,
			steps: []step{
				{topic: "orders/paid", count: true, status: store.WebhookProcessed},
				{topic: "orders/cancelled", count: false, status: store.WebhookProcessed},
			},
			balance: 0, events: 2},
		{name: "RealOrderEarnsWithSwitchOff", test: false,
			steps: []step{
				{topic: "orders/paid", status: store.WebhookProcessed},
				{topic: "refunds/create", status: store.WebhookProcessed},
			},
			balance: 30, events: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shop := b.newShop(t, "UTC")
			o := order{ID: orderID, Customer: cust, Subtotal: "40.00", Test: tc.test}
			for _, st := range tc.steps {
				b.program(t, shop, func(s *program.Settings) { s.Tiers.Enabled = false; s.CountTestOrders = st.count })
				var body []byte
				switch st.topic {
				case "refunds/create":
					body = refund{ID: 3001, Order: orderID, Lines: []string{"10.00"}}.body(t)
				case "orders/cancelled":
					body = set(t, o.body(t), "cancelled_at", "2026-03-02T10:00:00-05:00")
					body = set(t, body, "cancel_reason", "customer")
				default:
					body = o.body(t)
				}
				status, reason := b.deliver(t, shop, st.topic, body)
				if status != st.status {
					t.Fatalf("%s: status %s (%s), want %s", st.topic, status, reason, st.status)
				}
				if tc.test && !st.count && status == store.WebhookIgnored && !strings.Contains(reason, "test order") {
					t.Fatalf("%s: ignored for %q", st.topic, reason)
				}
			}
			if tc.balance == 0 && tc.events == 0 {
				for table, n := range map[string]int64{
					"orders":         b.count(t, "SELECT count(*) FROM orders WHERE shop_id = $1", shop.ID),
					"customers":      b.count(t, "SELECT count(*) FROM customers WHERE shop_id = $1", shop.ID),
					"ledger_entries": b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", shop.ID),
					"loyalty_events": b.count(t, "SELECT count(*) FROM loyalty_events WHERE shop_id = $1", shop.ID),
				} {
					if n != 0 {
						t.Errorf("%d %s rows for an ignored test order", n, table)
					}
				}
				return
			}
			if got := b.balance(t, shop, cust); got != tc.balance {
				t.Fatalf("balance %d, want %d; entries %v", got, tc.balance, keys(b.entries(t, shop, cust)))
			}
			var wallet int
			for _, e := range b.events(t, shop, "") {
				if strings.HasPrefix(e.Key, "wallet_points_") {
					wallet++
					if p := props(t, e); p["order_id"] != "820982911946154508" {
						t.Fatalf("event %s about order %v", e.Key, p["order_id"])
					}
				}
			}
			if wallet != tc.events {
				t.Fatalf("%d wallet events, want %d", wallet, tc.events)
			}
			b.reconcile(t, shop, cust)
		})
	}
}
