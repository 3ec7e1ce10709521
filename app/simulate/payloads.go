package simulate

import (
	"fmt"
	"strconv"
	"time"
)

// Payloads are built as Shopify's REST-shaped webhook bodies (API
// 2026-10): the same field names, money as decimal strings with *_set
// pairs, ids as numbers beside their GraphQL ids, nulls where Shopify sends
// null. Only what a real store sends is here; nothing is shaped for the
// app's convenience.

// product is one item of the simulated catalogue.
type product struct {
	id, variantID int64
	title, sku    string
	priceMinor    int64
	grams         int64
}

var catalogue = []product{
	{8200100001, 4420100001, "Organic Cotton Tee", "TEE-ORG-M", 2800, 180},
	{8200100002, 4420100002, "Merino Beanie", "BEANIE-MER", 3400, 90},
	{8200100003, 4420100003, "Canvas Tote", "TOTE-CNV", 1900, 250},
	{8200100004, 4420100004, "Trail Runner Socks (3 pack)", "SOCK-TRL-3", 1600, 120},
	{8200100005, 4420100005, "Waxed Field Jacket", "JKT-WAX-L", 18900, 1400},
	{8200100006, 4420100006, "Ceramic Pour-Over Set", "POUR-CER", 6400, 900},
}

// taxRateBP is the simulated US sales tax, in basis points (8.25 %).
const taxRateBP = 825

// shippingMinor is the flat online shipping rate.
const shippingMinor = 695

func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

func moneySet(minor int64, currency string) map[string]any {
	m := map[string]any{"amount": money(minor), "currency_code": currency}
	return map[string]any{"shop_money": m, "presentment_money": m}
}

func gid(kind string, id int64) string {
	return "gid://shopify/" + kind + "/" + strconv.FormatInt(id, 10)
}

