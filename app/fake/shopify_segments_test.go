package fake_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/fake"
)

// TestShopify_SegmentCreate: segments need a name unique per shop and a
// filter query; errors come back as userErrors, as Shopify's do.
func TestShopify_SegmentCreate(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	const m = `mutation($name: String!, $query: String!) { segmentCreate(name: $name, query: $query) { segment { id name query } userErrors { field message } } }`
	r := b.graphql(t, tok, m, map[string]any{"name": "New customers", "query": "number_of_orders = 0"})
	id, _ := path(r.JSON(t), "data", "segmentCreate", "segment", "id").(string)
	if !strings.HasPrefix(id, "gid://shopify/Segment/") || len(path(r.JSON(t), "data", "segmentCreate", "userErrors").([]any)) != 0 {
		t.Fatalf("got %s", r.Body)
	}
	for _, tc := range []struct {
		name, query, field, msg string
	}{
		{"New customers", "number_of_orders = 0", "name", "Name has already been taken"},
		{"NEW CUSTOMERS", "number_of_orders = 0", "name", "Name has already been taken"},
		{"Blank", "  ", "query", "Query can't be blank"},
		{"Junk", "hello", "query", "Query Line 1 Column 0: 'hello' is not a valid filter."},
		{"", "number_of_orders = 0", "name", "Name can't be blank"},
	} {
		r := b.graphql(t, tok, m, map[string]any{"name": tc.name, "query": tc.query})
		p := path(r.JSON(t), "data", "segmentCreate")
		if path(p, "segment") != nil || path(p, "userErrors", 0, "field", 0) != tc.field || path(p, "userErrors", 0, "message") != tc.msg {
			t.Errorf("%q %q: %s", tc.name, tc.query, r.Body)
		}
	}
	if got := b.fake.Segments(testShop); len(got) != 1 || got[0].ID != id || got[0].Query != "number_of_orders = 0" {
		t.Fatalf("segments %+v", got)
	}
	r = b.graphql(t, tok, `{ segments(first: 5) { nodes { id name } } }`, nil)
	if path(r.JSON(t), "data", "segments", "nodes", 0, "id") != id {
		t.Fatalf("segments query: %s", r.Body)
	}
}

// TestShopify_DiscountSegmentContext: a discount limited to a segment
// records it; an unknown segment is a user error and creates nothing.
func TestShopify_DiscountSegmentContext(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	r := b.graphql(t, tok, `mutation { segmentCreate(name: "First order", query: "number_of_orders = 0") { segment { id } userErrors { message } } }`, nil)
	seg, _ := path(r.JSON(t), "data", "segmentCreate", "segment", "id").(string)
	const m = `mutation($input: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { field code message } } }`
	input := func(code, segment string) map[string]any {
		return map[string]any{"title": "Referral", "code": code, "startsAt": "2026-11-23T00:00:00Z",
			"context":      map[string]any{"customerSegments": map[string]any{"add": []any{segment}}},
			"customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}},
			"usageLimit":   1, "appliesOncePerCustomer": true}
	}
	r = b.graphql(t, tok, m, map[string]any{"input": input("PBF-AAAA-BBBB", seg)})
	if path(r.JSON(t), "data", "discountCodeBasicCreate", "codeDiscountNode", "id") == nil {
		t.Fatalf("create: %s", r.Body)
	}
	r = b.graphql(t, tok, m, map[string]any{"input": input("PBF-CCCC-DDDD", "gid://shopify/Segment/999999")})
	if path(r.JSON(t), "data", "discountCodeBasicCreate", "userErrors", 0, "field", 2) != "customerSegments" {
		t.Fatalf("unknown segment: %s", r.Body)
	}
	got := b.fake.DiscountCodes(testShop)
	if len(got) != 1 || len(got[0].CustomerSegmentIDs) != 1 || got[0].CustomerSegmentIDs[0] != seg || !got[0].AppliesOncePerCustomer || len(got[0].CustomerIDs) != 0 {
		t.Fatalf("recorded %+v", got)
	}
}

// TestShopify_CustomerOrdersAndAddress: numberOfOrders (an UnsignedInt64,
// so a string) and defaultAddress.
func TestShopify_CustomerOrdersAndAddress(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 7, Email: "a@example.com",
		DefaultAddress: &fake.ShopifyAddress{Address1: "12 Main St", City: "Ottawa", Zip: "K1A 0B1", CountryCode: "CA"}})
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 8, Email: "b@example.com"})
	b.fake.SetOrderCount(testShop, 7, 3)
	tok := b.fake.ValidAccessToken(testShop)
	r := b.graphql(t, tok, `{ a: customer(id: "gid://shopify/Customer/7") { numberOfOrders defaultAddress { address1 zip countryCodeV2 } }
  b: customer(id: "gid://shopify/Customer/8") { numberOfOrders defaultAddress { address1 } } }`, nil)
	d := path(r.JSON(t), "data")
	if path(d, "a", "numberOfOrders") != "3" || path(d, "a", "defaultAddress", "zip") != "K1A 0B1" || path(d, "a", "defaultAddress", "countryCodeV2") != "CA" ||
		path(d, "b", "numberOfOrders") != "0" || path(d, "b", "defaultAddress") != nil {
		t.Fatalf("got %s", r.Body)
	}
}

// TestShopify_Order: order(id) serves what AddOrder recorded, and the
// order counts for its customer.
func TestShopify_Order(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 7, Email: "a@example.com"})
	b.fake.AddOrder(testShop, fake.ShopifyOrder{ID: 55, CustomerID: 7, Email: "a+x@example.com", Phone: "+15145550000",
		ShippingAddress: &fake.ShopifyAddress{Address1: "1 Rue", Zip: "H2X 1Y4", CountryCode: "CA"}})
	b.fake.AddOrder(testShop, fake.ShopifyOrder{ID: 55, CustomerID: 7, Email: "a+x@example.com"}) // the same order again
	tok := b.fake.ValidAccessToken(testShop)
	r := b.graphql(t, tok, `{ order(id: "gid://shopify/Order/55") { id email phone shippingAddress { address1 zip } customer { id numberOfOrders } }
  none: order(id: "gid://shopify/Order/56") { id } }`, nil)
	d := path(r.JSON(t), "data")
	if path(d, "order", "email") != "a+x@example.com" || path(d, "order", "customer", "numberOfOrders") != "1" || path(d, "none") != nil {
		t.Fatalf("got %s", r.Body)
	}
	r = b.graphql(t, tok, `{ order(id: "nope") { id } }`, nil)
	if path(r.JSON(t), "errors", 0, "message") != "Invalid global id 'nope'" {
		t.Fatalf("bad id: %s", r.Body)
	}
}
