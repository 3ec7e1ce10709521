package loyalty_test

import (
	"testing"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

// TestOrder_ShippingTaxFromShippingLines: the tax on shipping comes from
// shipping_lines[].tax_lines, and only the rest of total_tax is the lines'
// tax. A tax-inclusive EU order (EUR, taxes_included, 19% VAT: two shirts
// at 59.50 with 19.00 VAT, DHL 5.90 with 0.94 VAT, total_tax 19.94) earns
// on 100.00 net by default, where taking all of total_tax off the lines
// gave 99.06; a US order (taxes excluded: 100.00 plus 8.00 tax, shipping
// 10.00 plus 1.50 tax) with tax in the base earns on 108.00, not 109.50.
// Every combination of include_tax and include_shipping is checked.
func TestOrder_ShippingTaxFromShippingLines(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_001
	eu := liveOrder{ID: 7_100_000_000_000_000_001, Customer: customer, Email: "mara@example.de", Currency: "EUR", TaxesIncluded: true,
		Lines:    []shopLine{{ID: 7_100_000_000_000_000_101, Title: "Leinenhemd", Qty: 2, Price: "59.50", Tax: "19.00"}},
		Shipping: []shopShipping{{Title: "DHL Paket", Price: "5.90", Tax: "0.94"}}}
	us := liveOrder{ID: 7_100_000_000_000_000_002, Customer: customer, Email: "mara@example.com", Currency: "USD",
		Lines:    []shopLine{{ID: 7_100_000_000_000_000_201, Title: "Linen shirt", Qty: 1, Price: "100.00", Tax: "8.00"}},
		Shipping: []shopShipping{{Title: "UPS Ground", Price: "10.00", Tax: "1.50"}}}
	cases := []struct {
		name     string
		order    liveOrder
		tax      bool
		shipping bool
		base     int64
	}{
		{"EUDefaultNetOfLineVATOnly", eu, false, false, 10000},                          // 119.00 − 19.00
		{"EUWithShippingNetOfShippingVAT", eu, false, true, 10000 + 496},                // + 5.90 − 0.94
		{"EUWithTax", eu, true, false, 11900},                                           // prices as charged
		{"EUWithTaxAndShipping", eu, true, true, 12490},                                 // total_price
		{"USDefault", us, false, false, 10000},                                          // subtotal
		{"USWithTaxAddsLineTaxOnly", us, true, false, 10800},                            // + 8.00
		{"USWithShippingNoTax", us, false, true, 11000},                                 // + 10.00
		{"USWithTaxAndShippingAddsBothTaxes", us, true, true, 10000 + 800 + 1000 + 150}, // total_price
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			shop := b.shopIn(t, tc.order.Currency, "Europe/Berlin")
			b.program(t, shop, func(s *program.Settings) {
				s.Tiers.Enabled = false
				s.EarnBase = program.EarnBase{IncludeTax: tc.tax, IncludeShipping: tc.shipping}
			})
			b.deliver(t, shop, "orders/paid", tc.order.body(t))
			want := tc.base / 100
			if got := b.balance(t, shop, customer); got != want {
				t.Fatalf("balance %d, want %d", got, want)
			}
			es := b.entries(t, shop, customer)
			if len(es) != 1 || es[0].Kind != ledger.KindEarn || es[0].BaseMinor != tc.base || es[0].Points != want {
				t.Fatalf("entries %+v", es)
			}
			ev := b.events(t, shop, "wallet_points_rewarded")
			if len(ev) != 1 || props(t, ev[0])["points"] != float64(want) || ev[0].Currency != tc.order.Currency {
				t.Fatalf("events %+v", ev)
			}
			b.reconcile(t, shop, customer)
		})
	}
}
