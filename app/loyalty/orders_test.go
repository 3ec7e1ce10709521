package loyalty_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

const orderID int64 = 820982911946154508 // the sample's exact id

// TestOrder_PointsByAmountSetting: the sample order (subtotal after
// discounts 404.95, shipping 10.00, tax 20.00) earns by the program's
// earning base, rate, minimum and tier multiplier.
func TestOrder_PointsByAmountSetting(t *testing.T) {
	t.Parallel()
	base := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95", Shipping: "10.00", Tax: "20.00"}
	taxIncl := base
	taxIncl.TaxesIncluded = true
	noTiers := func(s *program.Settings) { s.Tiers.Enabled = false }
	cases := []struct {
		name  string
		order order
		edit  func(*program.Settings)
		want  int64
	}{
		{"DefaultSubtotalOnly", base, noTiers, 404},
		{"WithShipping", base, func(s *program.Settings) { noTiers(s); s.EarnBase.IncludeShipping = true }, 414},
		{"WithTax", base, func(s *program.Settings) { noTiers(s); s.EarnBase.IncludeTax = true }, 424},
		{"WithShippingAndTax", base, func(s *program.Settings) {
			noTiers(s)
			s.EarnBase = program.EarnBase{IncludeShipping: true, IncludeTax: true}
		}, 434},
		{"TaxInclusiveShopExcludesTax", taxIncl, noTiers, 384},
		{"BelowMinimumEarnsNothing", base, func(s *program.Settings) { noTiers(s); s.MinimumOrderMinor = 40496 }, 0},
		{"AtMinimumEarns", base, func(s *program.Settings) { noTiers(s); s.MinimumOrderMinor = 40495 }, 404},
		{"RateTwoAndAHalf", base, func(s *program.Settings) { noTiers(s); s.PointsPerCurrencyUnit = decimal.RequireFromString("2.5") }, 1012},
		{"TierMultiplier", base, func(s *program.Settings) {
			s.Tiers.Levels[0].Multiplier = decimal.RequireFromString("1.5") // everyone starts in bronze at ×1.5
		}, 607},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, tc.edit)
			status, reason := b.deliver(t, b.shop, "orders/paid", tc.order.body(t))
			if tc.want == 0 {
				if status != store.WebhookProcessed {
					t.Fatalf("status %s (%s)", status, reason)
				}
				if es := b.entries(t, b.shop, sampleCustomerID); len(es) != 0 {
					t.Fatalf("entries %v", keys(es))
				}
				return
			}
			if got := b.balance(t, b.shop, sampleCustomerID); got != tc.want {
				t.Fatalf("balance %d, want %d", got, tc.want)
			}
			es := b.entries(t, b.shop, sampleCustomerID)
			if len(es) != 1 || es[0].Kind != ledger.KindEarn || es[0].IdempotencyKey != "earn:gid://shopify/Order/820982911946154508:order" {
				t.Fatalf("entries %v", keys(es))
			}
			ev := b.events(t, b.shop, "wallet_points_rewarded")
			if len(ev) != 1 {
				t.Fatalf("%d rewarded events", len(ev))
			}
			p := props(t, ev[0])
			if p["points"] != float64(tc.want) || p["reason"] != "order" || p["order_id"] != "820982911946154508" || p["order_name"] == "" {
				t.Fatalf("event properties %v", p)
			}
			if ev[0].Channel != "online_store" || ev[0].ShopifyCustomerID != sampleCustomerID || ev[0].PointsBalance != tc.want || ev[0].Currency != "USD" {
				t.Fatalf("event %+v", ev[0])
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}

// TestOrder_EarnsOncePerOrder: orders/paid delivered three times (three
// webhook ids) and orders/fulfilled earn once; with EarnOn fulfilled, paid
// earns nothing and fulfilled earns.
func TestOrder_EarnsOncePerOrder(t *testing.T) {
	t.Parallel()
	t.Run("Paid", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		body := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95"}.body(t)
		if st, _ := b.deliver(t, b.shop, "orders/paid", body); st != store.WebhookProcessed {
			t.Fatalf("first delivery %s", st)
		}
		for range 2 {
			if st, reason := b.deliver(t, b.shop, "orders/paid", body); st != store.WebhookIgnored || !strings.Contains(reason, "already earned") {
				t.Fatalf("redelivery %s %q", st, reason)
			}
		}
		if st, _ := b.deliver(t, b.shop, "orders/fulfilled", body); st != store.WebhookIgnored {
			t.Fatalf("fulfilled %s", st)
		}
		if got := b.balance(t, b.shop, sampleCustomerID); got != 404 {
			t.Fatalf("balance %d", got)
		}
		if n := len(b.events(t, b.shop, "wallet_points_rewarded")); n != 1 {
			t.Fatalf("%d events", n)
		}
	})
	t.Run("Fulfilled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.program(t, b.shop, func(s *program.Settings) { s.EarnOn = program.EarnOnFulfilled; s.Tiers.Enabled = false })
		body := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95"}.body(t)
		if st, reason := b.deliver(t, b.shop, "orders/paid", body); st != store.WebhookIgnored || !strings.Contains(reason, "orders/fulfilled") {
			t.Fatalf("paid: %s %q", st, reason)
		}
		if got := b.balance(t, b.shop, sampleCustomerID); got != 0 {
			t.Fatalf("balance after paid %d", got)
		}
		b.deliver(t, b.shop, "orders/fulfilled", body)
		b.deliver(t, b.shop, "orders/fulfilled", body)
		if got := b.balance(t, b.shop, sampleCustomerID); got != 404 {
			t.Fatalf("balance %d", got)
		}
	})
}

