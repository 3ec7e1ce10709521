package loyalty_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestOrder_GuestThenCustomerAttached: a POS sale (source_name pos, a
// location, no shipping) or a draft order is paid without a customer;
// staff attach the customer afterwards and Shopify sends orders/updated
// with customer set. The order earns then, for that customer, once however
// often orders/updated repeats, and the same when orders/updated overtakes
// orders/paid; a refund that came first is taken into account; the guest
// count ends the same in either order; with points earned on fulfilment,
// attaching a customer before fulfilment earns nothing early.
func TestOrder_GuestThenCustomerAttached(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_301
	const orderID int64 = 7_600_000_000_000_000_001
	beans := orderID + 101
	pos := liveOrder{ID: orderID, Source: "pos", LocationID: 68_455_334_091,
		Lines: []shopLine{{ID: beans, Title: "Espresso beans 1kg", Qty: 3, Price: "15.00", Tax: "3.60"}}}
	attached := pos
	attached.Customer, attached.Email, attached.UpdatedAt = customer, "lea@example.com", t0.Add(20*time.Minute)
	draft := pos
	draft.Source, draft.LocationID = "shopify_draft_order", 0
	draftAttached := attached
	draftAttached.Source, draftAttached.LocationID = "shopify_draft_order", 0
	refund := liveRefund{ID: 7_610_000_000_000_000_001, Order: orderID, Lines: []refundLine{{LineID: beans, Qty: 1, Subtotal: "15.00", Tax: "1.20"}}, Money: []string{"16.20"}}
	type step struct {
		topic string
		body  []byte
	}
	cases := []struct {
		name    string
		earnOn  program.EarnOn
		steps   []step
		balance int64
		keys    []string
		channel string
		guests  int64
	}{
		{"POSPaidThenAttached", program.EarnOnPaid, []step{
			{"orders/paid", pos.body(t)}, {"orders/updated", attached.body(t)}, {"orders/updated", attached.body(t)},
		}, 45, []string{"earn +45 earn:" + pos.gid() + ":order"}, "pos", 0},
		{"POSAttachedBeforePaidArrives", program.EarnOnPaid, []step{
			{"orders/updated", attached.body(t)}, {"orders/paid", pos.body(t)}, {"orders/paid", pos.body(t)},
		}, 45, []string{"earn +45 earn:" + pos.gid() + ":order"}, "pos", 0},
		{"DraftOrderRefundedThenAttached", program.EarnOnPaid, []step{
			{"orders/paid", draft.body(t)}, {"refunds/create", refund.body(t)}, {"orders/updated", draftAttached.body(t)},
		}, 30, []string{"earn +45 earn:" + pos.gid() + ":order", "reverse -15 catch-up:" + pos.gid() + ":order"}, "draft_order", 0},
		{"NeverAttached", program.EarnOnPaid, []step{
			{"orders/paid", pos.body(t)}, {"orders/updated", pos.body(t)},
		}, -1, nil, "", 1},
		{"EarnOnFulfilledWaitsForFulfilment", program.EarnOnFulfilled, []step{
			{"orders/paid", pos.body(t)}, {"orders/updated", attached.body(t)}, {"orders/fulfilled", attached.body(t)},
		}, 45, []string{"earn +45 earn:" + pos.gid() + ":order"}, "pos", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false; s.EarnOn = tc.earnOn })
			for i, s := range tc.steps {
				st, reason := b.deliver(t, b.shop, s.topic, s.body)
				if tc.earnOn == program.EarnOnFulfilled && i == 1 {
					// Attached before the earning topic: recorded only.
					if st != store.WebhookIgnored || !strings.Contains(reason, "orders/fulfilled") {
						t.Fatalf("attach before fulfilment: %s %q", st, reason)
					}
					if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", b.shop.ID); n != 0 {
						t.Fatalf("%d entries before fulfilment", n)
					}
				}
			}
			if n, err := b.svc.GuestOrders(context.Background(), b.shop.ID); err != nil || n != tc.guests {
				t.Fatalf("guest orders %d (%v), want %d", n, err, tc.guests)
			}
			if tc.balance < 0 {
				if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", b.shop.ID); n != 0 {
					t.Fatalf("%d entries for a guest order", n)
				}
				return
			}
			if got := b.balance(t, b.shop, customer); got != tc.balance {
				t.Fatalf("balance %d, want %d; ledger %v", got, tc.balance, keys(b.entries(t, b.shop, customer)))
			}
			if got := keys(b.entries(t, b.shop, customer)); strings.Join(got, "\n") != strings.Join(tc.keys, "\n") {
				t.Fatalf("ledger %v, want %v", got, tc.keys)
			}
			rew := b.events(t, b.shop, "wallet_points_rewarded")
			if len(rew) != 1 {
				t.Fatalf("%d wallet_points_rewarded", len(rew))
			}
			p := props(t, rew[0])
			if p["points"] != float64(45) || p["reason"] != "order" || p["order_id"] != fmt.Sprint(orderID) ||
				rew[0].ShopifyCustomerID != customer || rew[0].Channel != tc.channel {
				t.Fatalf("event %+v %v", rew[0], p)
			}
			b.reconcile(t, b.shop, customer)
		})
	}
}
