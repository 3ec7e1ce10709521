package shopify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// fixedClock returns a clock that always reads t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// requireErrorIs fails unless err matches target and, when code is not
// empty, carries that app error code.
func requireErrorIs(t *testing.T, err, target error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want errors.Is %v", err, target)
	}
	if code != "" && app.ErrorCode(err) != code {
		t.Fatalf("app.ErrorCode(%v) = %q, want %q", err, app.ErrorCode(err), code)
	}
}

func TestNormalizeShop(t *testing.T) {
	t.Parallel()
	valid := []struct{ in, want string }{
		{"some-shop.myshopify.com", "some-shop.myshopify.com"},
		{"Some-Shop.MyShopify.com", "some-shop.myshopify.com"},
		{"a.myshopify.com", "a.myshopify.com"},
		{"0shop-.myshopify.com", "0shop-.myshopify.com"},
		{"admin.shopify.com/store/my-handle", "my-handle.myshopify.com"},
		{"ADMIN.shopify.com/store/My-Handle", "my-handle.myshopify.com"},
		{strings.Repeat("a", 63) + ".myshopify.com", strings.Repeat("a", 63) + ".myshopify.com"},
	}
	for _, tt := range valid {
		t.Run("OK/"+tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := shopify.NormalizeShop(tt.in)
			if err != nil {
				t.Fatalf("NormalizeShop(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("NormalizeShop(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	invalid := []string{
		"",
		"myshopify.com",
		".myshopify.com",
		"-shop.myshopify.com",
		"shop",
		"evil.com?x.myshopify.com",
		"evil.com#.myshopify.com",
		"evil.com/.myshopify.com",
		"a.myshopify.com.evil.com",
		"a.myshopify.com@evil.com",
		"evil.com@a.myshopify.com",
		"https://a.myshopify.com",
		"http://a.myshopify.com",
		"//a.myshopify.com",
		"a.myshopify.com/",
		"a.myshopify.com/admin",
		"a.myshopify.com:443",
		"a.b.myshopify.com",
		"a_b.myshopify.com",
		"a%2emyshopify.com",
		"a.myshopify.com\n",
		" a.myshopify.com",
		"a.myshopify.com ",
		"a.myshopify.io",
		"a.shopify.com",
		"a.myshopify.co",
		"amyshopify.com",
		"\u0430.myshopify.com", // Cyrillic a
		"\u212a.myshopify.com", // Kelvin sign, which strings.ToLower folds to "k"
		strings.Repeat("a", 64) + ".myshopify.com",
		"admin.shopify.com/store/",
		"admin.shopify.com/store/../evil",
		"admin.shopify.com/store/a/b",
		"admin.shopify.com/store/a.evil.com",
		"https://admin.shopify.com/store/a",
	}
	for _, in := range invalid {
		t.Run("Reject/"+in, func(t *testing.T) {
			t.Parallel()
			got, err := shopify.NormalizeShop(in)
			if err == nil {
				t.Fatalf("NormalizeShop(%q) = %q, want error", in, got)
			}
			requireErrorIs(t, err, shopify.ErrInvalidShop, app.EBADREQUEST)
		})
	}
}
