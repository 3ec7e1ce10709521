package loyalty_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/store"
)

// Hand-built payloads in the shape Shopify delivers them (REST webhook
// bodies, API 2026-04 and later), for the order shapes the samples lack: a
// POS order, a tax-inclusive EU order with shipping VAT, amount-only
// refunds, exchanges, order edits. Money is written as strings with a
// *_set twin (shop and presentment money in the shop currency), ids are
// exact int64 with their admin_graphql_api_id, like a live delivery.

// shopLine is one line item of a liveOrder.
type shopLine struct {
	ID       int64
	Title    string
	Qty      int
	Price    string // unit price; contains Tax when the order's TaxesIncluded
	Discount string // the line's discount allocations, "" for none
	Tax      string // tax on the whole line, "" for none
	GiftCard bool
	// Current overrides current_quantity (Qty less refunded and removed
	// units); nil means Qty less the units of Refunds, like Shopify.
	Current *int
}

// shopShipping is one shipping line of a liveOrder.
type shopShipping struct {
	Title string
	Price string // after shipping discounts; contains Tax when TaxesIncluded
	Tax   string
}

// liveOrder builds an orders/* body. Totals (subtotal_price, total_tax,
// total_price, current_*) are computed from the lines the way Shopify
// computes them.
type liveOrder struct {
	ID            int64
	Customer      int64  // 0: guest ("customer": null)
	CustomerState string // default "enabled" (an account)
	Email         string
	Currency      string // shop currency, default USD
	TaxesIncluded bool
	Source        string // source_name, default "web"
	LocationID    int64  // POS location, 0 for none
	Lines         []shopLine
	Shipping      []shopShipping
	UpdatedAt     time.Time // default t0
	// Refunded lists refunded units per line id, as the order's refunds
	// array carries them.
	Refunded map[int64]int
	Test     bool
}

func dec(s string) decimal.Decimal {
	if s == "" {
		return decimal.Zero
	}
	return decimal.RequireFromString(s)
}

func moneySet(amount decimal.Decimal, currency string) map[string]any {
	m := map[string]any{"amount": amount.StringFixed(2), "currency_code": currency}
	return map[string]any{"shop_money": m, "presentment_money": m}
}

func taxLines(tax, currency string) []any {
	if dec(tax).IsZero() {
		return []any{}
	}
	return []any{map[string]any{"title": "VAT", "rate": 0.19, "price": dec(tax).StringFixed(2), "price_set": moneySet(dec(tax), currency), "channel_liable": false}}
}

func (o liveOrder) gid() string { return fmt.Sprintf("gid://shopify/Order/%d", o.ID) }

