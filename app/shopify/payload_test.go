package shopify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/shopify"
)

// mustDecodeFixture decodes testdata/name into v, failing on unknown
// trouble such as a float-rounded id that does not fit the field type.
func mustDecodeFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// mustMinor returns m in cents.
func mustMinor(t *testing.T, m shopify.Money) int64 {
	t.Helper()
	n, err := m.MinorUnits(2)
	if err != nil {
		t.Fatalf("MinorUnits(%q): %v", m, err)
	}
	return n
}

func TestOrder_Decode(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"orders_create.json", "orders_paid.json", "orders_cancelled.json", "orders_updated.json", "orders_fulfilled.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var o shopify.Order
			mustDecodeFixture(t, name, &o)

			if o.Name != "#9999" || o.OrderNumber != 1234 {
				t.Errorf("Name, OrderNumber = %q, %d; want #9999, 1234", o.Name, o.OrderNumber)
			}
			// The fixture's numeric id was rounded by JavaScript; it must
			// still decode, and the gid carries the true id.
			if o.ID != 820982911946154500 {
				t.Errorf("ID = %d, want the fixture's 820982911946154500", o.ID)
			}
			kind, id, err := shopify.ParseGID(o.AdminGraphQLAPIID)
			if err != nil || kind != "Order" || id != 820982911946154508 {
				t.Errorf("ParseGID(%q) = %q, %d, %v", o.AdminGraphQLAPIID, kind, id, err)
			}
			if len(o.LineItems) != 5 {
				t.Fatalf("len(LineItems) = %d, want 5", len(o.LineItems))
			}
			li := o.LineItems[0]
			if li.Title != "Aviator sunglasses" || li.Quantity != 1 || mustMinor(t, li.Price) != 8999 || li.SKU != "SKU2006-001" {
				t.Errorf("LineItems[0] = %+v", li)
			}
			if li.ProductID != 788032119674292900 || li.VariantID != 0 {
				t.Errorf("LineItems[0] ProductID, VariantID = %d, %d", li.ProductID, li.VariantID)
			}
			if got := mustMinor(t, o.SubtotalPrice); got != 40495 {
				t.Errorf("SubtotalPrice = %d cents, want 40495", got)
			}
			if got := mustMinor(t, o.CurrentSubtotalPriceSet.ShopMoney.Amount); got != 41495 {
				t.Errorf("CurrentSubtotalPriceSet = %d cents, want 41495", got)
			}
			if got := mustMinor(t, o.TotalShippingPriceSet.PresentmentMoney.Amount); got != 1000 || o.TotalShippingPriceSet.PresentmentMoney.CurrencyCode != "USD" {
				t.Errorf("TotalShippingPriceSet = %+v", o.TotalShippingPriceSet)
			}
			if got := mustMinor(t, o.TotalDiscounts); got != 2000 {
				t.Errorf("TotalDiscounts = %d cents, want 2000", got)
			}
			if o.Currency != "USD" || o.FinancialStatus != "voided" || !o.Test || o.Tags != "tag1, tag2" || o.Email != "jon@example.com" {
				t.Errorf("order header = %q %q %v %q %q", o.Currency, o.FinancialStatus, o.Test, o.Tags, o.Email)
			}
			wantTime := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
			if o.CancelledAt == nil || !o.CancelledAt.Equal(wantTime) || o.CancelReason != "customer" {
				t.Errorf("CancelledAt, CancelReason = %v, %q", o.CancelledAt, o.CancelReason)
			}
			if o.Channel() != shopify.ChannelOnlineStore {
				t.Errorf("Channel = %q, want online_store", o.Channel())
			}
			if o.Customer == nil || o.Customer.ID != 115310627314723950 || o.Customer.Email != "john@example.com" {
				t.Fatalf("Customer = %+v", o.Customer)
			}
			if _, id, err := shopify.ParseGID(o.Customer.AdminGraphQLAPIID); err != nil || id != 115310627314723954 {
				t.Errorf("customer gid id = %d, %v", id, err)
			}
			if len(o.ShippingLines) != 1 || mustMinor(t, o.ShippingLines[0].Price) != 1000 {
				t.Errorf("ShippingLines = %+v", o.ShippingLines)
			}
		})
	}
}

