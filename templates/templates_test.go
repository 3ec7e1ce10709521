package templates_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/perkbridge/perkbridge/templates"
)

const nonce = "test-nonce-123"

// render renders c with a CSP nonce in the context and parses the HTML.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(templ.WithNonce(context.Background(), nonce), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func requireNonces(t *testing.T, d *goquery.Document) {
	t.Helper()
	scripts := d.Find("script")
	if scripts.Length() == 0 {
		t.Fatal("no scripts")
	}
	scripts.Each(func(i int, s *goquery.Selection) {
		if n, _ := s.Attr("nonce"); n != nonce {
			t.Errorf("script %d has nonce %q", i, n)
		}
	})
}

func shell(demo bool) templates.Shell {
	nav := templates.AppNav()
	for i := range nav {
		nav[i].Href = "/app/" + strings.TrimPrefix(strings.SplitN(nav[i].Route, ".", 3)[1], "home")
	}
	nav[0].Href, nav[0].Active = "/app", true
	return templates.Shell{Title: "Home", APIKey: "key-1", ShopDomain: "shop-a.myshopify.com", CSSURL: "/static/app.css?v=1", JSURL: "/static/app.js?v=1", Nav: nav, Demo: demo}
}

func TestLayout_Embedded(t *testing.T) {
	t.Parallel()
	d := render(t, templates.HomePage(templates.HomeView{Shell: shell(false), ShopDomain: "shop-a.myshopify.com"}))
	if v, _ := d.Find(`head meta[name="shopify-api-key"]`).Attr("content"); v != "key-1" {
		t.Errorf("api key meta = %q", v)
	}
	head := d.Find("head script")
	if src, _ := head.Eq(0).Attr("src"); src != "https://cdn.shopify.com/shopifycloud/app-bridge.js" {
		t.Errorf("first head script = %q", src)
	}
	if src, _ := head.Eq(1).Attr("src"); src != "https://cdn.shopify.com/shopifycloud/polaris-1.js" {
		t.Errorf("second head script = %q", src)
	}
	requireNonces(t, d)
	links := d.Find(`ui-nav-menu a`)
	if links.Length() != len(templates.AppNav()) {
		t.Fatalf("nav links = %d", links.Length())
	}
	if rel, _ := links.Eq(0).Attr("rel"); rel != "home" {
		t.Errorf("home link rel = %q", rel)
	}
	var labels []string
	links.Each(func(_ int, s *goquery.Selection) { labels = append(labels, s.Text()) })
	if got := strings.Join(labels, ","); got != "Home,Integrations,Events,Statistics,Delivery log,Program,Customers,Webhooks,Referrals" {
		t.Errorf("nav = %s", got)
	}
	if href, _ := links.Eq(7).Attr("href"); href != "/app/webhooks" {
		t.Errorf("webhooks link = %q", href)
	}
	if d.Find(`[data-testid="app-nav"]`).Length() != 0 {
		t.Error("embedded page draws its own nav")
	}
	if href, _ := d.Find(`link[rel="stylesheet"]`).Attr("href"); href != "/static/app.css?v=1" {
		t.Errorf("stylesheet = %q", href)
	}
	if src, _ := d.Find(`head script[data-testid="app-script"]`).Attr("src"); src != "/static/app.js?v=1" {
		t.Errorf("app script = %q", src)
	}
}

