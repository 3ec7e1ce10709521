package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// referralURLRe is a member's referral URL on the storefront.
var referralURLRe = regexp.MustCompile(`^https://shop-a\.myshopify\.com/apps/loyalty/r/[A-Z2-9]{8}$`)

func TestAPI_CustomerReferralURL(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	c := b.customer(t, sh, 5_300_000_001, "ada@example.com")
	path := "/api/v1/customers/" + itoa(c.shopifyID)
	rec := b.call(http.MethodGet, path, b.token(sh.Domain), nil)
	requireStatus(t, rec, http.StatusOK)
	v := decodeJSON[map[string]any](t, rec)
	requireKeys(t, "customer", v, append(customerKeys, "referral_url")...)
	u, _ := v["referral_url"].(string)
	if !referralURLRe.MatchString(u) || !strings.HasSuffix(u, "/"+v["referral_code"].(string)) {
		t.Fatalf("referral_url = %q, referral_code = %v", u, v["referral_code"])
	}
	again := decodeJSON[map[string]any](t, b.call(http.MethodGet, path, b.token(sh.Domain), nil))
	if again["referral_url"] != u {
		t.Fatalf("referral_url changed: %v then %v", u, again["referral_url"])
	}
}

func TestPageCustomerReferralURL(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	rec, d := b.page(t, pageShop, "/app/customers/"+ftoa(pageCustomerID))
	requireStatus(t, rec, http.StatusOK)
	shown := pageText(d.Find(`[data-testid="customer-referral-url"]`))
	if !referralURLRe.MatchString(shown) {
		t.Fatalf("referral URL on the page = %q", shown)
	}
	// The page and the API show the same, stable link.
	v, err := b.loyalty.Customer(context.Background(), b.shop.ID, pageCustomerID)
	if err != nil || v.ReferralURL != shown {
		t.Fatalf("API says %q (%v), page %q", v.ReferralURL, err, shown)
	}
}
