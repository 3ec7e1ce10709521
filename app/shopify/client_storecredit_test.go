package shopify_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// TestClient_StoreCredit: CreditStoreCredit sends storeCreditAccountCredit
// with the amount, currency and expiry; Shopify's refusal is EINVALID with
// its code; a 5xx or a lost answer is returned after one call, never
// resent (the mutation has no idempotency key, so a resend could credit
// twice), while a throttled call is waited out and sent again;
// StoreCreditCredits finds a credit by its expiry.
func TestClient_StoreCredit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	b := setupFake(t, fake.ShopifyOptions{Now: func() time.Time { return now }})
	b.fake.AddCustomer(fakeShop, fake.ShopifyCustomer{ID: 624407574})
	c, sleeps := b.client(t, false)
	ctx := context.Background()
	gid := shopify.GID("Customer", 624407574)
	in := shopify.StoreCreditInput{OwnerGID: gid, Amount: "5.00", Currency: "usd", ExpiresAt: now.AddDate(0, 0, 90)}

	tx, err := c.CreditStoreCredit(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	credits := b.fake.StoreCredits(fakeShop)
	if len(credits) != 1 || tx.ID != credits[0].ID || tx.Currency != "USD" || !tx.ExpiresAt.Equal(in.ExpiresAt) || credits[0].Amount.String() != "5" {
		t.Fatalf("transaction %+v, Shopify %+v", tx, credits)
	}

	// Refused: EINVALID carrying Shopify's code, nothing credited.
	b.fake.RefuseNextStoreCredit(fakeShop, "CREDIT_LIMIT_EXCEEDED", "The operation would cause the account's credit limit to be exceeded.")
	_, err = c.CreditStoreCredit(ctx, in)
	var me *shopify.MutationError
	if app.ErrorCode(err) != app.EINVALID || !errors.As(err, &me) || !me.HasCode("CREDIT_LIMIT_EXCEEDED") {
		t.Fatalf("refusal = %v", err)
	}
	// Missing inputs never reach Shopify.
	calls := b.graphQLCalls()
	for _, bad := range []shopify.StoreCreditInput{
		{OwnerGID: gid, Amount: "5.00", Currency: "USD"},
		{OwnerGID: gid, Amount: "-1", Currency: "USD", ExpiresAt: in.ExpiresAt},
		{OwnerGID: gid, Amount: "5.00", Currency: "", ExpiresAt: in.ExpiresAt},
		{Amount: "5.00", Currency: "USD", ExpiresAt: in.ExpiresAt},
	} {
		if _, err := c.CreditStoreCredit(ctx, bad); app.ErrorCode(err) != app.EINVALID {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
	if b.graphQLCalls() != calls {
		t.Fatal("invalid input was sent")
	}

	// A lost answer: one call, one credit, an error.
	b.fake.LoseNextAnswer(fakeShop, http.StatusGatewayTimeout, 3)
	calls = b.graphQLCalls()
	if _, err := c.CreditStoreCredit(ctx, in); err == nil || app.ErrorCode(err) == app.EINVALID {
		t.Fatalf("lost answer = %v", err)
	}
	if n := b.graphQLCalls() - calls; n != 1 || len(b.fake.StoreCredits(fakeShop)) != 2 {
		t.Fatalf("%d calls after a lost answer, %d credits: resent", n, len(b.fake.StoreCredits(fakeShop)))
	}
	b.fake.LoseNextAnswer(fakeShop, http.StatusGatewayTimeout, 0)
	// Down: one call, nothing credited.
	b.fake.FailNext(fakeShop, http.StatusServiceUnavailable, 3)
	calls = b.graphQLCalls()
	if _, err := c.CreditStoreCredit(ctx, in); err == nil {
		t.Fatal("503 answered no error")
	}
	if n := b.graphQLCalls() - calls; n != 1 {
		t.Fatalf("%d calls on a 503: resent", n)
	}
	b.fake.FailNext(fakeShop, http.StatusServiceUnavailable, 0)
	// Throttled (429: nothing ran): waited out and sent again, credited once.
	b.fake.FailNext(fakeShop, http.StatusTooManyRequests, 1)
	waits := len(sleeps.waits)
	if _, err := c.CreditStoreCredit(ctx, shopify.StoreCreditInput{OwnerGID: gid, Amount: "2.50", Currency: "USD", ExpiresAt: in.ExpiresAt.Add(time.Second)}); err != nil {
		t.Fatalf("after a 429: %v", err)
	}
	if len(sleeps.waits) == waits || len(b.fake.StoreCredits(fakeShop)) != 3 {
		t.Fatalf("429 not waited out (%d waits) or credited %d", len(sleeps.waits)-waits, len(b.fake.StoreCredits(fakeShop)))
	}

	// The look-up returns the credits expiring within a second of the
	// expiry, newest first (the caller matches the exact second), and none
	// further away.
	found, err := c.StoreCreditCredits(ctx, gid, in.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 3 || found[0].Amount != "2.5" || !found[1].ExpiresAt.Equal(in.ExpiresAt) || found[1].Amount != "5" ||
		found[1].CreatedAt.IsZero() || found[1].AccountID == "" {
		t.Fatalf("found %+v", found)
	}
	if far, err := c.StoreCreditCredits(ctx, gid, in.ExpiresAt.Add(-2*time.Second)); err != nil || len(far) != 0 {
		t.Fatalf("two seconds earlier: %+v, %v", far, err)
	}
	if _, err := c.StoreCreditCredits(ctx, shopify.GID("Customer", 1), in.ExpiresAt); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("unknown customer: %v", err)
	}
}

// TestClient_DeleteDiscountCode: a code's usage is read (asyncUsageCount);
// a code is deleted; deleting one that is gone is not an error (deleted
// false).
func TestClient_DeleteDiscountCode(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	c, _ := b.client(t, false)
	ctx := context.Background()
	node, err := c.CreateDiscountCode(ctx, shopify.DiscountCodeInput{Title: "Reward", Code: "PB-DDDD-EEEE", CustomerGID: shopify.GID("Customer", 7), Amount: "5.00"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.CheckRewardDiscount(b.fake.DiscountCodes(fakeShop)[0], shopify.GID("Customer", 7)); err != nil {
		t.Fatal(err)
	}
	if id, uses, found, err := c.DiscountUsage(ctx, "pb-dddd-eeee"); err != nil || !found || uses != 0 || id != node.ID {
		t.Fatalf("usage = %s %d %v %v", id, uses, found, err)
	}
	b.fake.UseDiscount(fakeShop, "PB-DDDD-EEEE")
	if _, uses, _, err := c.DiscountUsage(ctx, "PB-DDDD-EEEE"); err != nil || uses != 1 {
		t.Fatalf("usage after an order = %d, %v", uses, err)
	}
	if deleted, err := c.DeleteDiscountCode(ctx, node.ID); err != nil || !deleted || len(b.fake.DiscountCodes(fakeShop)) != 0 {
		t.Fatalf("delete = %v, %v", deleted, err)
	}
	if deleted, err := c.DeleteDiscountCode(ctx, node.ID); err != nil || deleted {
		t.Fatalf("delete again = %v, %v", deleted, err)
	}
	if _, _, found, err := c.DiscountUsage(ctx, "PB-DDDD-EEEE"); err != nil || found {
		t.Fatalf("usage of a deleted code: found %v, %v", found, err)
	}
}
