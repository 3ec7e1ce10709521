package fake

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// This file teaches the fake what referral fraud controls need from
// Shopify: customer segments (segmentCreate), discounts limited to a
// segment (context.customerSegments), a customer's order count
// (numberOfOrders) and default address.

// ShopifySegment is a customer segment created through segmentCreate.
type ShopifySegment struct {
	ID    string // gid://shopify/Segment/N
	Name  string
	Query string
}

// ShopifyAddress is a customer's default address (MailingAddress).
type ShopifyAddress struct {
	Address1, Address2, City, Zip, CountryCode, Phone string
}

func init() {
	shopifySchema["Mutation"].fields["segmentCreate"] = gqlField{typ: "SegmentCreatePayload", args: map[string]bool{"name": true, "query": true}}
	shopifySchema["QueryRoot"].fields["segments"] = gqlField{typ: "SegmentConnection", conn: true, args: connArgs}
	shopifySchema["SegmentCreatePayload"] = gqlType{fields: map[string]gqlField{
		"segment": {typ: "Segment"}, "userErrors": {typ: "UserError", list: true},
	}}
	shopifySchema["UserError"] = gqlType{fields: map[string]gqlField{"field": {typ: "String", list: true}, "message": {typ: "String"}}}
	shopifySchema["Segment"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "name": {typ: "String"}, "query": {typ: "String"}, "creationDate": {typ: "DateTime"},
	}}
	shopifySchema["SegmentConnection"] = gqlType{fields: map[string]gqlField{
		"nodes": {typ: "Segment", list: true}, "pageInfo": {typ: "PageInfo"},
	}}
	c := shopifySchema["Customer"].fields
	// UnsignedInt64, serialised as a string like legacyResourceId.
	c["numberOfOrders"] = gqlField{typ: "UnsignedInt64"}
	c["defaultAddress"] = gqlField{typ: "MailingAddress"}
	shopifySchema["MailingAddress"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "address1": {typ: "String"}, "address2": {typ: "String"}, "city": {typ: "String"},
		"zip": {typ: "String"}, "countryCodeV2": {typ: "CountryCode"}, "phone": {typ: "String"},
	}}
}

// SetOrderCount sets how many orders Shopify counts for a customer of shop
// (Customer.numberOfOrders); the customer must exist (AddCustomer).
func (f *Shopify) SetOrderCount(shop string, customerID int64, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.shopLocked(normalizeShop(shop)).customers {
		if c.ID == customerID {
			c.NumberOfOrders = n
			return
		}
	}
	panic(fmt.Sprintf("fake: SetOrderCount: no customer %d in %s", customerID, shop))
}

// Segments returns the customer segments created in shop.
func (f *Shopify) Segments(shop string) []ShopifySegment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ShopifySegment(nil), f.shopLocked(normalizeShop(shop)).segments...)
}

type segmentPayload struct {
	segment *ShopifySegment
	errors  []any
}