func TestOrder_DecodeDiscountsAndAttributes(t *testing.T) {
	t.Parallel()
	// The shapes of the arrays the fixtures leave empty (reference §8.2).
	body := `{"id":1,"source_name":"shopify_draft_order","customer":null,
	  "discount_codes":[{"code":"SPRING30","amount":"30.00","type":"fixed_amount"}],
	  "note_attributes":[{"name":"referral_code","value":"ABC123"},{"name":"n","value":7},{"name":"b","value":null}],
	  "discount_applications":[{"target_type":"line_item","type":"discount_code","value":"15.0","value_type":"percentage","allocation_method":"across","target_selection":"all","code":"SPRING30"}],
	  "line_items":[{"id":2,"price":"10.00","discount_allocations":[{"amount":"1.50","discount_application_index":0}],"properties":[{"name":"gift","value":true}]}]}`
	var o shopify.Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Customer != nil || o.Channel() != shopify.ChannelDraftOrder {
		t.Errorf("Customer, Channel = %v, %q", o.Customer, o.Channel())
	}
	if len(o.DiscountCodes) != 1 || o.DiscountCodes[0].Code != "SPRING30" || mustMinor(t, o.DiscountCodes[0].Amount) != 3000 || o.DiscountCodes[0].Type != "fixed_amount" {
		t.Errorf("DiscountCodes = %+v", o.DiscountCodes)
	}
	wantAttrs := []shopify.NoteAttribute{{Name: "referral_code", Value: "ABC123"}, {Name: "n", Value: "7"}, {Name: "b", Value: ""}}
	if len(o.NoteAttributes) != len(wantAttrs) {
		t.Fatalf("NoteAttributes = %+v", o.NoteAttributes)
	}
	for i, w := range wantAttrs {
		if o.NoteAttributes[i] != w {
			t.Errorf("NoteAttributes[%d] = %+v, want %+v", i, o.NoteAttributes[i], w)
		}
	}
	da := o.DiscountApplications
	if len(da) != 1 || da[0].ValueType != "percentage" || da[0].Code != "SPRING30" {
		t.Errorf("DiscountApplications = %+v", da)
	}
	if v, err := da[0].Value.MinorUnits(1); err != nil || v != 150 {
		t.Errorf("DiscountApplications[0].Value = %d, %v; want 150 tenths", v, err)
	}
	li := o.LineItems[0]
	if len(li.DiscountAllocations) != 1 || mustMinor(t, li.DiscountAllocations[0].Amount) != 150 || li.Properties[0].Value != "true" {
		t.Errorf("LineItems[0] = %+v", li)
	}
}

func TestOrder_Channel(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"web":                 shopify.ChannelOnlineStore,
		"pos":                 shopify.ChannelPOS,
		"shopify_draft_order": shopify.ChannelDraftOrder,
		"iphone":              shopify.ChannelOther,
		"1354745":             shopify.ChannelOther,
		"":                    shopify.ChannelOther,
		"Web":                 shopify.ChannelOther,
	}
	for source, want := range tests {
		o := shopify.Order{SourceName: source}
		if got := o.Channel(); got != want {
			t.Errorf("Channel(%q) = %q, want %q", source, got, want)
		}
	}
}

func TestRefund_Decode(t *testing.T) {
	t.Parallel()
	var r shopify.Refund
	mustDecodeFixture(t, "refunds_create.json", &r)
	if _, id, err := shopify.ParseGID(r.AdminGraphQLAPIID); err != nil || id != 890088186047892319 {
		t.Errorf("refund gid id = %d, %v", id, err)
	}
	if r.OrderID != 820982911946154500 || r.Note != "Things were damaged" || r.Restock || r.UserID != 548380009 {
		t.Errorf("refund header = %+v", r)
	}
	if len(r.RefundLineItems) != 5 {
		t.Fatalf("len(RefundLineItems) = %d, want 5", len(r.RefundLineItems))
	}
	rli := r.RefundLineItems[0]
	// subtotal is a JSON number (89.99) and must not pass through float64.
	if got := mustMinor(t, rli.Subtotal); got != 8999 {
		t.Errorf("Subtotal = %d cents, want 8999", got)
	}
	if got := mustMinor(t, rli.TotalTax); got != 0 {
		t.Errorf("TotalTax = %d cents, want 0", got)
	}
	if got := mustMinor(t, rli.SubtotalSet.ShopMoney.Amount); got != 8999 {
		t.Errorf("SubtotalSet = %d cents, want 8999", got)
	}
	if rli.Quantity != 1 || rli.RestockType != "no_restock" || rli.LineItem.Title != "Aviator sunglasses" {
		t.Errorf("RefundLineItems[0] = %+v", rli)
	}
	var sum int64
	for _, li := range r.RefundLineItems {
		sum += mustMinor(t, li.Subtotal)
	}
	if sum != 8999+1999+2499+15999+11999 {
		t.Errorf("sum of subtotals = %d cents", sum)
	}
	if len(r.Transactions) != 2 || r.Transactions[0].Kind != "refund" || mustMinor(t, r.Transactions[0].Amount) != 7500 || mustMinor(t, r.Transactions[1].Amount) != 1000 {
		t.Errorf("Transactions = %+v", r.Transactions)
	}
	if r.OrderAdjustments == nil || len(r.OrderAdjustments) != 0 || len(r.RefundShippingLines) != 0 {
		t.Errorf("OrderAdjustments, RefundShippingLines = %v, %v", r.OrderAdjustments, r.RefundShippingLines)
	}
}

