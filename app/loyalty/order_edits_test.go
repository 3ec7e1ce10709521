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

// step is one webhook delivery of a scenario.
type step struct {
	topic string
	body  []byte
}

// runSteps delivers the steps through the real processor and fails on any
// processing error; it returns the ignore reasons, in order.
func runSteps(t *testing.T, b *bundle, shop *store.Shop, steps []step) []string {
	t.Helper()
	var reasons []string
	for _, s := range steps {
		_, reason := b.deliver(t, shop, s.topic, s.body)
		reasons = append(reasons, reason)
	}
	return reasons
}

// ledgerLines lists a customer's entries as "kind ±points key".
func ledgerLines(t *testing.T, b *bundle, shop *store.Shop, customer int64) []string {
	t.Helper()
	return keys(b.entries(t, shop, customer))
}

// TestOrderEdited_AddAndRemoveLines: orders/edited after payment, in the
// shape Shopify sends it ({"order_edit": {…, "line_items": {"additions",
// "removals"}}}, ids and deltas only), followed by the orders/updated that
// lists the edited lines. Added lines earn and removed lines take back,
// once per edit id (wallet_points_rewarded / wallet_points_reversed, reason
// order_edit), whether the edit arrives before orders/paid, before or after
// the orders/updated that prices its new line, twice, or after a
// cancellation.
//
// The order: trail runners 89.99 and two pairs of socks at 15.00 (a base
// of 119.99, 119 points); the edit adds a rain shell at 120.00 and removes
// one pair of socks.
func TestOrderEdited_AddAndRemoveLines(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_401
	const orderID int64 = 7_700_000_000_000_000_001
	runners, socks, shell := orderID+101, orderID+102, orderID+103
	paidAt, editAt := t0, t0.Add(time.Hour)
	base := liveOrder{ID: orderID, Customer: customer, Email: "kai@example.com", UpdatedAt: paidAt,
		Lines: []shopLine{
			{ID: runners, Title: "Trail runners", Qty: 1, Price: "89.99", Tax: "7.20"},
			{ID: socks, Title: "Merino socks", Qty: 2, Price: "15.00", Tax: "2.40"},
		},
		Shipping: []shopShipping{{Title: "Standard", Price: "5.00"}}}
	shellLine := shopLine{ID: shell, Title: "Rain shell", Qty: 1, Price: "120.00", Tax: "9.60"}
	// The orders/updated Shopify sends after an edit: every line, the
	// removed units gone from current_quantity.
	after := func(add, remove bool) liveOrder {
		o := base
		o.UpdatedAt = editAt.Add(time.Minute)
		o.Lines = append([]shopLine{}, base.Lines...)
		if remove {
			o.Lines[1].Current = ptr(1)
		}
		if add {
			o.Lines = append(o.Lines, shellLine)
		}
		return o
	}
	addShell := liveEdit{ID: 7_710_000_000_000_000_001, Order: orderID, Committed: editAt, Add: []editLine{{shell, 1}}}
	dropSock := liveEdit{ID: 7_710_000_000_000_000_002, Order: orderID, Committed: editAt, Rem: []editLine{{socks, 1}}}
	swap := liveEdit{ID: 7_710_000_000_000_000_003, Order: orderID, Committed: editAt, Add: []editLine{{shell, 1}}, Rem: []editLine{{socks, 1}}}
	editKey := func(e liveEdit) string {
		return fmt.Sprintf("edit:gid://shopify/Order/%d:gid://shopify/OrderEdit/%d", orderID, e.ID)
	}
	linesKey := fmt.Sprintf("lines:gid://shopify/Order/%d:%s", orderID, editAt.Add(time.Minute).UTC().Format(time.RFC3339))
	earnKey := fmt.Sprintf("earn +119 earn:gid://shopify/Order/%d:order", orderID)
	paid := step{"orders/paid", base.body(t)}
	cases := []struct {
		name     string
		steps    []step
		balance  int64
		ledger   []string
		rewarded []int64 // order_edit points rewarded, in order
		reversed []int64 // order_edit points reversed
		statuses []string
	}{
		{"AddLinePricedByOrdersUpdated", []step{paid, {"orders/edited", addShell.body(t)}, {"orders/updated", after(true, false).body(t)}},
			239, []string{earnKey, "earn +120 " + editKey(addShell)}, []int64{120}, nil, []string{"applied"}},
		{"RemoveLineAtOnce", []step{paid, {"orders/edited", dropSock.body(t)}, {"orders/updated", after(false, true).body(t)}},
			104, []string{earnKey, "reverse -15 " + editKey(dropSock)}, nil, []int64{15}, []string{"applied"}},
		{"AddAndRemoveInOneEdit", []step{paid, {"orders/edited", swap.body(t)}, {"orders/updated", after(true, true).body(t)}},
			224, []string{earnKey, "earn +105 " + editKey(swap)}, []int64{105}, nil, []string{"applied"}},
		{"EditBeforePaid", []step{{"orders/edited", swap.body(t)}, {"orders/updated", after(true, true).body(t)}, paid},
			224, []string{earnKey, "earn +105 " + editKey(swap)}, []int64{105}, nil, []string{"applied"}},
		{"OrdersUpdatedBeforeTheEdit", []step{paid, {"orders/updated", after(true, true).body(t)}, {"orders/edited", swap.body(t)}},
			224, []string{earnKey, "earn +105 " + linesKey}, []int64{105}, nil, []string{"absorbed"}},
		{"EverythingTwice", []step{paid, {"orders/edited", swap.body(t)}, {"orders/edited", swap.body(t)}, paid,
			{"orders/updated", after(true, true).body(t)}, {"orders/updated", after(true, true).body(t)}, {"orders/edited", swap.body(t)}},
			224, []string{earnKey, "earn +105 " + editKey(swap)}, []int64{105}, nil, []string{"applied"}},
		{"TwoEditsOutOfOrder", []step{paid, {"orders/edited", dropSock.body(t)}, {"orders/updated", after(true, true).body(t)}, {"orders/edited", addShell.body(t)}},
			224, []string{earnKey, "reverse -15 " + editKey(dropSock), "earn +120 " + linesKey}, []int64{120}, []int64{15}, []string{"applied", "absorbed"}},
		{"AfterCancellation", []step{paid, {"orders/cancelled", base.body(t)}, {"orders/edited", swap.body(t)}, {"orders/updated", after(true, true).body(t)}},
			0, []string{earnKey, fmt.Sprintf("reverse -119 cancel:gid://shopify/Order/%d", orderID)}, nil, nil, []string{"applied"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
			runSteps(t, b, b.shop, tc.steps)
			if got := b.balance(t, b.shop, customer); got != tc.balance {
				t.Fatalf("balance %d, want %d; ledger %v", got, tc.balance, ledgerLines(t, b, b.shop, customer))
			}
			if got := ledgerLines(t, b, b.shop, customer); strings.Join(got, "\n") != strings.Join(tc.ledger, "\n") {
				t.Fatalf("ledger\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.ledger, "\n"))
			}
			var rewarded, reversed []int64
			for _, e := range b.events(t, b.shop, "") {
				p := props(t, e)
				if p["reason"] != "order_edit" {
					continue
				}
				if p["order_id"] != fmt.Sprint(orderID) || e.ShopifyCustomerID != customer || e.Channel != "online_store" {
					t.Fatalf("event %+v %v", e, p)
				}
				switch e.Key {
				case "wallet_points_rewarded":
					rewarded = append(rewarded, int64(p["points"].(float64)))
				case "wallet_points_reversed":
					reversed = append(reversed, int64(p["points"].(float64)))
				}
			}
			if fmt.Sprint(rewarded) != fmt.Sprint(tc.rewarded) || fmt.Sprint(reversed) != fmt.Sprint(tc.reversed) {
				t.Fatalf("order_edit events rewarded %v reversed %v, want %v %v", rewarded, reversed, tc.rewarded, tc.reversed)
			}
			ord, err := b.st.LoyaltyOrderByGID(context.Background(), b.shop.ID, base.gid())
			if err != nil {
				t.Fatal(err)
			}
			edits, err := b.st.OrderEdits(context.Background(), b.shop.ID, ord.ID)
			if err != nil {
				t.Fatal(err)
			}
			var statuses []string
			for _, e := range edits {
				statuses = append(statuses, e.Status)
			}
			if fmt.Sprint(statuses) != fmt.Sprint(tc.statuses) || ord.PendingEdits != 0 {
				t.Fatalf("edits %v (pending %d), want %v", statuses, ord.PendingEdits, tc.statuses)
			}
			if ord.Earned-ord.Reversed != tc.balance {
				t.Fatalf("order nets %d, balance %d", ord.Earned-ord.Reversed, tc.balance)
			}
			if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status NOT IN ('processed', 'ignored')", b.shop.ID); n != 0 {
				t.Fatalf("%d webhooks not processed", n)
			}
			b.reconcile(t, b.shop, customer)
		})
	}
}

