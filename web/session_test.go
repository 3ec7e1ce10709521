package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/store"
)

func TestSession_API(t *testing.T) {
	t.Parallel()

	t.Run("ValidTokenShowsTheShopsCustomer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		if _, _, err := b.st.UpsertCustomer(context.Background(), sh.ID, store.CustomerIdentity{
			ShopifyID: 1001, GID: "gid://shopify/Customer/1001", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
		}); err != nil {
			t.Fatal(err)
		}
		rec := b.api(http.MethodGet, "/api/v1/customers/1001", b.token(sh.Domain))
		requireStatus(t, rec, http.StatusOK)
		got := decodeJSON[map[string]any](t, rec)
		if got["email"] != "ada@example.com" || got["first_name"] != "Ada" || got["shopify_customer_id"] != "1001" {
			t.Errorf("customer = %v", got)
		}
		for _, k := range []string{"shopify_customer_id", "email", "phone", "first_name", "last_name", "points_balance", "tier", "ledger"} {
			if _, ok := got[k]; !ok {
				t.Errorf("customer JSON lacks %q: %v", k, got)
			}
		}
		if l, ok := got["ledger"].([]any); !ok || len(l) != 0 {
			t.Errorf("ledger = %#v, want []", got["ledger"])
		}
	})

	t.Run("FirstRequestInstallsTheShopByTokenExchange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const shop = "never-seen.myshopify.com"
		b.fake.InstallShop(shop) // Shopify-managed install: Shopify knows, we do not yet
		if n := b.shopCount(t, shop); n != 0 {
			t.Fatalf("shop rows before = %d", n)
		}
		rec := b.api(http.MethodGet, "/api/v1/integrations", b.token(shop))
		requireStatus(t, rec, http.StatusOK)

		sh, err := b.st.ShopByDomain(context.Background(), shop)
		if err != nil {
			t.Fatalf("shop not installed: %v", err)
		}
		if sh.State != store.ShopActive {
			t.Errorf("state = %q", sh.State)
		}
		var exchanged bool
		for _, r := range b.fake.Requests(shop) {
			if r.Path == "/"+shop+"/admin/oauth/access_token" && strings.Contains(string(r.Body), "token-exchange") {
				exchanged = true
			}
		}
		if !exchanged {
			t.Error("no token exchange reached the fake")
		}
		plain, err := b.tenant.AccessToken(context.Background(), sh.ID, false)
		if err != nil || !strings.HasPrefix(plain, "shpat_") {
			t.Fatalf("access token = %q, %v", plain, err)
		}
		var column string
		if err := b.db.Gorm.Raw("SELECT access_token FROM shops WHERE id = ?", sh.ID).Scan(&column).Error; err != nil {
			t.Fatal(err)
		}
		if column == "" || strings.Contains(column, plain) || strings.Contains(column, "shpat_") {
			t.Errorf("stored access_token %q is not sealed", column)
		}
	})

	t.Run("InvalidTokensAreRefusedWithTheRetryHeader", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		b.fake.InstallShop("gone.myshopify.com")
		gone := b.token("gone.myshopify.com")
		b.fake.UninstallShop("gone.myshopify.com") // the exchange now fails

		otherAudience := fake.NewShopify(fake.ShopifyOptions{APIKey: "someone-elses-app", APISecret: testAPISecret, Now: b.clock.Now})
		otherSecret := fake.NewShopify(fake.ShopifyOptions{APIKey: testAPIKey, APISecret: "not-our-secret", Now: b.clock.Now})
		expired := b.fake.MintIDToken(sh.Domain, 42, -time.Minute)

		for name, header := range map[string]string{
			"Expired":                   "Bearer " + expired,
			"WrongAudience":             "Bearer " + otherAudience.MintIDToken(sh.Domain, 42, time.Minute),
			"BadSignature":              "Bearer " + otherSecret.MintIDToken(sh.Domain, 42, time.Minute),
			"NotAJWT":                   "Bearer not.a.token",
			"UninstalledCannotExchange": "Bearer " + gone,
			"Missing":                   "",
		} {
			t.Run(name, func(t *testing.T) {
				var rec = b.send(http.MethodGet, "/api/v1/integrations", nil, "Authorization", header)
				if header == "" {
					rec = b.get("/api/v1/integrations")
				}
				requireInvalidSession(t, rec)
			})
		}
		if n := b.shopCount(t, "gone.myshopify.com"); n != 0 {
			t.Errorf("uninstalled shop got a row: %d", n)
		}
		// The same request with a fresh token succeeds, so the refusals
		// above are about the tokens.
		requireStatus(t, b.api(http.MethodGet, "/api/v1/integrations", b.token(sh.Domain)), http.StatusOK)
	})

	t.Run("TokenOfShopACannotReadShopB", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.install(t, "shop-a.myshopify.com")
		sb := b.install(t, "shop-b.myshopify.com")
		if _, _, err := b.st.UpsertCustomer(context.Background(), sb.ID, store.CustomerIdentity{
			ShopifyID: 2002, GID: "gid://shopify/Customer/2002", Email: "only-b@example.com",
		}); err != nil {
			t.Fatal(err)
		}
		whB := b.addWebhook(t, sb, "orders/paid", store.WebhookFailed, "boom in b")

		rec := b.api(http.MethodGet, "/api/v1/customers/2002", b.token(a.Domain))
		requireStatus(t, rec, http.StatusNotFound)
		if strings.Contains(rec.Body.String(), "only-b@example.com") {
			t.Errorf("shop B's data leaked: %s", rec.Body.String())
		}
		if e := decodeJSON[apiError](t, rec); e.Error.Code != "not_found" {
			t.Errorf("error = %+v", e)
		}
		rec = b.api(http.MethodGet, "/api/v1/webhooks", b.token(a.Domain))
		requireStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), "boom in b") {
			t.Errorf("shop B's webhook listed for A: %s", rec.Body.String())
		}
		rec = b.api(http.MethodPost, "/api/v1/webhooks/"+itoa(whB)+"/reprocess", b.token(a.Domain))
		requireStatus(t, rec, http.StatusNotFound)
		if got := b.webhookStatus(t, whB); got != store.WebhookFailed {
			t.Errorf("shop B's webhook status = %q after A's reprocess", got)
		}
		if calls := b.reprocessCalls(); len(calls) != 0 {
			t.Errorf("reprocess kicked for another shop: %v", calls)
		}
		// Shop B itself sees both, so the 404s above are isolation.
		rec = b.api(http.MethodGet, "/api/v1/customers/2002", b.token(sb.Domain))
		requireStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), "only-b@example.com") {
			t.Errorf("shop B cannot see its customer: %s", rec.Body.String())
		}
	})

	t.Run("ShopComesFromTheTokenNotTheQuery", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.install(t, "shop-a.myshopify.com")
		sb := b.install(t, "shop-b.myshopify.com")
		b.addWebhook(t, a, "orders/create", store.WebhookFailed, "error of a")
		b.addWebhook(t, sb, "orders/paid", store.WebhookFailed, "error of b")
		rec := b.api(http.MethodGet, "/api/v1/webhooks?shop=shop-b.myshopify.com", b.token(a.Domain))
		requireStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		if !strings.Contains(body, "error of a") || strings.Contains(body, "error of b") {
			t.Errorf("list for A with ?shop=B = %s", body)
		}
	})

	t.Run("PreflightNeedsNoToken", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.send(http.MethodOptions, "/api/v1/integrations", nil, "Origin", "https://admin.shopify.com", "Access-Control-Request-Method", "GET")
		requireStatus(t, rec, http.StatusNoContent)
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight headers = %v", rec.Header())
		}
	})
}

