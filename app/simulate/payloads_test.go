package simulate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/shopify"
)

func minor(t *testing.T, m shopify.Money) int64 {
	t.Helper()
	v, err := m.MinorUnits(2)
	if err != nil {
		t.Fatalf("money %q: %v", m, err)
	}
	return v
}

// decode round-trips a payload through JSON into the app's payload type,
// as the intake would read it.
func decode[T any](t *testing.T, payload any) T {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode: %v\n%s", err, raw)
	}
	return v
}

// TestPayloads_AddUp: the simulated orders and refunds are internally
// consistent the way Shopify's are (total = subtotal + shipping + tax,
// a refund's transaction = its lines with their tax), carry their channel
// and customer, and decode with the app's own payload types.
func TestPayloads_AddUp(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c := &Customer{ID: 9001, Email: "maya@example.com", FirstName: "Maya", LastName: "Okafor", Created: now}
	for _, tc := range []struct {
		name     string
		o        *order
		channel  string
		shipping int64
	}{
		{"web with discount", &order{id: 100, number: 1101, name: "#1101", channel: "web", customer: c, email: c.Email,
			lines: []line{{101, catalogue[0], 2}, {102, catalogue[4], 1}}, discountCode: "FRIEND-ABC", discountOff: 1000,
			created: now, refunded: map[int64]int{}}, shopify.ChannelOnlineStore, shippingMinor},
		{"pos", &order{id: 200, number: 1102, name: "#1102", channel: "pos", customer: c, email: c.Email,
			lines: []line{{201, catalogue[1], 1}}, created: now, refunded: map[int64]int{}}, shopify.ChannelPOS, 0},
		{"guest", &order{id: 300, number: 1103, name: "#1103", channel: "web", email: "guest@example.net",
			lines: []line{{301, catalogue[2], 3}}, created: now, refunded: map[int64]int{}}, shopify.ChannelOnlineStore, shippingMinor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := decode[shopify.Order](t, orderJSON(tc.o, now, "demo.myshopify.com"))
			sub, tax, total := minor(t, o.SubtotalPrice), minor(t, o.TotalTax), minor(t, o.TotalPrice)
			ship, err := o.TotalShippingPriceSet.ShopMoney.Amount.MinorUnits(2)
			if err != nil {
				t.Fatal(err)
			}
			if total != sub+ship+tax || ship != tc.shipping || tax == 0 {
				t.Fatalf("total %d != subtotal %d + shipping %d + tax %d", total, sub, ship, tax)
			}
			var lines int64
			for _, l := range o.LineItems {
				lines += minor(t, l.Price) * int64(l.Quantity)
			}
			if lines-minor(t, o.TotalDiscounts) != sub {
				t.Fatalf("lines %d less discounts %d != subtotal %d", lines, minor(t, o.TotalDiscounts), sub)
			}
			if o.Channel() != tc.channel || o.FinancialStatus != "paid" || o.Test || o.ID != tc.o.id {
				t.Fatalf("order = channel %s, %s, test %v, id %d", o.Channel(), o.FinancialStatus, o.Test, o.ID)
			}
			if (o.Customer == nil) != (tc.o.customer == nil) || (o.Customer != nil && o.Customer.ID != c.ID) {
				t.Fatalf("customer = %+v", o.Customer)
			}
			if tc.o.discountCode != "" && (len(o.DiscountCodes) != 1 || o.DiscountCodes[0].Code != tc.o.discountCode) {
				t.Fatalf("discount codes = %+v", o.DiscountCodes)
			}

			r := decode[shopify.Refund](t, refundJSON(tc.o, tc.o.lines[0], 1, 555, now))
			price := tc.o.lines[0].product.priceMinor
			if len(r.RefundLineItems) != 1 || r.RefundLineItems[0].LineItemID != tc.o.lines[0].id || r.OrderID != tc.o.id ||
				len(r.Transactions) != 1 || minor(t, r.Transactions[0].Amount) != price+taxOf(price) {
				t.Fatalf("refund = %+v", r)
			}
		})
	}
}

// TestNew_FreshIDs: two simulators started one after the other never reuse
// an id, so a second demo run's orders are new orders.
func TestNew_FreshIDs(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	a := New(Options{Now: func() time.Time { return t0 }, Seed: 1})
	seen := map[int64]bool{}
	for range 1000 {
		seen[a.id()] = true
	}
	b := New(Options{Now: func() time.Time { return t0.Add(time.Second) }, Seed: 1})
	for range 1000 {
		if id := b.id(); seen[id] {
			t.Fatalf("id %d reused by the next run", id)
		}
	}
}