func (o liveOrder) body(t testing.TB) []byte {
	t.Helper()
	cur := o.Currency
	if cur == "" {
		cur = "USD"
	}
	src := o.Source
	if src == "" {
		src = "web"
	}
	updated := o.UpdatedAt
	if updated.IsZero() {
		updated = t0
	}
	var subtotal, lineTax, shipping, shipTax, discounts, lineItemsTotal, currentSubtotal decimal.Decimal
	lines := make([]any, 0, len(o.Lines))
	for _, l := range o.Lines {
		qty := decimal.NewFromInt(int64(l.Qty))
		gross := dec(l.Price).Mul(qty)
		net := gross.Sub(dec(l.Discount))
		subtotal = subtotal.Add(net)
		lineItemsTotal = lineItemsTotal.Add(gross)
		discounts = discounts.Add(dec(l.Discount))
		lineTax = lineTax.Add(dec(l.Tax))
		current := l.Qty - o.Refunded[l.ID]
		if l.Current != nil {
			current = *l.Current
		}
		currentSubtotal = currentSubtotal.Add(net.Mul(decimal.NewFromInt(int64(current))).Div(decimal.NewFromInt(int64(max(l.Qty, 1)))))
		allocs := []any{}
		if !dec(l.Discount).IsZero() {
			allocs = append(allocs, map[string]any{"amount": dec(l.Discount).StringFixed(2), "amount_set": moneySet(dec(l.Discount), cur), "discount_application_index": 0})
		}
		lines = append(lines, map[string]any{
			"id": l.ID, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/LineItem/%d", l.ID),
			"title": l.Title, "name": l.Title, "quantity": l.Qty, "current_quantity": current,
			"fulfillable_quantity": current, "fulfillment_status": nil, "gift_card": l.GiftCard, "taxable": !dec(l.Tax).IsZero(),
			"requires_shipping": len(o.Shipping) > 0, "product_exists": true, "product_id": l.ID + 1000, "variant_id": l.ID + 2000,
			"sku": fmt.Sprintf("SKU-%d", l.ID), "vendor": "Perkbridge Supply", "grams": 250, "properties": []any{},
			"price": dec(l.Price).StringFixed(2), "price_set": moneySet(dec(l.Price), cur),
			"total_discount": dec(l.Discount).StringFixed(2), "total_discount_set": moneySet(dec(l.Discount), cur),
			"discount_allocations": allocs, "tax_lines": taxLines(l.Tax, cur), "duties": []any{},
		})
	}
	shippingLines := make([]any, 0, len(o.Shipping))
	for i, s := range o.Shipping {
		shipping = shipping.Add(dec(s.Price))
		shipTax = shipTax.Add(dec(s.Tax))
		shippingLines = append(shippingLines, map[string]any{
			"id": o.ID + 500 + int64(i), "title": s.Title, "code": s.Title, "source": "shopify", "is_removed": false,
			"carrier_identifier": nil, "phone": nil, "requested_fulfillment_service_id": nil,
			"price": dec(s.Price).StringFixed(2), "price_set": moneySet(dec(s.Price), cur),
			"discounted_price": dec(s.Price).StringFixed(2), "discounted_price_set": moneySet(dec(s.Price), cur),
			"current_discounted_price_set": moneySet(dec(s.Price), cur),
			"tax_lines":                    taxLines(s.Tax, cur), "discount_allocations": []any{},
		})
	}
	totalTax := lineTax.Add(shipTax)
	total := subtotal.Add(shipping)
	if !o.TaxesIncluded {
		total = total.Add(totalTax)
	}
	refunds := []any{}
	for lineID, qty := range o.Refunded {
		refunds = append(refunds, map[string]any{
			"id": lineID + 9000, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Refund/%d", lineID+9000), "order_id": o.ID,
			"refund_line_items": []any{map[string]any{"id": lineID + 9100, "line_item_id": lineID, "quantity": qty, "restock_type": "return"}},
			"transactions":      []any{}, "order_adjustments": []any{},
		})
	}
	var customer any
	state := o.CustomerState
	if state == "" {
		state = "enabled"
	}
	if o.Customer != 0 {
		customer = map[string]any{
			"id": o.Customer, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Customer/%d", o.Customer),
			"email": o.Email, "phone": nil, "first_name": "Mara", "last_name": "Keller", "state": state,
			"verified_email": true, "currency": cur, "created_at": "2025-05-01T10:00:00+02:00", "updated_at": updated.Format(time.RFC3339),
		}
	}
	var location any
	if o.LocationID != 0 {
		location = o.LocationID
	}
	body := map[string]any{
		"id": o.ID, "admin_graphql_api_id": o.gid(), "name": fmt.Sprintf("#%d", 1000+o.ID%9000), "order_number": 1000 + o.ID%9000,
		"email": o.Email, "contact_email": o.Email, "phone": nil, "currency": cur, "presentment_currency": cur,
		"created_at": t0.Add(-time.Hour).Format(time.RFC3339), "processed_at": t0.Add(-time.Hour).Format(time.RFC3339),
		"updated_at": updated.Format(time.RFC3339), "cancelled_at": nil, "cancel_reason": nil, "closed_at": nil,
		"financial_status": "paid", "fulfillment_status": nil, "source_name": src, "location_id": location,
		"test": o.Test, "taxes_included": o.TaxesIncluded, "tags": "", "note": nil, "confirmed": true,
		"subtotal_price": subtotal.StringFixed(2), "subtotal_price_set": moneySet(subtotal, cur),
		"current_subtotal_price": currentSubtotal.StringFixed(2), "current_subtotal_price_set": moneySet(currentSubtotal, cur),
		"total_line_items_price": lineItemsTotal.StringFixed(2), "total_line_items_price_set": moneySet(lineItemsTotal, cur),
		"total_discounts": discounts.StringFixed(2), "total_discounts_set": moneySet(discounts, cur),
		"total_tax": totalTax.StringFixed(2), "total_tax_set": moneySet(totalTax, cur),
		"total_price": total.StringFixed(2), "total_price_set": moneySet(total, cur),
		"total_shipping_price_set": moneySet(shipping, cur), "total_outstanding": "0.00", "total_tip_received": "0.00",
		"discount_codes": []any{}, "discount_applications": []any{}, "note_attributes": []any{},
		"customer": customer, "line_items": lines, "shipping_lines": shippingLines, "refunds": refunds,
		"fulfillments": []any{}, "payment_gateway_names": []string{"shopify_payments"},
		"buyer_accepts_marketing": false, "user_id": nil, "app_id": 580111,
	}
	if src == "pos" {
		body["payment_gateway_names"] = []string{"cash"}
		body["user_id"] = 79001
		body["device_id"] = 3
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refundLine is one refunded line of a liveRefund.
type refundLine struct {
	LineID   int64
	Qty      int
	Subtotal string // after the line's discounts; contains Tax when taxes are included
	Tax      string
}

// liveRefund builds a refunds/create body.
type liveRefund struct {
	ID       int64
	Order    int64
	Currency string
	Lines    []refundLine
	Shipping string // refunded shipping (refund_shipping_lines), "" for none
	// Money is the successful refund transactions (kind refund), Pending
	// those still pending.
	Money   []string
	Pending []string
	// Discrepancies are order_adjustments of kind refund_discrepancy, with
	// Shopify's sign: negative when more money went back than the lines
	// and shipping explain.
	Discrepancies []string
}

func (r liveRefund) gid() string { return fmt.Sprintf("gid://shopify/Refund/%d", r.ID) }

func (r liveRefund) body(t testing.TB) []byte {
	t.Helper()
	cur := r.Currency
	if cur == "" {
		cur = "USD"
	}
	lines := []any{}
	for i, l := range r.Lines {
		lines = append(lines, map[string]any{
			"id": r.ID + 10 + int64(i), "line_item_id": l.LineID, "quantity": l.Qty, "restock_type": "return", "location_id": nil,
			// Shopify sends these two as JSON numbers.
			"subtotal": json.Number(dec(l.Subtotal).String()), "total_tax": json.Number(dec(l.Tax).String()),
			"subtotal_set": moneySet(dec(l.Subtotal), cur), "total_tax_set": moneySet(dec(l.Tax), cur),
			"line_item": map[string]any{"id": l.LineID, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/LineItem/%d", l.LineID), "gift_card": false},
		})
	}
	shipping := []any{}
	if r.Shipping != "" {
		shipping = append(shipping, map[string]any{"id": r.ID + 20, "shipping_line_id": r.Order + 500, "full_refund": true,
			"subtotal_amount_set": moneySet(dec(r.Shipping), cur)})
	}
	transactions := []any{}
	tx := func(amount, status string) {
		transactions = append(transactions, map[string]any{
			"id": r.ID + 30 + int64(len(transactions)), "order_id": r.Order, "kind": "refund", "gateway": "shopify_payments",
			"status": status, "message": "Refunded", "amount": dec(amount).StringFixed(2), "currency": cur, "test": false,
			"parent_id": r.Order + 40, "source_name": "1830279", "created_at": t0.Format(time.RFC3339),
			"admin_graphql_api_id": fmt.Sprintf("gid://shopify/OrderTransaction/%d", r.ID+30+int64(len(transactions))),
		})
	}
	for _, m := range r.Money {
		tx(m, "success")
	}
	for _, m := range r.Pending {
		tx(m, "pending")
	}
	adjustments := []any{}
	for i, d := range r.Discrepancies {
		adjustments = append(adjustments, map[string]any{
			"id": r.ID + 50 + int64(i), "order_id": r.Order, "refund_id": r.ID, "kind": "refund_discrepancy",
			"reason": "Refund discrepancy", "amount": dec(d).StringFixed(2), "amount_set": moneySet(dec(d), cur),
			"tax_amount": "0.00", "tax_amount_set": moneySet(decimal.Zero, cur),
		})
	}
	b, err := json.Marshal(map[string]any{
		"id": r.ID, "admin_graphql_api_id": r.gid(), "order_id": r.Order,
		"created_at": t0.Format(time.RFC3339), "processed_at": t0.Format(time.RFC3339), "note": "Customer service",
		"user_id": 79001, "restock": false, "duties": []any{}, "total_duties_set": moneySet(decimal.Zero, cur), "return": nil,
		"refund_line_items": lines, "refund_shipping_lines": shipping, "transactions": transactions, "order_adjustments": adjustments,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editLine is one addition or removal of a liveEdit.
type editLine struct {
	ID    int64
	Delta int
}

// liveEdit builds an orders/edited body: {"order_edit": {…}}, line ids
// and deltas only.
type liveEdit struct {
	ID        int64
	Order     int64
	Committed time.Time
	Add, Rem  []editLine
}

func (e liveEdit) body(t testing.TB) []byte {
	t.Helper()
	conv := func(ls []editLine) []any {
		out := []any{}
		for _, l := range ls {
			out = append(out, map[string]any{"id": l.ID, "delta": l.Delta})
		}
		return out
	}
	committed := e.Committed
	if committed.IsZero() {
		committed = t0
	}
	b, err := json.Marshal(map[string]any{"order_edit": map[string]any{
		"id": e.ID, "app_id": nil, "order_id": e.Order, "user_id": 79001, "staff_note": "exchange at the till",
		"notify_customer": false, "created_at": committed.Format(time.RFC3339), "committed_at": committed.Format(time.RFC3339),
		"line_items":     map[string]any{"additions": conv(e.Add), "removals": conv(e.Rem)},
		"discounts":      map[string]any{"line_item": map[string]any{"additions": []any{}, "removals": []any{}}},
		"shipping_lines": map[string]any{"additions": []any{}, "removals": []any{}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shopIn returns a new shop of the bundle's database in currency cur.
func (b *bundle) shopIn(t testing.TB, cur, tz string) *store.Shop {
	t.Helper()
	sh := b.newShop(t, tz)
	if err := b.st.UpdateShopInfo(context.Background(), sh.ID, "Laden", "owner@example.com", cur, tz); err != nil {
		t.Fatal(err)
	}
	sh, err := b.st.Shop(context.Background(), sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func ptr[T any](v T) *T { return &v }
