package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// webhookStatuses are the inbox statuses in the order pages show them.
var webhookStatuses = []string{store.WebhookPending, store.WebhookProcessed, store.WebhookFailed, store.WebhookIgnored}

// handleHome shows the shop, since when it has the app, and counts of its
// customers and webhook deliveries.
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
	webhooksURL := s.e.Reverse(routeAppWebhooks)
	v := templates.HomeView{
		Shell:       s.shell(c, "Home", routeAppHome),
		ShopName:    sh.Name,
		ShopDomain:  sh.Domain,
		InstalledAt: sh.InstalledAt,
		Customers:   customers,
		WebhooksURL: s.appLink(c, webhooksURL, nil),
	}
	for _, st := range webhookStatuses {
		v.Webhooks = append(v.Webhooks, templates.StatusCount{
			Status: st,
			Count:  byStatus[st],
			URL:    s.appLink(c, webhooksURL, url.Values{"status": {st}}),
		})
	}
	return render(c, http.StatusOK, templates.HomePage(v))
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
		Nav:        nav,
		Demo:       s.cfg.Demo,
	}
}
