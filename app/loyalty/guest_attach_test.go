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
			b.program(t, b.shop, func(s *program.Settings) {
				s.Tiers.Enabled, s.EarnOn = false, tc.earnOn
				s.GuestPointsDays = 0 // guests' points do not wait (see the next test)
			})
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

// TestOrder_GuestPointsWaitingThenCustomerAttached: with guests' points
// waiting (guest_points_days), a POS sale to a guest who gave an email
// holds its points under that email; staff attach the customer afterwards.
// An account gets the points at once, once (wallet_points_rewarded, the
// earn's key); a customer record that is not an account has them wait for
// it (points_waiting) and gets them when it becomes one; an edit while
// they wait changes what waits; the customer attached before orders/paid
// arrives earns for the customer directly.
func TestOrder_GuestPointsWaitingThenCustomerAttached(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_311
	const orderID int64 = 7_600_000_000_000_000_011
	beans, grinder := orderID+101, orderID+102
	pos := liveOrder{ID: orderID, Source: "pos", LocationID: 68_455_334_091, Email: "lea@example.com",
		Lines: []shopLine{{ID: beans, Title: "Espresso beans 1kg", Qty: 3, Price: "15.00", Tax: "3.60"}}}
	attached := pos
	attached.Customer, attached.UpdatedAt = customer, t0.Add(20*time.Minute)
	record := attached
	record.CustomerState = "disabled"
	edited := pos
	edited.UpdatedAt = t0.Add(10 * time.Minute)
	edited.Lines = append(append([]shopLine{}, pos.Lines...), shopLine{ID: grinder, Title: "Hand grinder", Qty: 1, Price: "60.00", Tax: "4.80"})
	attachedEdited := edited
	attachedEdited.Customer, attachedEdited.UpdatedAt = customer, t0.Add(20*time.Minute)
	edit := liveEdit{ID: 7_610_000_000_000_000_011, Order: orderID, Committed: t0.Add(9 * time.Minute), Add: []editLine{{grinder, 1}}}
	earnKey := "earn +%d earn:" + pos.gid() + ":order"
	cases := []struct {
		name    string
		steps   []step
		wait    int   // steps after which the points wait
		waiting int64 // points waiting on the order's guest_points row then, -1 for none
		balance int64
		keys    []string
		waits   int // points_waiting events for the customer
	}{
		{"AccountAttached", []step{{"orders/paid", pos.body(t)}, {"orders/updated", attached.body(t)}, {"orders/updated", attached.body(t)}},
			1, 45, 45, []string{fmt.Sprintf(earnKey, 45)}, 0},
		{"RecordAttachedThenAccount", []step{{"orders/paid", pos.body(t)}, {"orders/updated", record.body(t)},
			{"customers/update", customerBody(customer, "someone.else@example.com")}},
			2, 45, 45, []string{fmt.Sprintf(earnKey, 45)}, 1},
		{"EditWhileWaiting", []step{{"orders/paid", pos.body(t)}, {"orders/edited", edit.body(t)}, {"orders/updated", edited.body(t)},
			{"orders/updated", attachedEdited.body(t)}},
			3, 105, 105, []string{fmt.Sprintf(earnKey, 105)}, 0},
		{"AccountAttachedBeforePaid", []step{{"orders/updated", attached.body(t)}, {"orders/paid", pos.body(t)}},
			1, -1, 45, []string{fmt.Sprintf(earnKey, 45)}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled, s.GuestPointsDays, s.SignupPoints = false, 30, 0 })
			runSteps(t, b, b.shop, tc.steps[:tc.wait])
			if tc.waiting >= 0 {
				if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", b.shop.ID); n != 0 {
					t.Fatalf("%d entries while the points wait", n)
				}
				if got := b.count(t, "SELECT points FROM guest_points WHERE shop_id = $1 AND claimed_at IS NULL", b.shop.ID); got != tc.waiting {
					t.Fatalf("%d points waiting, want %d", got, tc.waiting)
				}
			}
			runSteps(t, b, b.shop, tc.steps[tc.wait:])
			if got := b.balance(t, b.shop, customer); got != tc.balance {
				t.Fatalf("balance %d, want %d; ledger %v", got, tc.balance, keys(b.entries(t, b.shop, customer)))
			}
			if got := keys(b.entries(t, b.shop, customer)); strings.Join(got, "\n") != strings.Join(tc.keys, "\n") {
				t.Fatalf("ledger %v, want %v", got, tc.keys)
			}
			rew := b.events(t, b.shop, "wallet_points_rewarded")
			if len(rew) != 1 || props(t, rew[0])["points"] != float64(tc.balance) || props(t, rew[0])["order_id"] != fmt.Sprint(orderID) || rew[0].ShopifyCustomerID != customer {
				t.Fatalf("rewarded %+v", rew)
			}
			if waits := b.events(t, b.shop, "points_waiting"); len(waits) != tc.waits {
				t.Fatalf("%d points_waiting, want %d", len(waits), tc.waits)
			}
			if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND claimed_at IS NULL", b.shop.ID); n != 0 {
				t.Fatalf("%d guest rows still waiting", n)
			}
			b.reconcile(t, b.shop, customer)
		})
	}
}