func TestLayout_Demo(t *testing.T) {
	t.Parallel()
	d := render(t, templates.HomePage(templates.HomeView{Shell: shell(true), ShopDomain: "shop-a.myshopify.com"}))
	// Offline: no CDN script, only the app's own.
	d.Find(`script[src]`).Each(func(_ int, s *goquery.Selection) {
		if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") {
			t.Errorf("demo page loads %s", src)
		}
	})
	if d.Find("ui-nav-menu").Length() != 0 {
		t.Error("demo page uses ui-nav-menu")
	}
	current := d.Find(`[data-testid="app-nav"] a[aria-current="page"]`)
	if current.Length() != 1 || current.Text() != "Home" {
		t.Errorf("current nav item = %q", current.Text())
	}
	if d.Find(`[data-testid="nav-shop"]`).Text() != "shop-a.myshopify.com" {
		t.Error("nav does not name the shop")
	}
	requireNonces(t, d) // the app's own script still needs the nonce
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	installed := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	v := templates.HomeView{
		Shell: shell(false), ShopName: "Ada's Teas", ShopDomain: "shop-a.myshopify.com", InstalledAt: installed,
		Program: templates.ProgramTotals{Members: 1234, Issued: 5000, Redeemed: 1500, Expired: 250, Reversed: 100, Outstanding: 3150},
		Webhooks: []templates.StatusCount{
			{Status: "pending", Count: 0, URL: "/app/webhooks?status=pending"},
			{Status: "failed", Count: 7, URL: "/app/webhooks?status=failed"},
		},
		WebhooksURL: "/app/webhooks?shop=shop-a.myshopify.com",
	}
	d := render(t, templates.HomePage(v))
	for sel, want := range map[string]string{
		`[data-testid="shop-name"]`:                                  "Ada's Teas",
		`[data-testid="shop-domain"]`:                                "shop-a.myshopify.com",
		`[data-testid="member-count"]`:                               "1,234",
		`[data-testid="points-issued"]`:                              "5,000",
		`[data-testid="points-redeemed"]`:                            "1,500",
		`[data-testid="points-expired"]`:                             "250",
		`[data-testid="points-outstanding"]`:                         "3,150",
		`[data-testid="installed-at"]`:                               "4 Mar 2026, 05:06 UTC",
		`[data-testid="webhook-count-failed"] [data-testid="count"]`: "7",
		`[data-testid="webhook-count-failed"] .badge-critical`:       "Failed",
	} {
		if got := strings.TrimSpace(d.Find(sel).Text()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if dt, _ := d.Find(`[data-testid="installed-at"] time`).Attr("datetime"); dt != "2026-03-04T05:06:00Z" {
		t.Errorf("datetime = %q", dt)
	}
	if href, _ := d.Find(`[data-testid="webhook-count-failed"] a`).Attr("href"); href != "/app/webhooks?status=failed" {
		t.Errorf("failed link = %q", href)
	}

	v.ShopName = ""
	d = render(t, templates.HomePage(v))
	if got := strings.TrimSpace(d.Find(`[data-testid="shop-name"]`).Text()); got != "shop-a.myshopify.com" {
		t.Errorf("nameless shop heading = %q", got)
	}
}

func TestWebhooksPage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	v := templates.WebhooksView{
		Shell:        shell(false),
		FilterAction: "/app/webhooks",
		Hidden:       []templates.Param{{Name: "host", Value: "aGVsbG8"}, {Name: "shop", Value: "shop-a.myshopify.com"}},
		Statuses:     []string{"pending", "processed", "failed", "ignored"},
		Status:       "failed",
		Topic:        "orders/paid",
		Rows: []templates.WebhookRow{
			{ID: 11, Topic: "orders/paid", Status: "failed", Attempts: 3, LastError: "unexpected <EOF>", ReceivedAt: at, ReprocessURL: "/app/webhooks/11/reprocess?shop=shop-a.myshopify.com"},
			{ID: 12, Topic: "orders/paid", Status: "processed", Attempts: 1, ReceivedAt: at},
		},
	}
	d := render(t, templates.WebhooksPage(v))
	rows := d.Find(`[data-testid="webhook-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("rows = %d", rows.Length())
	}
	first := rows.Eq(0)
	if id, _ := first.Attr("data-webhook-id"); id != "11" {
		t.Errorf("row id = %q", id)
	}
	if got := first.Find(`[data-testid="webhook-last-error"]`).Text(); got != "unexpected <EOF>" {
		t.Errorf("last error = %q", got) // text, escaped, not markup
	}
	if got := first.Find(`[data-testid="webhook-attempts"]`).Text(); got != "3" {
		t.Errorf("attempts = %q", got)
	}
	if !first.Find(`[data-testid="status-badge"]`).HasClass("badge-critical") {
		t.Error("failed badge tone")
	}
	form := first.Find(`form[data-testid="reprocess-form"]`)
	if m, _ := form.Attr("method"); m != "post" {
		t.Errorf("reprocess form method = %q", m)
	}
	if a, _ := form.Attr("action"); a != "/app/webhooks/11/reprocess?shop=shop-a.myshopify.com" {
		t.Errorf("reprocess action = %q", a)
	}
	if form.Find(`button[type="submit"]`).Length() != 1 {
		t.Error("reprocess form has no submit button")
	}
	if rows.Eq(1).Find("form").Length() != 0 {
		t.Error("processed row offers reprocess")
	}
	if !rows.Eq(1).Find(`[data-testid="status-badge"]`).HasClass("badge-success") {
		t.Error("processed badge tone")
	}
	filter := d.Find(`[data-testid="webhook-filter"]`)
	if v, _ := filter.Find(`option[selected]`).Attr("value"); v != "failed" {
		t.Errorf("selected status = %q", v)
	}
	if v, _ := filter.Find(`[data-testid="filter-topic"]`).Attr("value"); v != "orders/paid" {
		t.Errorf("topic = %q", v)
	}
	if v, _ := filter.Find(`input[type="hidden"][name="shop"]`).Attr("value"); v != "shop-a.myshopify.com" {
		t.Errorf("hidden shop = %q", v)
	}
	// Every control has a label.
	filter.Find("select, input[type=text]").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		if id == "" || d.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("control %q has no label", id)
		}
	})
	requireNonces(t, d)

	v.Rows = nil
	d = render(t, templates.WebhooksPage(v))
	if d.Find(`[data-testid="webhooks-empty"]`).Length() != 1 || d.Find(`[data-testid="webhooks-table"]`).Length() != 0 {
		t.Error("empty state")
	}
}

func TestBouncePage(t *testing.T) {
	t.Parallel()
	d := render(t, templates.BouncePage(templates.BounceView{APIKey: "key-1"}))
	s := d.Find("head script")
	if s.Length() != 1 {
		t.Fatalf("scripts = %d", s.Length())
	}
	if k, _ := s.Attr("data-api-key"); k != "key-1" {
		t.Errorf("data-api-key = %q", k)
	}
	if src, _ := s.Attr("src"); src != templates.AppBridgeSrc {
		t.Errorf("src = %q", src)
	}
	requireNonces(t, d)
}

func TestExitIframePage(t *testing.T) {
	t.Parallel()
	const target = `https://perkbridge.example.com/auth?shop=a.myshopify.com&x="</script><script>alert(1)</script>`
	d := render(t, templates.ExitIframePage(templates.ExitIframeView{APIKey: "key-1", URL: target}))
	if u, _ := d.Find(`[data-testid="exit-script"]`).Attr("data-url"); u != target {
		t.Errorf("data-url = %q", u)
	}
	if n := d.Find("script").Length(); n != 2 {
		t.Errorf("scripts = %d: the URL broke out of its attribute", n)
	}
	if !strings.Contains(d.Find(`[data-testid="exit-script"]`).Text(), `window.open(document.currentScript.dataset.url, "_top")`) {
		t.Error("exit script")
	}
	requireNonces(t, d)
}

func TestLandingPage(t *testing.T) {
	t.Parallel()
	d := render(t, templates.LandingPage(templates.LandingView{CSSURL: "/static/app.css", InstallURL: "/auth"}))
	if a, _ := d.Find(`[data-testid="install-form"]`).Attr("action"); a != "/auth" {
		t.Errorf("install action = %q", a)
	}
	if d.Find(`[data-testid="install-form"] label[for="install-shop"]`).Length() != 1 {
		t.Error("install input has no label")
	}
	if d.Find(`[data-testid="demo-login-form"]`).Length() != 0 {
		t.Error("demo form outside demo mode")
	}
	d = render(t, templates.LandingPage(templates.LandingView{InstallURL: "/auth", Demo: true, DemoLoginURL: "/demo/login"}))
	if a, _ := d.Find(`[data-testid="demo-login-form"]`).Attr("action"); a != "/demo/login" {
		t.Errorf("demo action = %q", a)
	}
}

func TestErrorPage(t *testing.T) {
	t.Parallel()
	d := render(t, templates.ErrorPage(templates.ErrorView{Status: 404, Title: "Not Found", Message: "There is <nothing> here.", RequestID: "req-1"}))
	for sel, want := range map[string]string{
		`[data-testid="error-status"]`:     "Error 404",
		`[data-testid="error-title"]`:      "Not Found",
		`[data-testid="error-message"]`:    "There is <nothing> here.",
		`[data-testid="error-request-id"]`: "req-1",
	} {
		if got := strings.TrimSpace(d.Find(sel).Text()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if d.Find("script").Length() != 0 {
		t.Error("error page runs scripts")
	}
	d = render(t, templates.ErrorPage(templates.ErrorView{Status: 500, Title: "Internal Server Error", Message: "x"}))
	if d.Find(`[data-testid="error-request-id"]`).Length() != 0 {
		t.Error("empty request id shown")
	}
}
