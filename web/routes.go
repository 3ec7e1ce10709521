package web

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route names, for e.Reverse. Templates get their URLs from these, never
// from literals.
const (
	routeHealthz             = "health.live"
	routeReadyz              = "health.ready"
	routeMetrics             = "metrics"
	routeStatic              = "static"
	routeWebhooks            = "webhooks.receive"
	routeEntry               = "entry"
	routeAuthBegin           = "auth.begin"
	routeAuthCallback        = "auth.callback"
	routeAuthSessionToken    = "auth.session_token"
	routeAuthExitIframe      = "auth.exit_iframe"
	routeDemoLogin           = "demo.login"
	routeAppHome             = "app.home"
	routeAppWebhooks         = "app.webhooks"
	routeAppWebhookReprocess = "app.webhooks.reprocess"
	routeAPIPreflight        = "api.preflight"
	routeAPIIntegrations     = "api.integrations.list"
	routeAPICustomer         = "api.customers.show"
	routeAPIWebhooks         = "api.webhooks.list"
	routeAPIWebhookReprocess = "api.webhooks.reprocess"
	routeAPIDataRequests     = "api.data_requests.list"
	routeProxyPing           = "proxy.ping"
)

// apiBodyLimit caps request bodies of the admin pages and the JSON API.
// POST /webhooks has no such limit here: its handler enforces its own cap.
const apiBodyLimit = "1M"

// addRoutes lists everything the app serves. Authentication per group:
//   - none: health, metrics, static files, the OAuth begin and bounce pages;
//   - Shopify's HMAC, checked by the handler: POST /webhooks, /auth/callback
//     (plus the signed state cookie);
//   - ID token (App Bridge), or the demo cookie in demo mode: /app, /api/v1;
//   - app-proxy signature: /proxy.
func addRoutes(e *echo.Echo, s *server) {
	e.GET("/healthz", s.handleHealthz).Name = routeHealthz
	e.GET("/readyz", s.handleReadyz).Name = routeReadyz
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))).Name = routeMetrics
	e.GET("/static/*", s.handleStatic).Name = routeStatic

	// Shopify webhooks, every topic: mounted bare, see Deps.WebhookHandler.
	e.POST("/webhooks", s.webhook).Name = routeWebhooks

	// Embedded entry and installation.
	e.GET("/", s.handleEntry).Name = routeEntry
	e.GET("/auth", s.handleAuthBegin).Name = routeAuthBegin
	e.GET("/auth/callback", s.handleAuthCallback).Name = routeAuthCallback
	e.GET("/auth/session-token", s.handleAuthSessionToken).Name = routeAuthSessionToken
	e.GET("/auth/exit-iframe", s.handleAuthExitIframe).Name = routeAuthExitIframe
	if s.cfg.Demo {
		// Demo mode only: the route does not exist otherwise.
		e.GET("/demo/login", s.handleDemoLogin).Name = routeDemoLogin
	}

	// Admin pages.
	pages := e.Group("/app", middleware.BodyLimit(apiBodyLimit), s.requireSession(pageSession))
	pages.GET("", s.handleHome).Name = routeAppHome
	pages.GET("/webhooks", s.handleWebhooksPage).Name = routeAppWebhooks
	pages.POST("/webhooks/:id/reprocess", s.handleWebhookReprocessPage).Name = routeAppWebhookReprocess

	// JSON admin API. Preflights are answered before authentication, as
	// they never carry the Authorization header.
	e.OPTIONS("/api/v1/*", s.handlePreflight).Name = routeAPIPreflight
	api := e.Group("/api/v1", middleware.BodyLimit(apiBodyLimit), s.requireSession(apiSession))
	api.GET("/integrations", s.handleIntegrationsList).Name = routeAPIIntegrations
	api.GET("/customers/:shopify_customer_id", s.handleCustomerShow).Name = routeAPICustomer
	api.GET("/webhooks", s.handleWebhooksList).Name = routeAPIWebhooks
	api.POST("/webhooks/:id/reprocess", s.handleWebhookReprocess).Name = routeAPIWebhookReprocess
	api.GET("/data_requests", s.handleDataRequestsList).Name = routeAPIDataRequests

	// App proxy (storefront).
	proxy := e.Group("/proxy", s.verifyProxy)
	proxy.GET("/ping", s.handleProxyPing).Name = routeProxyPing
}
