package shopify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// TestClient_EnsureSegment: the first call creates the segment, a second
// finds it through the taken name; a bad query is Shopify's userError.
func TestClient_EnsureSegment(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	c, _ := b.client(t, false)
	ctx := context.Background()
	id, err := c.EnsureSegment(ctx, "Perkbridge: first order", "number_of_orders = 0")
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	again, err := c.EnsureSegment(ctx, "Perkbridge: first order", "number_of_orders = 0")
	if err != nil || again != id {
		t.Fatalf("again: %q %v, want %q", again, err, id)
	}
	if n := len(b.fake.Segments(fakeShop)); n != 1 {
		t.Fatalf("%d segments", n)
	}
	_, err = c.EnsureSegment(ctx, "Other", "")
	var me *shopify.MutationError
	if app.ErrorCode(err) != app.EINVALID || !errors.As(err, &me) {
		t.Fatalf("blank query: %v", err)
	}
}

// TestClient_CreateSegmentDiscountCode: the discount's context is the
// segment, once per customer, one use.
func TestClient_CreateSegmentDiscountCode(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	c, _ := b.client(t, false)
	ctx := context.Background()
	seg, err := c.EnsureSegment(ctx, "First order", "number_of_orders = 0")
	if err != nil {
		t.Fatal(err)
	}
	in := shopify.DiscountCodeInput{Title: "Referral", Code: "PBF-AAAA-BBBB", Percentage: 0.1, StartsAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	node, err := c.CreateSegmentDiscountCode(ctx, in, []string{seg})
	if err != nil {
		t.Fatal(err)
	}
	d := b.fake.DiscountCodes(fakeShop)
	if len(d) != 1 || d[0].ID != node.ID || len(d[0].CustomerSegmentIDs) != 1 || d[0].CustomerSegmentIDs[0] != seg ||
		!d[0].AppliesOncePerCustomer || d[0].UsageLimit != 1 || len(d[0].CustomerIDs) != 0 {
		t.Fatalf("discount %+v", d)
	}
	if _, err := c.CreateSegmentDiscountCode(ctx, in, []string{"gid://shopify/Customer/1"}); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("not a segment id: %v", err)
	}
}

// TestClient_CustomerFacts reads the order count and default address.
func TestClient_CustomerFacts(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	b.fake.AddCustomer(fakeShop, fake.ShopifyCustomer{ID: 42, Email: "g@example.com", Phone: "+15145551234",
		DefaultAddress: &fake.ShopifyAddress{Address1: "1 Rue", City: "Montréal", Zip: "H2X 1Y4", CountryCode: "CA"}})
	b.fake.SetOrderCount(fakeShop, 42, 3)
	c, _ := b.client(t, false)
	f, err := c.CustomerFacts(context.Background(), "gid://shopify/Customer/42")
	if err != nil {
		t.Fatal(err)
	}
	if f.NumberOfOrders != 3 || f.Email != "g@example.com" || f.Phone != "+15145551234" || f.DefaultAddress == nil ||
		f.DefaultAddress.Zip != "H2X 1Y4" || f.DefaultAddress.CountryCode != "CA" {
		t.Fatalf("facts %+v", f)
	}
	if _, err := c.CustomerFacts(context.Background(), "gid://shopify/Customer/43"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("missing customer: %v", err)
	}
}

// TestClient_OrderContact reads an order's email, phone and shipping
// address; a missing order is ENOTFOUND.
func TestClient_OrderContact(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	b.fake.AddOrder(fakeShop, fake.ShopifyOrder{ID: 9, Email: "g@example.com", Phone: "+15145551234",
		ShippingAddress: &fake.ShopifyAddress{Address1: "1 Rue", City: "Montréal", Zip: "H2X 1Y4", CountryCode: "CA", Phone: "+15145550000"}})
	c, _ := b.client(t, false)
	o, err := c.OrderContact(context.Background(), "gid://shopify/Order/9")
	if err != nil {
		t.Fatal(err)
	}
	if o.Email != "g@example.com" || o.Phone != "+15145551234" || o.ShippingAddress == nil || o.ShippingAddress.Address1 != "1 Rue" || o.ShippingAddress.Phone != "+15145550000" {
		t.Fatalf("order %+v", o)
	}
	if _, err := c.OrderContact(context.Background(), "gid://shopify/Order/10"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("missing order: %v", err)
	}
	if _, err := c.OrderContact(context.Background(), "gid://shopify/Customer/9"); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("not an order id: %v", err)
	}
}