// TestOrderEdited_WaitsAndExplains: an edit of an order that has not earned
// yet, or whose new line no payload has priced, is remembered and the
// webhook says why; the sample payload (rounded ids, an order never seen)
// is remembered without failing.
func TestOrderEdited_WaitsAndExplains(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, reason := b.deliver(t, b.shop, "orders/edited", sample(t, "orders/edited"))
	if st != store.WebhookIgnored || !strings.Contains(reason, "has not earned yet") {
		t.Fatalf("sample: %s %q", st, reason)
	}
	st, reason = b.deliver(t, b.shop, "orders/edited", sample(t, "orders/edited"))
	if st != store.WebhookIgnored || !strings.Contains(reason, "already recorded") {
		t.Fatalf("sample again: %s %q", st, reason)
	}
	const customer int64 = 7_300_000_000_000_000_402
	o := liveOrder{ID: 7_700_000_000_000_000_002, Customer: customer, Lines: []shopLine{{ID: 7_700_000_000_000_000_102, Title: "Tent", Qty: 1, Price: "300.00"}}}
	b.deliver(t, b.shop, "orders/paid", o.body(t))
	e := liveEdit{ID: 7_710_000_000_000_000_010, Order: o.ID, Committed: t0.Add(time.Hour), Add: []editLine{{7_700_000_000_000_000_103, 2}}}
	st, reason = b.deliver(t, b.shop, "orders/edited", e.body(t))
	if st != store.WebhookIgnored || !strings.Contains(reason, "not priced yet") {
		t.Fatalf("unpriced: %s %q", st, reason)
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1 AND idempotency_key LIKE 'edit:%'", b.shop.ID); n != 0 {
		t.Fatalf("%d edit entries before the edit is priced", n)
	}
	b.reconcile(t, b.shop, customer)
}

