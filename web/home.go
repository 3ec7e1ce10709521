package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// webhookStatuses are the inbox statuses in the order pages show them.
var webhookStatuses = []string{store.WebhookPending, store.WebhookProcessed, store.WebhookFailed, store.WebhookIgnored}

// homeDays is how many days the home page's chart covers.
const homeDays = 7

// handleHome shows what needs attention, the program at a glance and the
// events sent to each integration in the last seven days.
func (s *server) handleHome(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sh, err := s.st.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	customers, byStatus, err := s.st.ShopCounts(ctx, shop.ID)
	if err != nil {
		return err
	}
	totals, err := s.programTotals(ctx, shop.ID)
	if err != nil {
		return err
	}
	totals.Members = customers
	totals.CustomersURL = s.pageURL(c, routeAppCustomers, nil)
	integrations, err := s.forward.List(ctx, shop.ID)
	if err != nil {
		return err
	}
	// Whole local days, today's included, up to its end: see
	// parseStatsPeriod.
	loc := sh.Location()
	today := localMidnight(s.now(), loc)
	from, to := today.AddDate(0, 0, -(homeDays-1)), today.AddDate(0, 0, 1)

	webhooksURL := s.e.Reverse(routeAppWebhooks)
	v := templates.HomeView{
		Shell:       s.pageShell(c, "Home", routeAppHome),
		ShopName:    sh.Name,
		ShopDomain:  sh.Domain,
		InstalledAt: sh.InstalledAt.In(sh.Location()),
		WebhooksURL: s.appLink(c, webhooksURL, nil),
		Program:     totals,
		StatsURL:    s.pageURL(c, routeAppStats, url.Values{"range": {"7d"}}),
		Sandbox:     s.demoSinkLinks(""),
	}
	if sh.MaintenanceCompletedAt != nil {
		at := sh.MaintenanceCompletedAt.In(sh.Location())
		v.MaintenanceAt = &at
	}
	for _, st := range webhookStatuses {
		v.Webhooks = append(v.Webhooks, templates.StatusCount{
			Status: st,
			Count:  byStatus[st],
			URL:    s.appLink(c, webhooksURL, url.Values{"status": {st}}),
		})
	}

	// One series per integration: sent, late included (late ones reached
	// the sink too, only after CleverTap's live-campaign window).
	var connected, definitions int
	var failed int64
	perKind := map[string]forward.Stats{}
	for _, in := range integrations {
		if in.Status == store.IntegrationNotConnected {
			if in.StatusReason != "" {
				v.Attention = append(v.Attention, templates.AttentionItem{
					Tone: "critical", Title: kindLabel(in.Kind) + " could not be initialized",
					Text: in.StatusReason, URL: s.pageURL(c, routeAppIntegrations, nil) + "#" + in.Kind, LinkLabel: "Fix the " + kindLabel(in.Kind) + " set-up",
				})
			}
			continue
		}
		connected++
		switch in.Status {
		case store.IntegrationPaused:
			v.Attention = append(v.Attention, templates.AttentionItem{
				Tone: "critical", Title: kindLabel(in.Kind) + " is paused: events are kept and wait",
				Text: in.StatusReason, URL: s.pageURL(c, routeAppIntegrations, nil) + "#" + in.Kind, LinkLabel: "Fix the " + kindLabel(in.Kind) + " set-up",
			})
		case store.IntegrationInitializing:
			v.Attention = append(v.Attention, templates.AttentionItem{
				Tone: "attention", Title: kindLabel(in.Kind) + " is being initialized",
				Text: "The credentials are being checked.", URL: s.pageURL(c, routeAppIntegrations, nil) + "#" + in.Kind, LinkLabel: "See the integration",
			})
		}
		defs, err := s.forward.ListDefinitions(ctx, shop.ID, in.Kind)
		if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
			return err
		}
		definitions += len(defs)
		st, err := s.forward.Stats(ctx, shop.ID, forward.StatsFilter{Integration: in.Kind, From: from, To: to, Bucket: "day", Location: loc})
		if err != nil {
			return err
		}
		perKind[in.Kind] = st
		failed += st.Totals.Failed
	}
	v.Sent, v.SentTotal = homeChart(perKind, from, to, loc)
	if failed > 0 {
		v.Attention = append(v.Attention, templates.AttentionItem{
			Tone: "attention", Title: strconv.FormatInt(failed, 10) + " deliveries failed in the last 7 days",
			Text: "The integration refused them or could not be reached, even after retries. The log shows its answer for each.",
			URL:  s.pageURL(c, routeAppDeliveries, url.Values{"status": {store.DeliveryFailed}}), LinkLabel: "Open the delivery log",
		})
	}
	if n := byStatus[store.WebhookFailed]; n > 0 {
		v.Attention = append(v.Attention, templates.AttentionItem{
			Tone: "attention", Title: strconv.FormatInt(n, 10) + " webhooks from Shopify could not be processed",
			Text: "Their loyalty effects (points, events) are missing until they are reprocessed.",
			URL:  s.appLink(c, webhooksURL, url.Values{"status": {store.WebhookFailed}}), LinkLabel: "See the failed webhooks",
		})
	}
	settings, saved, err := s.st.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	if settings.CountTestOrders {
		v.Attention = append([]templates.AttentionItem{{
			Tone: "attention", Title: "Test orders are earning points",
			Text: "Orders placed in test mode credit points and send events, so you can try your flows. Turn it off before going live.",
			URL:  s.pageURL(c, routeAppProgram, nil) + "#" + "f-count-test-orders", LinkLabel: "Change it in Program",
		}}, v.Attention...)
	}
	steps := []templates.SetupStep{
		{Title: "Connect CleverTap or Klaviyo", Text: "Enter the credentials and initialize.", Done: connected > 0, URL: s.pageURL(c, routeAppIntegrations, nil)},
		{Title: "Choose the events to send", Text: "For example wallet_points_rewarded, to thank customers for the points they earn.", Done: definitions > 0, URL: s.pageURL(c, routeAppEvents, nil)},
		{Title: "Review your program", Text: "Points per order, rewards, tiers and expiry.", Done: saved, URL: s.pageURL(c, routeAppProgram, nil)},
	}
	steps = append(steps, s.storefrontSteps(c, sh)...)
	for _, st := range steps {
		if !st.Done {
			v.Steps = steps
			break
		}
	}
	return render(c, http.StatusOK, templates.HomePage(v))
}