// TestRefund_PartialThenCancel: a partial refund takes back its share of
// the earning base, computed on the cumulative base; a cancellation takes
// back the rest, exactly.
func TestRefund_PartialThenCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
	o := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95", Shipping: "10.00", Tax: "20.00"}
	b.deliver(t, b.shop, "orders/paid", o.body(t))
	// Refunded lines of 100.00 of a 404.95 base: floor(404 × 10000 / 40495) = 99.
	b.deliver(t, b.shop, "refunds/create", refund{ID: 890088186047892319, Order: orderID, Lines: []string{"60.00", "40.00"}}.body(t))
	if got := b.balance(t, b.shop, sampleCustomerID); got != 404-99 {
		t.Fatalf("balance after refund %d, want %d", got, 404-99)
	}
	if want := ledger.ReversalForRefundCumulative(404, 0, 10000, 40495); want != 99 {
		t.Fatalf("ledger says %d", want)
	}
	// A refund of shipping only takes nothing: shipping is not in the base.
	b.deliver(t, b.shop, "refunds/create", refund{ID: 890088186047892320, Order: orderID, Shipping: "10.00"}.body(t))
	if got := b.balance(t, b.shop, sampleCustomerID); got != 305 {
		t.Fatalf("balance after shipping refund %d", got)
	}
	b.deliver(t, b.shop, "orders/cancelled", o.body(t))
	if got := b.balance(t, b.shop, sampleCustomerID); got != 0 {
		t.Fatalf("balance after cancel %d", got)
	}
	es := b.entries(t, b.shop, sampleCustomerID)
	want := []string{
		"earn +404 earn:gid://shopify/Order/820982911946154508:order",
		"reverse -99 refund:gid://shopify/Refund/890088186047892319",
		"reverse +0 refund:gid://shopify/Refund/890088186047892320",
		"reverse -305 cancel:gid://shopify/Order/820982911946154508",
	}
	if got := keys(es); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ledger\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rev := b.events(t, b.shop, "wallet_points_reversed")
	if len(rev) != 2 {
		t.Fatalf("%d reversal events", len(rev))
	}
	p0, p1 := props(t, rev[0]), props(t, rev[1])
	if p0["points"] != float64(99) || p0["reason"] != "refund" || p0["refund_id"] != "890088186047892319" || p0["order_id"] != "820982911946154508" {
		t.Fatalf("refund event %v", p0)
	}
	if p1["points"] != float64(305) || p1["reason"] != "cancel" || rev[1].PointsBalance != 0 {
		t.Fatalf("cancel event %v balance %d", p1, rev[1].PointsBalance)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestReversals_NeverDouble: refund and cancellation of the same order, in
// both orders, and either of them before the earn, take back exactly what
// was earned, never more.
func TestReversals_NeverDouble(t *testing.T) {
	t.Parallel()
	o := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95"}
	full := refund{ID: 900000000000000001, Order: orderID, Lines: []string{"404.95"}}
	half := refund{ID: 900000000000000002, Order: orderID, Lines: []string{"200.00"}}
	type step struct{ topic, what string }
	cases := []struct {
		name    string
		steps   []step
		want    int64
		ignored int
	}{
		{"RefundAllThenCancel", []step{{"orders/paid", "o"}, {"refunds/create", "full"}, {"orders/cancelled", "o"}}, 0, 0},
		{"CancelThenRefundAll", []step{{"orders/paid", "o"}, {"orders/cancelled", "o"}, {"refunds/create", "full"}}, 0, 0},
		{"HalfRefundThenCancel", []step{{"orders/paid", "o"}, {"refunds/create", "half"}, {"orders/cancelled", "o"}}, 0, 0},
		{"CancelThenHalfRefund", []step{{"orders/paid", "o"}, {"orders/cancelled", "o"}, {"refunds/create", "half"}}, 0, 0},
		{"RefundBeforePaid", []step{{"refunds/create", "half"}, {"orders/paid", "o"}}, 404 - 199, 0},
		{"RefundBeforePaidThenCancel", []step{{"refunds/create", "half"}, {"orders/paid", "o"}, {"orders/cancelled", "o"}}, 0, 0},
		{"CancelBeforePaid", []step{{"orders/cancelled", "o"}, {"orders/paid", "o"}}, 0, 0},
		{"EverythingTwice", []step{{"orders/paid", "o"}, {"refunds/create", "half"}, {"refunds/create", "half"}, {"orders/cancelled", "o"}, {"orders/cancelled", "o"}, {"refunds/create", "full"}, {"refunds/create", "full"}}, 0, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
			ignored := 0
			for _, s := range tc.steps {
				var body []byte
				switch s.what {
				case "o":
					body = o.body(t)
				case "full":
					body = full.body(t)
				case "half":
					body = half.body(t)
				}
				if st, reason := b.deliver(t, b.shop, s.topic, body); st == store.WebhookIgnored && strings.Contains(reason, "already") {
					ignored++
				}
			}
			if got := b.balance(t, b.shop, sampleCustomerID); got != tc.want {
				t.Fatalf("balance %d, want %d; ledger %v", got, tc.want, keys(b.entries(t, b.shop, sampleCustomerID)))
			}
			if ignored != tc.ignored {
				t.Fatalf("%d duplicates ignored, want %d", ignored, tc.ignored)
			}
			var earned, reversed int64
			for _, e := range b.entries(t, b.shop, sampleCustomerID) {
				switch e.Kind {
				case ledger.KindEarn:
					earned += e.Points
				case ledger.KindReverse:
					reversed -= e.Points
				}
			}
			if reversed > earned {
				t.Fatalf("reversed %d of %d earned", reversed, earned)
			}
			ord, err := b.st.LoyaltyOrderByGID(context.Background(), b.shop.ID, "gid://shopify/Order/820982911946154508")
			if err != nil {
				t.Fatal(err)
			}
			if ord.Earned != earned || ord.Reversed != reversed {
				t.Fatalf("order row earned %d reversed %d, ledger %d %d", ord.Earned, ord.Reversed, earned, reversed)
			}
			b.reconcile(t, b.shop, sampleCustomerID)
		})
	}
}