// TestExchange_NetsOut: a return with a new item, as Shopify sends it: a
// refund of the returned line (money back only for a cheaper item), and
// the new line, added by orders/edited or by an orders/updated that lists
// it (exchanges need no edit). Points follow the final purchase: the order
// earns on what it now holds less the refunds' share, in any arrival order.
// Trail runners at 89.99 (89 points) are exchanged for a pair at the same
// price, at 59.99 or at 129.99; the net is within the ledger's rounding
// (partial refunds round their reversal down, in the customer's favour, by
// less than a point) of the points of the item kept: 90, 60 and 130.
func TestExchange_NetsOut(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_501
	const orderID int64 = 7_800_000_000_000_000_001
	returned, replacement := orderID+101, orderID+102
	paidAt, exchangedAt := t0, t0.Add(48*time.Hour)
	o := liveOrder{ID: orderID, Customer: customer, Email: "noa@example.com", UpdatedAt: paidAt,
		Lines: []shopLine{{ID: returned, Title: "Trail runners 42", Qty: 1, Price: "89.99", Tax: "7.20"}}}
	type variant struct {
		price, tax, money, discrepancy string
		net                            int64
	}
	variants := map[string]variant{
		"Even":    {"89.99", "7.20", "", "", 90},
		"Cheaper": {"59.99", "4.80", "32.40", "64.79", 60}, // 97.19 back would be the lines; 32.40 went back
		"Dearer":  {"129.99", "10.40", "", "", 130},
	}
	scenarios := []struct {
		name  string
		steps func(v variant) []step
	}{
		{"RefundThenOrdersUpdated", func(v variant) []step {
			return []step{{"orders/paid", o.body(t)}, refundStep(t, v.money, v.discrepancy, orderID, returned), updatedStep(t, o, v.price, v.tax, replacement, exchangedAt)}
		}},
		{"OrdersUpdatedThenRefund", func(v variant) []step {
			return []step{{"orders/paid", o.body(t)}, updatedStep(t, o, v.price, v.tax, replacement, exchangedAt), refundStep(t, v.money, v.discrepancy, orderID, returned)}
		}},
		{"RefundThenEditThenUpdated", func(v variant) []step {
			return []step{{"orders/paid", o.body(t)}, refundStep(t, v.money, v.discrepancy, orderID, returned), editStep(t, orderID, replacement, exchangedAt),
				updatedStep(t, o, v.price, v.tax, replacement, exchangedAt)}
		}},
		{"EditAndRefundBeforePaid", func(v variant) []step {
			return []step{editStep(t, orderID, replacement, exchangedAt), refundStep(t, v.money, v.discrepancy, orderID, returned), {"orders/paid", o.body(t)},
				updatedStep(t, o, v.price, v.tax, replacement, exchangedAt)}
		}},
		{"EverythingTwice", func(v variant) []step {
			r, u, e := refundStep(t, v.money, v.discrepancy, orderID, returned), updatedStep(t, o, v.price, v.tax, replacement, exchangedAt), editStep(t, orderID, replacement, exchangedAt)
			return []step{{"orders/paid", o.body(t)}, e, r, u, {"orders/paid", o.body(t)}, r, e, u}
		}},
	}
	for name, v := range variants {
		for _, sc := range scenarios {
			t.Run(name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
				runSteps(t, b, b.shop, sc.steps(v))
				if got := b.balance(t, b.shop, customer); got != v.net {
					t.Fatalf("balance %d, want %d; ledger %v", got, v.net, ledgerLines(t, b, b.shop, customer))
				}
				// The returned pair's reversal names its refund.
				var refundEvents int
				for _, e := range b.events(t, b.shop, "wallet_points_reversed") {
					if p := props(t, e); p["reason"] == "refund" {
						refundEvents++
						if p["refund_id"] != fmt.Sprint(orderID+900) {
							t.Fatalf("refund event %v", p)
						}
					}
				}
				if refundEvents != 1 {
					t.Fatalf("%d refund reversals", refundEvents)
				}
				b.reconcile(t, b.shop, customer)
			})
		}
	}
}

func refundStep(t *testing.T, money, discrepancy string, orderID, line int64) step {
	r := liveRefund{ID: orderID + 900, Order: orderID, Lines: []refundLine{{LineID: line, Qty: 1, Subtotal: "89.99", Tax: "7.20"}}}
	if money != "" {
		r.Money = []string{money}
	}
	if discrepancy != "" {
		r.Discrepancies = []string{discrepancy}
	}
	return step{"refunds/create", r.body(t)}
}

func editStep(t *testing.T, orderID, line int64, at time.Time) step {
	return step{"orders/edited", liveEdit{ID: orderID + 800, Order: orderID, Committed: at, Add: []editLine{{line, 1}}}.body(t)}
}

// updatedStep is the orders/updated after the exchange: the returned line
// refunded (in the order's refunds), the new one bought.
func updatedStep(t *testing.T, o liveOrder, price, tax string, line int64, at time.Time) step {
	o.UpdatedAt = at.Add(time.Minute)
	o.Lines = append(append([]shopLine{}, o.Lines...), shopLine{ID: line, Title: "Trail runners 43", Qty: 1, Price: price, Tax: tax})
	o.Refunded = map[int64]int{o.Lines[0].ID: 1}
	return step{"orders/updated", o.body(t)}
}