// homeChart draws the events sent (and late) per day and integration.
func homeChart(perKind map[string]forward.Stats, from, to time.Time, loc *time.Location) (templates.Chart, int64) {
	c := templates.Chart{ID: "sent-chart", Title: "Events sent per day", BucketHeader: "Day"}
	var total int64
	var kinds []string
	for _, k := range forward.Kinds() {
		if _, ok := perKind[k]; ok {
			kinds = append(kinds, k)
			c.Series = append(c.Series, templates.ChartSeries{Key: k, Label: kindLabel(k)})
		}
	}
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		b := templates.ChartBucket{Label: day.In(loc).Format("Mon 2"), Full: day.In(loc).Format("Monday 2 January 2006")}
		for _, k := range kinds {
			var n int64
			for _, bk := range perKind[k].Buckets {
				if bk.Start.Equal(day) {
					n = bk.Sent + bk.Late
				}
			}
			b.Values = append(b.Values, n)
			total += n
		}
		c.Buckets = append(c.Buckets, b)
	}
	if len(kinds) == 0 {
		c.Summary = "No integration is connected yet, so nothing was sent."
	} else {
		c.Summary = strconv.FormatInt(total, 10) + " events sent in the last 7 days."
		for j, k := range kinds {
			var n int64
			for _, b := range c.Buckets {
				n += b.Values[j]
			}
			c.Summary += " " + kindLabel(k) + ": " + strconv.FormatInt(n, 10) + "."
		}
	}
	return c, total
}

// programTotals sums the shop's ledger by kind in one aggregate query.
func (s *server) programTotals(ctx context.Context, shopID app.ShopID) (templates.ProgramTotals, error) {
	var t templates.ProgramTotals
	sums, err := s.st.LedgerTotals(ctx, shopID, loyalty.ReasonMerge)
	if err != nil {
		return t, err
	}
	for _, g := range sums {
		t.Outstanding += g.Points
		switch ledger.Kind(g.Kind) {
		case ledger.KindRedeem:
			t.Redeemed -= g.Points
		case ledger.KindExpire:
			t.Expired -= g.Points
		case ledger.KindReverse:
			t.Reversed -= g.Points
		case ledger.KindAdjust:
			// A merge moves points between two customers: neither issued
			// nor spent.
			if g.Positive && !g.WithReason {
				t.Issued += g.Points
			}
		default:
			if g.Positive {
				t.Issued += g.Points
			}
		}
	}
	return t, nil
}