// TestOrder_GuestCountedAndTestIgnored: with guest points off, an order
// without a customer earns nothing and is counted once however often it
// arrives (guests_test.go has them waiting); a test order is ignored and
// leaves no trace.
func TestOrder_GuestCountedAndTestIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.GuestPointsDays = 0 })
	ctx := context.Background()
	guest := order{ID: 900000000000000010, Subtotal: "50.00"}
	for range 2 {
		st, reason := b.deliver(t, b.shop, "orders/paid", guest.body(t))
		if st != store.WebhookIgnored || !strings.Contains(reason, "guest") {
			t.Fatalf("guest: %s %q", st, reason)
		}
	}
	b.deliver(t, b.shop, "orders/create", order{ID: 900000000000000011, Subtotal: "50.00"}.body(t))
	b.deliver(t, b.shop, "orders/paid", order{ID: 900000000000000011, Subtotal: "50.00"}.body(t))
	if n, err := b.svc.GuestOrders(ctx, b.shop.ID); err != nil || n != 2 {
		t.Fatalf("guest orders %d, %v", n, err)
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries"); n != 0 {
		t.Fatalf("%d entries for guest orders", n)
	}

	testOrder := order{ID: 900000000000000012, Customer: sampleCustomerID, Subtotal: "50.00", Test: true}
	st, reason := b.deliver(t, b.shop, "orders/paid", testOrder.body(t))
	if st != store.WebhookIgnored || !strings.Contains(reason, "test order") {
		t.Fatalf("test order: %s %q", st, reason)
	}
	if n := b.count(t, "SELECT count(*) FROM orders WHERE order_gid = 'gid://shopify/Order/900000000000000012'"); n != 0 {
		t.Fatal("test order recorded")
	}
	if n := b.count(t, "SELECT count(*) FROM customers"); n != 0 {
		t.Fatal("test order created a customer")
	}
	// The other shop counts nothing.
	other := b.newShop(t, "UTC")
	if n, _ := b.svc.GuestOrders(ctx, other.ID); n != 0 {
		t.Fatalf("other shop counts %d", n)
	}
}

