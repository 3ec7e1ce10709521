package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/perkbridge/perkbridge/app/fake"
)

// settingsWithEmbed is a published theme's config/settings_data.json with
// Perkbridge's app embed present, on or off, beside another app's.
func settingsWithEmbed(disabled bool) string {
	off := "false"
	if disabled {
		off = "true"
	}
	return `/* auto-generated */ {"current":{"blocks":{
  "111":{"type":"shopify://apps/judge-me-reviews/blocks/judgeme_core/61ccd3b1","disabled":false},
  "222":{"type":"shopify://apps/perkbridge/blocks/loyalty-embed/0b0f6d3e","disabled":` + off + `,"settings":{}}}}}`
}

func homeStep(d *goquery.Document, step string) *goquery.Selection {
	return d.Find(`[data-testid="setup-step"][data-step="` + step + `"]`)
}

// TestPageHome_StorefrontChecklist: the launch checklist says whether the
// rewards launcher (the theme app embed) is on in the published theme, as
// read from its settings_data.json on demand and by the periodic work, and
// whether a shopper's browser has loaded it (the first signed proxy call).
func TestPageHome_StorefrontChecklist(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ctx := t.Context()

	_, d := b.page(t, pageShop, "/app")
	embed, widget := homeStep(d, "theme-embed"), homeStep(d, "widget-seen")
	if embed.Length() != 1 || widget.Length() != 1 {
		t.Fatalf("storefront steps missing: %d %d", embed.Length(), widget.Length())
	}
	if embed.AttrOr("data-done", "") != "false" || widget.AttrOr("data-done", "") != "false" {
		t.Fatalf("a new shop has done storefront steps: %s %s", embed.AttrOr("data-done", ""), widget.AttrOr("data-done", ""))
	}
	link := embed.Find("a").First()
	href, _ := url.Parse(link.AttrOr("href", ""))
	if href == nil || href.Host != pageShop || href.Path != "/admin/themes/current/editor" ||
		href.Query().Get("context") != "apps" || href.Query().Get("activateAppId") != testAPIKey+"/loyalty-embed" ||
		link.AttrOr("target", "") != "_top" {
		t.Errorf("theme editor link = %q target %q", link.AttrOr("href", ""), link.AttrOr("target", ""))
	}
	check := formAction(t, d, `[data-testid="setup-step"][data-step="theme-embed"] [data-testid="step-check-form"]`)

	// Turned off in the published theme: the check says so, and the step
	// names the theme.
	b.fake.SetTheme(pageShop, fake.ShopifyTheme{ID: 1, Name: "Dawn", Role: "MAIN",
		Files: map[string]string{"config/settings_data.json": settingsWithEmbed(true)}})
	rec, _ := b.submit(t, pageShop, check, nil)
	requireRedirect(t, rec, "/app", "theme-embed-off")
	_, d = b.page(t, pageShop, "/app")
	if got := pageText(homeStep(d, "theme-embed")); !strings.Contains(got, "turned off in your published theme, Dawn") || !strings.Contains(got, "Last checked") {
		t.Errorf("disabled embed step: %q", got)
	}

	// Turned on in a theme published since: done, and the check disappears.
	b.fake.SetTheme(pageShop, fake.ShopifyTheme{ID: 2, Name: "Horizon", Role: "MAIN",
		Files: map[string]string{"config/settings_data.json": settingsWithEmbed(false)}})
	rec, _ = b.submit(t, pageShop, check, nil)
	requireRedirect(t, rec, "/app", "theme-embed-enabled")
	_, d = b.page(t, pageShop, "/app")
	embed = homeStep(d, "theme-embed")
	if embed.AttrOr("data-done", "") != "true" || !strings.Contains(pageText(embed), "on in your published theme, Horizon") ||
		embed.Find(`[data-testid="step-check-form"]`).Length() != 0 {
		t.Errorf("enabled embed step: done=%s %q", embed.AttrOr("data-done", ""), pageText(embed))
	}

	// Without the read_themes scope: said plainly, never "done".
	b.fake.DenyThemeAccess(pageShop, true)
	rec, _ = b.submit(t, pageShop, check, nil)
	requireRedirect(t, rec, "/app", "theme-embed-no-access")
	_, d = b.page(t, pageShop, "/app")
	if embed = homeStep(d, "theme-embed"); embed.AttrOr("data-done", "") != "false" || !strings.Contains(pageText(embed), "needs permission to read your theme") {
		t.Errorf("no access step: done=%s %q", embed.AttrOr("data-done", ""), pageText(embed))
	}

	// The periodic work reads the theme too: granted again and turned on,
	// the next run ticks the step without the merchant asking.
	b.fake.DenyThemeAccess(pageShop, false)
	if _, err := b.loyalty.RunMaintenance(ctx, b.shop.ID, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	sh, err := b.st.Shop(ctx, b.shop.ID)
	if err != nil || sh.ThemeEmbed != "enabled" || sh.ThemeEmbedTheme != "Horizon" {
		t.Fatalf("after maintenance: %q %q %v", sh.ThemeEmbed, sh.ThemeEmbedTheme, err)
	}

	// A shopper's first signed proxy call ticks the widget step, once:
	// later calls do not move the date.
	first := b.clock.Now()
	rec = b.get("/proxy/api/v1/rewards?" + proxyQuery(pageShop, "", first, testAPISecret).Encode())
	requireStatus(t, rec, http.StatusOK)
	b.clock.Advance(time.Hour)
	rec = b.get("/proxy/api/v1/rewards?" + proxyQuery(pageShop, "", b.clock.Now(), testAPISecret).Encode())
	requireStatus(t, rec, http.StatusOK)
	sh, _ = b.st.Shop(ctx, b.shop.ID)
	if sh.WidgetSeenAt == nil || !sh.WidgetSeenAt.Equal(first.Truncate(time.Microsecond)) {
		t.Fatalf("widget_seen_at = %v, want %v", sh.WidgetSeenAt, first)
	}
	// A forged call counts for nothing, on another shop.
	q := proxyQuery(pageOtherShop, "", b.clock.Now(), "not-the-secret")
	requireStatus(t, b.get("/proxy/api/v1/rewards?"+q.Encode()), http.StatusUnauthorized)
	if other, _ := b.st.Shop(ctx, b.other.ID); other.WidgetSeenAt != nil {
		t.Errorf("a forged proxy call marked %s's widget as seen", pageOtherShop)
	}
	_, d = b.page(t, pageShop, "/app")
	widget = homeStep(d, "widget-seen")
	if widget.AttrOr("data-done", "") != "true" || !strings.Contains(pageText(widget), "first loaded it on") {
		t.Errorf("widget step: done=%s %q", widget.AttrOr("data-done", ""), pageText(widget))
	}
}