func ts(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// line is one line of a simulated order.
type line struct {
	id       int64
	product  product
	quantity int
}

func (l line) subtotal() int64 { return l.product.priceMinor * int64(l.quantity) }

// order is what the simulator remembers of an order it sent.
type order struct {
	id, number   int64
	name         string
	customer     *Customer // nil: a guest checkout
	email, phone string
	channel      string // "web" or "pos"
	lines        []line
	discountCode string
	discountOff  int64
	created      time.Time
	refunded     map[int64]int // line id → quantity refunded
	cancelled    bool
	fulfilled    bool
}

func (o *order) subtotal() int64 {
	var s int64
	for _, l := range o.lines {
		s += l.subtotal()
	}
	return s - o.discountOff
}

func (o *order) shipping() int64 {
	if o.channel == "pos" {
		return 0
	}
	return shippingMinor
}

func taxOf(minor int64) int64 { return (minor*taxRateBP + 5000) / 10000 }

func (o *order) lineTax(l line) int64 {
	share := l.subtotal()
	if o.discountOff > 0 && o.subtotal()+o.discountOff > 0 {
		share -= o.discountOff * l.subtotal() / (o.subtotal() + o.discountOff)
	}
	return taxOf(share)
}

func (o *order) tax() int64 {
	var t int64
	for _, l := range o.lines {
		t += o.lineTax(l)
	}
	return t + taxOf(o.shipping())
}

func customerJSON(c *Customer, now time.Time, state string) map[string]any {
	return map[string]any{
		"id":                   c.ID,
		"admin_graphql_api_id": gid("Customer", c.ID),
		"email":                nullable(c.Email),
		"phone":                nullable(c.Phone),
		"first_name":           c.FirstName,
		"last_name":            c.LastName,
		"state":                state,
		"verified_email":       c.Email != "",
		"created_at":           ts(c.Created),
		"updated_at":           ts(now),
		"currency":             "USD",
		"note":                 nil,
		"tax_exempt":           false,
		"tax_exemptions":       []any{},
		"multipass_identifier": nil,
		"addresses":            []any{},
		"default_address":      address(c),
	}
}

func address(c *Customer) map[string]any {
	return map[string]any{
		"first_name": c.FirstName, "last_name": c.LastName, "name": c.FirstName + " " + c.LastName,
		"address1": "500 Market Street", "address2": nil, "city": "San Francisco", "province": "California",
		"province_code": "CA", "zip": "94105", "country": "United States", "country_code": "US",
		"phone": nullable(c.Phone), "company": nil,
	}
}

// orderJSON is the body of orders/paid (and, with cancelled set,
// orders/cancelled) for o.
func orderJSON(o *order, now time.Time, shop string) map[string]any {
	sub, ship, tax := o.subtotal(), o.shipping(), o.tax()
	total := sub + ship + tax
	items := make([]any, 0, len(o.lines))
	var linesPrice int64
	for _, l := range o.lines {
		linesPrice += l.subtotal()
		items = append(items, lineItemJSON(o, l))
	}
	current := total
	financial := "paid"
	var refunded int64
	for _, l := range o.lines {
		if q := o.refunded[l.id]; q > 0 {
			refunded += l.product.priceMinor*int64(q) + taxOf(l.product.priceMinor*int64(q))
		}
	}
	if refunded > 0 {
		current -= refunded
		financial = "partially_refunded"
	}
	var cancelledAt, cancelReason any
	if o.cancelled {
		cancelledAt, cancelReason = ts(now), "customer"
		financial, current = "refunded", 0
	}
	var customer any
	if o.customer != nil {
		customer = customerJSON(o.customer, now, "enabled")
	}
	discountCodes := []any{}
	discountApps := []any{}
	if o.discountCode != "" {
		discountCodes = append(discountCodes, map[string]any{"code": o.discountCode, "amount": money(o.discountOff), "type": "fixed_amount"})
		discountApps = append(discountApps, map[string]any{
			"target_type": "line_item", "type": "discount_code", "value": money(o.discountOff), "value_type": "fixed_amount",
			"allocation_method": "across", "target_selection": "all", "code": o.discountCode,
		})
	}
	shippingLines := []any{}
	if ship > 0 {
		shippingLines = append(shippingLines, map[string]any{
			"id": o.id + 1, "title": "Standard", "code": "Standard", "source": "shopify",
			"price": money(ship), "price_set": moneySet(ship, "USD"),
			"discounted_price": money(ship), "discounted_price_set": moneySet(ship, "USD"),
			"tax_lines": []any{map[string]any{"title": "CA State Tax", "rate": 0.0825, "price": money(taxOf(ship)), "price_set": moneySet(taxOf(ship), "USD")}},
		})
	}
	body := map[string]any{
		"id":                          o.id,
		"admin_graphql_api_id":        gid("Order", o.id),
		"name":                        o.name,
		"order_number":                o.number,
		"number":                      o.number - 1000,
		"email":                       o.email,
		"contact_email":               nullable(o.email),
		"phone":                       nullable(o.phone),
		"customer_locale":             "en-US",
		"created_at":                  ts(o.created),
		"processed_at":                ts(o.created),
		"updated_at":                  ts(now),
		"cancelled_at":                cancelledAt,
		"cancel_reason":               cancelReason,
		"closed_at":                   nil,
		"currency":                    "USD",
		"presentment_currency":        "USD",
		"financial_status":            financial,
		"fulfillment_status":          fulfillmentStatus(o),
		"source_name":                 o.channel,
		"test":                        false,
		"taxes_included":              false,
		"confirmed":                   true,
		"tags":                        "",
		"note":                        nil,
		"subtotal_price":              money(sub),
		"subtotal_price_set":          moneySet(sub, "USD"),
		"current_subtotal_price":      money(max(sub-refundedSubtotal(o), 0)),
		"current_subtotal_price_set":  moneySet(max(sub-refundedSubtotal(o), 0), "USD"),
		"total_discounts":             money(o.discountOff),
		"total_discounts_set":         moneySet(o.discountOff, "USD"),
		"current_total_discounts":     money(o.discountOff),
		"current_total_discounts_set": moneySet(o.discountOff, "USD"),
		"total_line_items_price":      money(linesPrice),
		"total_line_items_price_set":  moneySet(linesPrice, "USD"),
		"total_price":                 money(total),
		"total_price_set":             moneySet(total, "USD"),
		"current_total_price":         money(current),
		"current_total_price_set":     moneySet(current, "USD"),
		"total_tax":                   money(tax),
		"total_tax_set":               moneySet(tax, "USD"),
		"current_total_tax":           money(tax),
		"current_total_tax_set":       moneySet(tax, "USD"),
		"total_shipping_price_set":    moneySet(ship, "USD"),
		"current_shipping_price_set":  moneySet(ship, "USD"),
		"total_outstanding":           "0.00",
		"total_tip_received":          "0.00",
		"total_weight":                totalGrams(o),
		"discount_codes":              discountCodes,
		"discount_applications":       discountApps,
		"note_attributes":             []any{},
		"refunds":                     []any{},
		"customer":                    customer,
		"line_items":                  items,
		"fulfillments":                []any{},
		"shipping_lines":              shippingLines,
		"tax_lines":                   []any{map[string]any{"title": "CA State Tax", "rate": 0.0825, "price": money(tax), "price_set": moneySet(tax, "USD")}},
		"payment_gateway_names":       []any{"shopify_payments"},
		"buyer_accepts_marketing":     o.customer != nil,
		"order_status_url":            fmt.Sprintf("https://%s/87654321/orders/%x/authenticate", shop, o.id),
		"confirmation_number":         fmt.Sprintf("S%08X", o.id%0xFFFFFFFF),
	}
	if o.channel == "pos" {
		body["location_id"] = int64(71234567890)
		body["user_id"] = int64(101112131)
		body["source_identifier"] = fmt.Sprintf("%d-1-%d", 71234567890, o.number)
		body["shipping_address"] = nil
		body["payment_gateway_names"] = []any{"cash"}
	} else {
		body["location_id"] = nil
		body["user_id"] = nil
		if o.customer != nil {
			body["shipping_address"] = address(o.customer)
			body["billing_address"] = address(o.customer)
		}
	}
	return body
}

func fulfillmentStatus(o *order) any {
	if o.fulfilled {
		return "fulfilled"
	}
	return nil
}

func refundedSubtotal(o *order) int64 {
	var s int64
	for _, l := range o.lines {
		s += l.product.priceMinor * int64(o.refunded[l.id])
	}
	return s
}

func totalGrams(o *order) int64 {
	var g int64
	for _, l := range o.lines {
		g += l.product.grams * int64(l.quantity)
	}
	return g
}

func lineItemJSON(o *order, l line) map[string]any {
	p := l.product
	tax := o.lineTax(l)
	return map[string]any{
		"id":                            l.id,
		"admin_graphql_api_id":          gid("LineItem", l.id),
		"product_id":                    p.id,
		"variant_id":                    p.variantID,
		"title":                         p.title,
		"name":                          p.title,
		"variant_title":                 nil,
		"sku":                           p.sku,
		"vendor":                        "Perkbridge Demo Goods",
		"quantity":                      l.quantity,
		"current_quantity":              l.quantity - o.refunded[l.id],
		"fulfillable_quantity":          l.quantity,
		"fulfillment_service":           "manual",
		"fulfillment_status":            nil,
		"price":                         money(p.priceMinor),
		"price_set":                     moneySet(p.priceMinor, "USD"),
		"total_discount":                "0.00",
		"total_discount_set":            moneySet(0, "USD"),
		"gift_card":                     false,
		"taxable":                       true,
		"requires_shipping":             o.channel != "pos",
		"product_exists":                true,
		"grams":                         p.grams,
		"properties":                    []any{},
		"discount_allocations":          []any{},
		"variant_inventory_management":  "shopify",
		"tax_lines":                     []any{map[string]any{"title": "CA State Tax", "rate": 0.0825, "price": money(tax), "price_set": moneySet(tax, "USD")}},
		"duties":                        []any{},
		"attributed_staffs":             []any{},
		"current_quantity_refundable":   l.quantity - o.refunded[l.id],
		"product_has_variants":          false,
		"variant_inventory_policy_deny": true,
	}
}

// refundJSON is the body of refunds/create: qty units of line l refunded,
// with its tax, as one successful refund transaction.
func refundJSON(o *order, l line, qty int, refundID int64, now time.Time) map[string]any {
	sub := l.product.priceMinor * int64(qty)
	tax := taxOf(sub)
	return map[string]any{
		"id":                    refundID,
		"admin_graphql_api_id":  gid("Refund", refundID),
		"order_id":              o.id,
		"created_at":            ts(now),
		"processed_at":          ts(now),
		"note":                  "Customer return",
		"user_id":               int64(101112131),
		"restock":               true,
		"duties":                []any{},
		"total_duties_set":      moneySet(0, "USD"),
		"return":                nil,
		"order_adjustments":     []any{},
		"refund_shipping_lines": []any{},
		"refund_line_items": []any{map[string]any{
			"id": refundID + 1, "line_item_id": l.id, "quantity": qty, "location_id": nil, "restock_type": "return",
			"subtotal": float64(sub) / 100, "subtotal_set": moneySet(sub, "USD"),
			"total_tax": float64(tax) / 100, "total_tax_set": moneySet(tax, "USD"),
			"line_item": lineItemJSON(o, l),
		}},
		"transactions": []any{map[string]any{
			"id": refundID + 2, "admin_graphql_api_id": gid("OrderTransaction", refundID+2), "order_id": o.id,
			"kind": "refund", "status": "success", "gateway": "shopify_payments", "amount": money(sub + tax),
			"currency": "USD", "created_at": ts(now), "processed_at": ts(now), "test": false, "parent_id": o.id + 3,
		}},
	}
}

// fulfillmentJSON is the body of fulfillments/create: every line shipped.
func fulfillmentJSON(o *order, fulfillmentID int64, now time.Time) map[string]any {
	items := make([]any, 0, len(o.lines))
	for _, l := range o.lines {
		items = append(items, lineItemJSON(o, l))
	}
	var dest any
	if o.customer != nil {
		dest = address(o.customer)
	}
	return map[string]any{
		"id":                   fulfillmentID,
		"admin_graphql_api_id": gid("Fulfillment", fulfillmentID),
		"order_id":             o.id,
		"status":               "success",
		"created_at":           ts(now),
		"updated_at":           ts(now),
		"service":              "manual",
		"tracking_company":     "UPS",
		"tracking_number":      fmt.Sprintf("1Z999AA1%010d", fulfillmentID%1e10),
		"tracking_numbers":     []any{fmt.Sprintf("1Z999AA1%010d", fulfillmentID%1e10)},
		"tracking_url":         "https://www.ups.com/track",
		"shipment_status":      nil,
		"location_id":          int64(71234567890),
		"origin_address":       nil,
		"email":                o.email,
		"destination":          dest,
		"line_items":           items,
		"name":                 o.name + ".1",
		"receipt":              map[string]any{},
	}
}