// TestOrder_ChannelFromSourceName: order-derived events carry the channel
// of the order's source_name.
func TestOrder_ChannelFromSourceName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i, src := range []string{"pos", "shopify_draft_order", "iphone"} {
		b.deliver(t, b.shop, "orders/paid", order{ID: orderID + int64(i), Customer: sampleCustomerID, Subtotal: "10.00", Source: src}.body(t))
	}
	var got []string
	for _, e := range b.events(t, b.shop, "wallet_points_rewarded") {
		got = append(got, e.Channel)
	}
	if strings.Join(got, ",") != "pos,draft_order,other" {
		t.Fatalf("channels %v", got)
	}
}

// TestOrder_IDsFromGraphQLIDs: the sample's numeric ids are JavaScript-
// rounded; the engine keys the order and customer by their exact GraphQL ids.
func TestOrder_IDsFromGraphQLIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A member's order (the sample's record is not an account).
	b.deliver(t, b.shop, "orders/paid", set(t, sample(t, "orders/paid"), "customer.state", "enabled"))
	if n := b.count(t, "SELECT count(*) FROM orders WHERE order_gid = 'gid://shopify/Order/820982911946154508' AND shopify_id = 820982911946154508"); n != 1 {
		t.Fatal("order not keyed by its exact GraphQL id")
	}
	if n := b.count(t, "SELECT count(*) FROM customers WHERE shopify_id = 115310627314723954"); n != 1 {
		t.Fatal("customer not keyed by its exact GraphQL id")
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shopify_customer_id = 115310627314723954 AND kind = 'earn'"); n != 1 {
		t.Fatal("no earn entry for the exact customer id")
	}
}