// segmentFilter is the shape of the ShopifyQL segment filters the fake
// accepts: "<attribute> <operator> <value>", joined by AND / OR.
var segmentFilter = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)? *(=|!=|>|>=|<|<=|CONTAINS|NOT CONTAINS|BETWEEN) *\S.*$`)

// createSegment implements segmentCreate: name and query required, names
// unique per shop, the query a filter. [INFERRED] the exact user-error
// messages (Shopify's UserError has field and message only).
func (e *gqlExec) createSegment(a map[string]any) *segmentPayload {
	p := &segmentPayload{}
	add := func(field, msg string) {
		p.errors = append(p.errors, &userError{field: []string{field}, message: msg})
	}
	name, _ := a["name"].(string)
	query, _ := a["query"].(string)
	name, query = strings.TrimSpace(name), strings.TrimSpace(query)
	if name == "" {
		add("name", "Name can't be blank")
	}
	for _, s := range e.shop.segments {
		if name != "" && strings.EqualFold(s.Name, name) {
			add("name", "Name has already been taken")
		}
	}
	switch {
	case query == "":
		add("query", "Query can't be blank")
	default:
		for _, part := range regexp.MustCompile(`(?i)\s+(AND|OR)\s+`).Split(query, -1) {
			if !segmentFilter.MatchString(strings.TrimSpace(part)) {
				add("query", fmt.Sprintf("Query Line 1 Column 0: '%s' is not a valid filter.", part))
				break
			}
		}
	}
	if len(p.errors) > 0 {
		return p
	}
	e.f.nextID++
	s := ShopifySegment{ID: "gid://shopify/Segment/" + strconv.FormatInt(int64(5000+e.f.nextID), 10), Name: name, Query: query}
	e.shop.segments = append(e.shop.segments, s)
	p.segment = &s
	return p
}

// discountSegments returns the segment ids a DiscountCodeBasicInput's
// context adds, and the user errors for those the shop does not have.
func (e *gqlExec) discountSegments(in map[string]any) (ids []string, errs []any) {
	ctx, _ := in["context"].(map[string]any)
	cs, _ := ctx["customerSegments"].(map[string]any)
	for _, v := range toSlice(cs["add"]) {
		id, _ := v.(string)
		known := false
		for _, s := range e.shop.segments {
			known = known || s.ID == id
		}
		if !known {
			errs = append(errs, &userError{field: []string{"basicCodeDiscount", "context", "customerSegments", "add"},
				message: "Customer segment " + id + " does not exist", code: "INVALID"})
			continue
		}
		ids = append(ids, id)
	}
	return ids, errs
}

// resolveSegmentTypes resolves the types this file adds.
func (e *gqlExec) resolveSegmentTypes(typeName string, obj any, fld *ast.Field) any {
	switch typeName {
	case "SegmentCreatePayload":
		p := obj.(*segmentPayload)
		if fld.Name == "userErrors" {
			return p.errors
		}
		if p.segment == nil {
			return nil
		}
		return p.segment
	case "UserError":
		u := obj.(*userError)
		if fld.Name == "field" {
			out := make([]any, len(u.field))
			for i, s := range u.field {
				out[i] = s
			}
			return out
		}
		if fld.Name == "message" {
			return u.message
		}
	case "Segment":
		s := obj.(*ShopifySegment)
		switch fld.Name {
		case "id":
			return s.ID
		case "name":
			return s.Name
		case "query":
			return s.Query
		case "creationDate":
			return "2026-01-01T00:00:00Z"
		}
	case "SegmentConnection":
		pg := obj.(*connPage)
		if fld.Name == "nodes" {
			return pg.items
		}
		return pg
	case "Order":
		return e.resolveOrder(obj.(*ShopifyOrder), fld)
	case "MailingAddress":
		ad := obj.(*ShopifyAddress)
		return map[string]any{"id": "gid://shopify/MailingAddress/1", "address1": nullable(ad.Address1), "address2": nullable(ad.Address2),
			"city": nullable(ad.City), "zip": nullable(ad.Zip), "countryCodeV2": nullable(ad.CountryCode), "phone": nullable(ad.Phone)}[fld.Name]
	default:
		return e.resolveStoreCreditTypes(typeName, obj, fld)
	}
	return nil
}

// resolveSegmentsQuery serves QueryRoot.segments.
func (e *gqlExec) resolveSegmentsQuery(a map[string]any) any {
	var items []any
	var cursors []string
	for i := range e.shop.segments {
		items = append(items, &e.shop.segments[i])
		cursors = append(cursors, strconv.Itoa(i))
	}
	return paginate(items, cursors, toInt(a["first"]), toInt(a["last"]), a)
}

// ShopifyOrder is an order of a fake shop, as order(id) serves it: what
// referral checks read (contact and shipping address).
type ShopifyOrder struct {
	ID              int64
	CustomerID      int64 // 0 for a guest
	Email, Phone    string
	ShippingAddress *ShopifyAddress
}

// AddOrder records an order of shop; it counts in its customer's
// numberOfOrders when the customer exists.
func (f *Shopify) AddOrder(shop string, o ShopifyOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i, old := range s.orders {
		if old.ID == o.ID {
			s.orders[i] = &o
			return
		}
	}
	s.orders = append(s.orders, &o)
	for _, c := range s.customers {
		if c.ID == o.CustomerID && o.CustomerID != 0 {
			c.NumberOfOrders++
		}
	}
}

func init() {
	shopifySchema["QueryRoot"].fields["order"] = gqlField{typ: "Order", args: map[string]bool{"id": true}}
	shopifySchema["Order"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "email": {typ: "String"}, "phone": {typ: "String"},
		"shippingAddress": {typ: "MailingAddress"}, "customer": {typ: "Customer"},
	}}
}

// resolveOrderQuery serves QueryRoot.order.
func (e *gqlExec) resolveOrderQuery(fld *ast.Field, a map[string]any, path []any) any {
	raw, _ := a["id"].(string)
	id, ok := parseGID(raw, "Order")
	if !ok {
		e.fail(fmt.Sprintf("Invalid global id '%s'", raw), fld.Position, path,
			ext("code", "argumentLiteralsIncompatible", "typeName", "CoercionError"))
		return nil
	}
	for _, o := range e.shop.orders {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func (e *gqlExec) resolveOrder(o *ShopifyOrder, fld *ast.Field) any {
	switch fld.Name {
	case "id":
		return fmt.Sprintf("gid://shopify/Order/%d", o.ID)
	case "email":
		return nullable(o.Email)
	case "phone":
		return nullable(o.Phone)
	case "shippingAddress":
		if o.ShippingAddress == nil {
			return nil
		}
		return o.ShippingAddress
	case "customer":
		return e.findCustomer(func(c *ShopifyCustomer) bool { return o.CustomerID != 0 && c.ID == o.CustomerID })
	}
	return nil
}
