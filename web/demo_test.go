package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/templates"
)

// demoLogin signs in to shop on a demo server and returns the cookie.
func demoLogin(t *testing.T, b *testBundle, shop string) *http.Cookie {
	t.Helper()
	rec := b.get("/demo/login?shop=" + shop)
	if loc := location(t, rec); loc.Path != "/app" {
		t.Fatalf("demo login redirect = %s", loc)
	}
	ck := cookieNamed(rec, "pb_demo_session")
	if ck == nil {
		t.Fatal("no demo cookie")
	}
	return ck
}

func withCookie(b *testBundle, target string, ck *http.Cookie, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	return b.do(req)
}

func TestDemo_Session(t *testing.T) {
	t.Parallel()

	t.Run("CookieOpensTheAdminOffline", func(t *testing.T) {
		t.Parallel()
		b := setup(t, withDemo)
		sh := b.install(t, "demo-store.myshopify.com")
		ck := demoLogin(t, b, sh.Domain)
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Errorf("cookie = %+v", ck)
		}
		rec := withCookie(b, "/app", ck)
		requireStatus(t, rec, http.StatusOK)
		d := doc(t, rec)
		if d.Find(`[data-testid="shop-domain"]`).Text() != sh.Domain {
			t.Error("home does not show the shop")
		}
		if d.Find(`script[src*="cdn.shopify.com"]`).Length() != 0 {
			t.Error("demo page loads Shopify's CDN")
		}
		if d.Find(`[data-testid="app-nav"] a`).Length() != len(templates.AppNav()) { // every admin page
			t.Error("demo page has no visible nav")
		}
		requireStatus(t, withCookie(b, "/api/v1/integrations", ck), http.StatusOK)
		requireStatus(t, withCookie(b, "/app/webhooks", ck), http.StatusOK)
	})

	t.Run("UnknownShopGetsNoCookie", func(t *testing.T) {
		t.Parallel()
		b := setup(t, withDemo)
		rec := b.get("/demo/login?shop=nobody.myshopify.com")
		requireStatus(t, rec, http.StatusNotFound)
		if cookieNamed(rec, "pb_demo_session") != nil {
			t.Error("cookie for an unknown shop")
		}
	})

	t.Run("ForgedOrExpiredCookieIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, withDemo)
		sh := b.install(t, "demo-store.myshopify.com")
		b.install(t, "victim.myshopify.com")
		ck := demoLogin(t, b, sh.Domain)
		requireStatus(t, withCookie(b, "/api/v1/integrations", ck), http.StatusOK)

		otherShop := &http.Cookie{Name: ck.Name, Value: strings.Replace(ck.Value, "demo-store", "victim", 1)}
		parts := strings.SplitN(ck.Value, ".", 3)
		badMAC := &http.Cookie{Name: ck.Name, Value: parts[0] + "." + strings.Repeat("0", len(parts[1])) + "." + parts[2]}
		longer := &http.Cookie{Name: ck.Name, Value: "9999999999." + parts[1] + "." + parts[2]}
		for name, c := range map[string]*http.Cookie{"OtherShop": otherShop, "BadMAC": badMAC, "ExtendedExpiry": longer} {
			rec := withCookie(b, "/api/v1/integrations", c)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s: status = %d", name, rec.Code)
			}
			if loc := location(t, withCookie(b, "/app", c)); loc.Path != "/" {
				t.Errorf("%s: /app redirect = %s", name, loc)
			}
		}

		b.clock.Advance(13 * time.Hour)
		requireInvalidSession(t, withCookie(b, "/api/v1/integrations", ck))
	})

	t.Run("OutsideDemoModeRouteAndCookieDoNotExist", func(t *testing.T) {
		t.Parallel()
		demo := setup(t, withDemo)
		prod := setup(t)
		const shop = "demo-store.myshopify.com"
		demo.install(t, shop)
		prod.install(t, shop)
		ck := demoLogin(t, demo, shop) // signed with the same secret as prod's

		rec := prod.get("/demo/login?shop=" + shop)
		requireStatus(t, rec, http.StatusNotFound)
		if cookieNamed(rec, "pb_demo_session") != nil {
			t.Error("production set a demo cookie")
		}
		requireInvalidSession(t, withCookie(prod, "/api/v1/integrations", ck))
		if loc := location(t, withCookie(prod, "/app", ck)); loc.Path != "/auth/session-token" {
			t.Errorf("/app with a demo cookie outside demo mode: redirect = %s", loc)
		}
	})
}