func TestCustomer_Decode(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"customers_create.json", "customers_update.json"} {
		var c shopify.Customer
		mustDecodeFixture(t, name, &c)
		if c.ID != 706405506930370000 || c.Email != "bob@biller.com" || c.Phone != "" || c.FirstName != "Bob" || c.State != "disabled" {
			t.Errorf("%s: %+v", name, c)
		}
		if _, id, err := shopify.ParseGID(c.AdminGraphQLAPIID); err != nil || id != 706405506930370084 {
			t.Errorf("%s: gid id = %d, %v", name, id, err)
		}
		if c.DefaultAddress == nil || c.DefaultAddress.Zip != "K2P 2L8" || !c.DefaultAddress.Default {
			t.Errorf("%s: DefaultAddress = %+v", name, c.DefaultAddress)
		}
	}
	var del shopify.Customer
	mustDecodeFixture(t, "customers_delete.json", &del)
	if del.ID != 706405506930370000 || del.AdminGraphQLAPIID != "gid://shopify/Customer/706405506930370084" {
		t.Errorf("customers/delete = %+v", del)
	}
}

func TestCompliance_Decode(t *testing.T) {
	t.Parallel()
	var redact shopify.CustomersRedact
	mustDecodeFixture(t, "customers_redact.json", &redact)
	if redact.ShopID != 954889 || redact.ShopDomain != "{shop}.myshopify.com" || redact.Customer.ID != 191167 ||
		redact.Customer.Email != "john@example.com" || len(redact.OrdersToRedact) != 3 || redact.OrdersToRedact[0] != 299938 {
		t.Errorf("customers/redact = %+v", redact)
	}
	var dr shopify.CustomersDataRequest
	mustDecodeFixture(t, "customers_data_request.json", &dr)
	if dr.DataRequest.ID != 9999 || dr.Customer.Phone != "555-625-1199" || len(dr.OrdersRequested) != 3 {
		t.Errorf("customers/data_request = %+v", dr)
	}
	var sr shopify.ShopRedact
	mustDecodeFixture(t, "shop_redact.json", &sr)
	if sr.ShopID != 954889 || sr.ShopDomain != "{shop}.myshopify.com" {
		t.Errorf("shop/redact = %+v", sr)
	}
}

func TestShopPayload_Decode(t *testing.T) {
	t.Parallel()
	var s shopify.ShopPayload
	mustDecodeFixture(t, "app_uninstalled.json", &s)
	if s.ID != 548380009 || s.Name != "Super Toys" || s.MyshopifyDomain != "" || s.PlanName != "enterprise" || s.Currency != "USD" {
		t.Errorf("app/uninstalled = %+v", s)
	}
}

func TestCustomersMerge_Decode(t *testing.T) {
	t.Parallel()
	var m shopify.CustomersMerge
	mustDecodeFixture(t, "customers_merge.json", &m)
	if m.Status != "failed" || m.AdminGraphQLAPICustomerKeptID != "gid://shopify/Customer/1" || m.AdminGraphQLAPICustomerDeletedID != "gid://shopify/Customer/2" {
		t.Errorf("customers/merge = %+v", m)
	}
	if len(m.Errors) != 1 || m.Errors[0].Field != "merge_in_progress" || len(m.Errors[0].CustomerIDs) != 1 || m.Errors[0].CustomerIDs[0] != 1 {
		t.Errorf("customers/merge errors = %+v", m.Errors)
	}
}
