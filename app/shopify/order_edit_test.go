package shopify_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/shopify"
)

// TestOrderEdited_Decode: the orders/edited body is {"order_edit": {…}}
// with line ids and deltas only (Shopify's 2026-04 sample, the copy the
// webhook command sends; its ids were rounded by JavaScript).
func TestOrderEdited_Decode(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../webhooks/samples/orders_edited.json")
	if err != nil {
		t.Fatal(err)
	}
	var e shopify.OrderEdited
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	oe := e.OrderEdit
	if oe.ID != 78912328793123780 || oe.OrderID != 820982911946154500 {
		t.Errorf("ID, OrderID = %d, %d", oe.ID, oe.OrderID)
	}
	if want := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC); !oe.CommittedAt.Equal(want) || !oe.CreatedAt.Equal(want) {
		t.Errorf("CommittedAt, CreatedAt = %v, %v", oe.CommittedAt, oe.CreatedAt)
	}
	add, rem := oe.LineItems.Additions, oe.LineItems.Removals
	if len(add) != 1 || add[0].ID != 78643924236718240 || add[0].Delta != 1 {
		t.Errorf("Additions = %+v", add)
	}
	if len(rem) != 1 || rem[0].ID != 487817672276298560 || rem[0].Delta != 1 {
		t.Errorf("Removals = %+v", rem)
	}
	// Decoded as an order, the same body has no id: the shape is not an
	// order's.
	var o shopify.Order
	if err := json.Unmarshal(b, &o); err != nil || o.ID != 0 || o.AdminGraphQLAPIID != "" {
		t.Errorf("as an order: %+v, %v", o.ID, err)
	}
}

// TestOrder_DecodeTaxLines: line and shipping tax lines (tax-inclusive EU
// order), current_quantity present or absent, and a refunded shipping line
// with its tax.
func TestOrder_DecodeTaxLines(t *testing.T) {
	t.Parallel()
	body := `{"id": 1, "taxes_included": true, "currency": "EUR",
 "line_items": [
  {"id": 11, "quantity": 2, "current_quantity": 1, "price": "59.50",
   "tax_lines": [{"title": "DE MwSt", "price": "19.00", "rate": 0.19, "price_set": {"shop_money": {"amount": "19.00", "currency_code": "EUR"}}}]},
  {"id": 12, "quantity": 1, "price": "10.00", "tax_lines": []}],
 "shipping_lines": [{"id": 21, "title": "DHL", "price": "5.90", "discounted_price": "5.90",
   "tax_lines": [{"title": "DE MwSt", "price": "0.94", "rate": 0.19, "price_set": {"shop_money": {"amount": "0.94", "currency_code": "EUR"}}}]}]}`
	var o shopify.Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	li := o.LineItems[0]
	if li.CurrentQuantity == nil || *li.CurrentQuantity != 1 || len(li.TaxLines) != 1 || li.TaxLines[0].PriceSet.ShopMoney.Amount != "19.00" {
		t.Errorf("line 0 = %+v", li)
	}
	if o.LineItems[1].CurrentQuantity != nil {
		t.Errorf("absent current_quantity decoded as %d", *o.LineItems[1].CurrentQuantity)
	}
	if sl := o.ShippingLines[0]; len(sl.TaxLines) != 1 || sl.TaxLines[0].Price != "0.94" || sl.TaxLines[0].Title != "DE MwSt" {
		t.Errorf("shipping line = %+v", sl)
	}
	var r shopify.Refund
	err := json.Unmarshal([]byte(`{"id": 2, "order_id": 1, "refund_shipping_lines": [{"id": 3, "shipping_line_id": 21,
 "subtotal_amount_set": {"shop_money": {"amount": "4.96", "currency_code": "EUR"}},
 "tax_amount_set": {"shop_money": {"amount": "0.94", "currency_code": "EUR"}}}]}`), &r)
	if err != nil || r.RefundShippingLines[0].TaxAmountSet.ShopMoney.Amount != "0.94" {
		t.Errorf("refund shipping line = %+v, %v", r.RefundShippingLines, err)
	}
}