// shell returns the frame of an admin page.
func (s *server) shell(c echo.Context, title, active string) templates.Shell {
	shop, _ := app.ShopFrom(c.Request().Context())
	nav := templates.AppNav()
	for i := range nav {
		href := s.e.Reverse(nav[i].Route)
		if s.cfg.Demo {
			href = s.appLink(c, href, nil)
		}
		nav[i].Href = href
		nav[i].Active = nav[i].Route == active
	}
	return templates.Shell{
		Title:      title,
		APIKey:     s.cfg.ShopifyAPIKey,
		ShopDomain: shop.Domain,
		CSSURL:     s.cssURL,
		JSURL:      "/static/app.js?v=" + s.assetVersion,
		Nav:        nav,
		Demo:       s.cfg.Demo,
	}
}

// storefrontSteps are the checklist's storefront items: the app embed (the
// rewards launcher) turned on in the published theme, as the last read of
// its settings found, and a shopper's browser having loaded it (the first
// signed app-proxy call).
func (s *server) storefrontSteps(c echo.Context, sh *store.Shop) []templates.SetupStep {
	embed := templates.SetupStep{
		Title:    "Turn on the rewards launcher in your theme",
		Done:     sh.ThemeEmbed == store.ThemeEmbedEnabled,
		URL:      shopify.ThemeEditorEmbedURL(sh.Domain, s.cfg.ShopifyAPIKey, loyalty.ThemeEmbedHandle),
		External: true,
		CheckURL: s.pageURL(c, routeAppStorefrontCheck, nil),
		Testid:   "theme-embed",
	}
	theme := "your published theme"
	if sh.ThemeEmbedTheme != "" {
		theme = "your published theme, " + sh.ThemeEmbedTheme
	}
	switch sh.ThemeEmbed {
	case store.ThemeEmbedEnabled:
		embed.Text = "It is on in " + theme + "."
	case store.ThemeEmbedDisabled:
		embed.Text = "It was turned off in " + theme + ". Open App embeds in the theme editor, switch on Perkbridge loyalty and save."
	case store.ThemeEmbedNoAccess:
		embed.Text = "Perkbridge needs permission to read your theme to check this: open the app from Shopify admin to approve it. Meanwhile, check App embeds in the theme editor yourself."
	default:
		embed.Text = "Open App embeds in the theme editor, switch on Perkbridge loyalty and save, so shoppers see their points and rewards."
	}
	if sh.ThemeEmbedCheckedAt != nil && sh.ThemeEmbed != store.ThemeEmbedEnabled {
		embed.Text += " Last checked " + sh.ThemeEmbedCheckedAt.In(sh.Location()).Format("2 Jan 15:04") + "."
	}
	widget := templates.SetupStep{
		Title:    "See the launcher on your storefront",
		Done:     sh.WidgetSeenAt != nil,
		URL:      "https://" + sh.Domain,
		External: true,
		Testid:   "widget-seen",
		Text:     "Visit your store: the first page that loads the launcher or a rewards block ticks this step.",
	}
	if sh.WidgetSeenAt != nil {
		widget.Text = "A shopper's browser first loaded it on " + sh.WidgetSeenAt.In(sh.Location()).Format("2 January 2006 at 15:04") + "."
	}
	return []templates.SetupStep{embed, widget}
}

// handleStorefrontCheckPage is POST /app/storefront/check: read the
// published theme now (the merchant just turned the embed on) and come
// back to the checklist with the answer.
func (s *server) handleStorefrontCheckPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	if s.loyalty == nil {
		return app.Errorf(app.EINTERNAL, "The storefront check is not available.")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	state, err := s.loyalty.CheckThemeEmbed(ctx, shop.ID, s.now())
	done := "theme-embed-off"
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "checking the theme embed failed", "shop", shop.Domain, "err", err)
		done = "theme-embed-unknown"
	case state == store.ThemeEmbedEnabled:
		done = "theme-embed-enabled"
	case state == store.ThemeEmbedNoAccess:
		done = "theme-embed-no-access"
	}
	return s.pageRedirect(c, routeAppHome, done, nil)
}
