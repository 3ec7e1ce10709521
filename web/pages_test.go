package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/perkbridge/perkbridge/app/store"
)

func TestPages_Home(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")
	other := b.install(t, "shop-b.myshopify.com")
	ctx := context.Background()
	if err := b.st.UpdateShopInfo(ctx, sh.ID, "Ada's Teas", "ada@example.com", "EUR", "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 3; i++ {
		if _, _, err := b.st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: i, GID: "gid://shopify/Customer/" + strconv.FormatInt(i, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.st.UpsertCustomer(ctx, other.ID, store.CustomerIdentity{ShopifyID: 9, GID: "gid://shopify/Customer/9"}); err != nil {
		t.Fatal(err)
	}
	b.addWebhook(t, sh, "orders/paid", store.WebhookFailed, "x")
	b.addWebhook(t, sh, "orders/paid", store.WebhookFailed, "y")
	b.addWebhook(t, sh, "orders/create", store.WebhookProcessed, "")
	b.addWebhook(t, other, "orders/create", store.WebhookFailed, "z")

	q := embeddedQuery(sh.Domain)
	q.Set("id_token", b.token(sh.Domain))
	rec := b.get("/app?" + q.Encode())
	requireStatus(t, rec, http.StatusOK)
	d := doc(t, rec)
	checks := map[string]string{
		`[data-testid="shop-name"]`:                                     "Ada's Teas",
		`[data-testid="member-count"]`:                                  "3",
		`[data-testid="webhook-count-failed"] [data-testid="count"]`:    "2",
		`[data-testid="webhook-count-processed"] [data-testid="count"]`: "1",
		`[data-testid="webhook-count-pending"] [data-testid="count"]`:   "0",
	}
	for sel, want := range checks {
		if got := strings.TrimSpace(d.Find(sel).Text()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="installed-at"]`).Text()); got == "" || got == "—" {
		t.Errorf("installed-at = %q", got)
	}
	// In-page links keep the shop and host so a navigation can be bounced.
	href, _ := d.Find(`[data-testid="webhooks-link"]`).Attr("href")
	u, _ := url.Parse(href)
	if u.Path != "/app/webhooks" || u.Query().Get("shop") != sh.Domain || u.Query().Get("host") != q.Get("host") || u.Query().Has("id_token") {
		t.Errorf("webhooks link = %q", href)
	}
	// The admin's nav lists every page, by route.
	var navs []string
	d.Find(`ui-nav-menu a`).Each(func(_ int, s *goquery.Selection) {
		h, _ := s.Attr("href")
		navs = append(navs, h)
	})
	if strings.Join(navs, " ") != "/app /app/integrations /app/events /app/stats /app/deliveries /app/program /app/customers /app/webhooks /app/referrals" {
		t.Errorf("nav = %v", navs)
	}
}

func TestPages_Webhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")
	failed := b.addWebhook(t, sh, "orders/paid", store.WebhookFailed, "unexpected end of JSON input")
	processed := b.addWebhook(t, sh, "customers/create", store.WebhookProcessed, "")

	q := embeddedQuery(sh.Domain)
	q.Set("id_token", b.token(sh.Domain))
	rec := b.get("/app/webhooks?" + q.Encode())
	requireStatus(t, rec, http.StatusOK)
	d := doc(t, rec)
	rows := d.Find(`[data-testid="webhook-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("rows = %d", rows.Length())
	}
	failedRow := d.Find(`[data-testid="webhook-row"][data-webhook-id="` + itoa(failed) + `"]`)
	if got := failedRow.Find(`[data-testid="webhook-last-error"]`).Text(); got != "unexpected end of JSON input" {
		t.Errorf("last error = %q", got)
	}
	if got := failedRow.Find(`[data-testid="status-badge"]`).Text(); got != "Failed" {
		t.Errorf("badge = %q", got)
	}
	action, _ := failedRow.Find(`form[data-testid="reprocess-form"]`).Attr("action")
	if u, _ := url.Parse(action); u == nil || u.Path != "/app/webhooks/"+itoa(failed)+"/reprocess" || u.Query().Get("shop") != sh.Domain {
		t.Errorf("reprocess action = %q", action)
	}
	if d.Find(`[data-webhook-id="`+itoa(processed)+`"] form`).Length() != 0 {
		t.Error("a processed delivery offers reprocess")
	}
	if strings.Contains(rec.Body.String(), "secret_body") {
		t.Error("page shows a body")
	}

	// The filter narrows the list.
	q.Set("status", "processed")
	rec = b.get("/app/webhooks?" + q.Encode())
	if n := doc(t, rec).Find(`[data-testid="webhook-row"]`).Length(); n != 1 {
		t.Errorf("filtered rows = %d", n)
	}

	// The form script posts with a bearer token and asks for JSON.
	rec = b.send(http.MethodPost, action, nil, "Authorization", "Bearer "+b.token(sh.Domain), "Accept", "application/json")
	requireStatus(t, rec, http.StatusAccepted)
	if got := b.webhookStatus(t, failed); got != store.WebhookPending {
		t.Errorf("status after reprocess = %q", got)
	}
	if calls := b.reprocessCalls(); len(calls) != 1 || calls[0] != failed {
		t.Errorf("kicks = %v", calls)
	}
}