func TestSession_Pages(t *testing.T) {
	t.Parallel()

	t.Run("DocumentWithoutTokenBounces", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		q := embeddedQuery(sh.Domain)
		q.Set("status", "failed")
		loc := location(t, b.get("/app/webhooks?"+q.Encode()))
		if loc.Path != "/auth/session-token" {
			t.Fatalf("redirect to %s", loc)
		}
		if loc.Query().Get("shop") != sh.Domain || loc.Query().Get("host") != q.Get("host") {
			t.Errorf("bounce query = %v", loc.Query())
		}
		reload, err := urlParse(loc.Query().Get("shopify-reload"))
		if err != nil || reload.Scheme+"://"+reload.Host != testAppURL || reload.Path != "/app/webhooks" || reload.Query().Get("status") != "failed" {
			t.Errorf("shopify-reload = %q", loc.Query().Get("shopify-reload"))
		}
	})

	t.Run("DocumentWithStaleTokenBouncesWithoutIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		q := embeddedQuery(sh.Domain)
		q.Set("id_token", b.fake.MintIDToken(sh.Domain, 42, -time.Minute))
		loc := location(t, b.get("/app?"+q.Encode()))
		if loc.Path != "/auth/session-token" || strings.Contains(loc.String(), "id_token") {
			t.Errorf("redirect = %s", loc)
		}
	})

	t.Run("DocumentWithTokenRendersWithShopFraming", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		q := embeddedQuery(sh.Domain)
		q.Set("id_token", b.token(sh.Domain))
		rec := b.get("/app?" + q.Encode())
		requireStatus(t, rec, http.StatusOK)
		if got := frameAncestors(t, rec); strings.Join(got, " ") != "https://shop-a.myshopify.com https://admin.shopify.com" {
			t.Errorf("frame-ancestors = %v", got)
		}
		if doc(t, rec).Find(`[data-testid="shop-domain"]`).Text() != sh.Domain {
			t.Errorf("home does not show the shop")
		}
	})

	t.Run("FetchWithoutTokenIs401", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.send(http.MethodPost, "/app/webhooks/1/reprocess", nil, "Accept", "application/json")
		requireInvalidSession(t, rec)
	})
}
