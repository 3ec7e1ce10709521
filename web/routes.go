package web

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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
	routeDemoSinks           = "demo.sinks"
	routeProxyMember         = "proxy.api.member"
	routeProxyBirthday       = "proxy.api.birthday"
	routeAppCustomerBirthday = "app.customers.birthday"
	routeAPICustomerBirthday = "api.customers.birthday"
	routeProxyRewards        = "proxy.api.rewards"
	routeProxyRedeem         = "proxy.api.redeem"
	routeProxyRedemptions    = "proxy.api.redemptions"
	routeProxyRedemption     = "proxy.api.redemption"
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
	routeProxyReferral       = "proxy.referral.show"
	routeProxyReferralSubmit = "proxy.referral.submit"
	routeProxyReviews        = "proxy.reviews"
	routeProxyReviewSubmit   = "proxy.reviews.submit"
)

// apiBodyLimit caps request bodies of the admin pages and the JSON API.
// POST /webhooks has no such limit here: its handler enforces its own cap.
const apiBodyLimit = "1M"

// addRoutes lists everything the app serves. Authentication per group:
//   - none: health, metrics, static files, the OAuth begin and bounce pages;
//   - Shopify's HMAC, checked by the handler: POST /webhooks, /auth/callback
//     (plus the signed state cookie);
//   - ID token (App Bridge), or the demo cookie in demo mode: /app, /api/v1;
//   - app-proxy signature: /proxy;
//   - customer account session token (the customer account extension):
//     /account/api/v1, the storefront JSON API's second door.
func addRoutes(e *echo.Echo, s *server) {
	e.GET("/healthz", s.handleHealthz).Name = routeHealthz
	e.GET("/readyz", s.handleReadyz).Name = routeReadyz
	e.GET("/metrics", s.handleMetrics).Name = routeMetrics
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
		if s.demoSinks != nil {
			e.GET("/demo/sinks/:kind", s.handleDemoSinks).Name = routeDemoSinks
		}
	}

	// Admin pages.
	pages := e.Group("/app", middleware.BodyLimit(apiBodyLimit), s.requireSession(pageSession))
	pages.GET("", s.handleHome).Name = routeAppHome
	pages.GET("/webhooks", s.handleWebhooksPage).Name = routeAppWebhooks
	pages.POST("/webhooks/:id/reprocess", s.handleWebhookReprocessPage).Name = routeAppWebhookReprocess
	pages.GET("/integrations", s.handleIntegrationsPage).Name = routeAppIntegrations
	pages.POST("/integrations/:kind", s.handleIntegrationConnectPage).Name = routeAppIntegrationConnect
	pages.POST("/integrations/:kind/disconnect", s.handleIntegrationDisconnectPage).Name = routeAppIntegrationDisconnect
	pages.GET("/events", s.handleEventsPage).Name = routeAppEvents
	pages.POST("/events", s.handleEventCreatePage).Name = routeAppEventCreate
	pages.GET("/events/preview", s.handleEventPreviewPage).Name = routeAppEventPreview
	pages.POST("/events/:kind/:id/toggle", s.handleEventTogglePage).Name = routeAppEventToggle
	pages.POST("/events/:kind/:id/test", s.handleEventTestPage).Name = routeAppEventTest
	pages.POST("/events/:kind/:id/delete", s.handleEventDeletePage).Name = routeAppEventDelete
	pages.GET("/stats", s.handleStatsPage).Name = routeAppStats
	pages.GET("/deliveries", s.handleDeliveriesPage).Name = routeAppDeliveries
	pages.POST("/deliveries/retry", s.handleDeliveriesRetryAllPage).Name = routeAppDeliveriesRetryAll
	pages.POST("/deliveries/:id/retry", s.handleDeliveryRetryPage).Name = routeAppDeliveryRetry
	pages.GET("/program", s.handleProgramPage).Name = routeAppProgram
	pages.POST("/program", s.handleProgramSavePage).Name = routeAppProgramSave
	pages.GET("/customers", s.handleCustomersPage).Name = routeAppCustomers
	pages.GET("/customers/:id", s.handleCustomerPage).Name = routeAppCustomer
	pages.POST("/customers/:id/points", s.handleCustomerAdjustPage).Name = routeAppCustomerAdjust
	pages.POST("/customers/:id/birthday", s.handleCustomerBirthdayPage).Name = routeAppCustomerBirthday
	pages.POST("/customers/:id/redemptions/:redemption_id/cancel", s.handleCustomerCancelPage).Name = routeAppCustomerCancel
	pages.GET("/referrals", s.handleReferralsPage).Name = routeAppReferrals
	pages.POST("/referrals/:id/approve", s.handleReferralApprovePage).Name = routeAppReferralApprove
	pages.POST("/storefront/check", s.handleStorefrontCheckPage).Name = routeAppStorefrontCheck

	// JSON admin API. Preflights are answered before authentication, as
	// they never carry the Authorization header.
	e.OPTIONS("/api/v1/*", s.handlePreflight).Name = routeAPIPreflight
	// apiErrors, innermost, adds every field problem to the API's 422s.
	api := e.Group("/api/v1", middleware.BodyLimit(apiBodyLimit), s.requireSession(apiSession), s.apiErrors)
	api.GET("/integrations", s.handleIntegrationsList).Name = routeAPIIntegrations
	api.GET("/integrations/:kind", s.handleIntegrationShow).Name = routeAPIIntegrationShow
	api.PUT("/integrations/:kind", s.handleIntegrationConnect).Name = routeAPIIntegrationConnect
	api.DELETE("/integrations/:kind", s.handleIntegrationDisconnect).Name = routeAPIIntegrationDisconnect
	api.GET("/integrations/:kind/events", s.handleEventsList).Name = routeAPIEvents
	api.POST("/integrations/:kind/events", s.handleEventCreate).Name = routeAPIEventCreate
	api.PATCH("/integrations/:kind/events/:id", s.handleEventUpdate).Name = routeAPIEventUpdate
	api.DELETE("/integrations/:kind/events/:id", s.handleEventDelete).Name = routeAPIEventDelete
	api.POST("/integrations/:kind/events/:id/test", s.handleEventTest).Name = routeAPIEventTest
	api.GET("/stats", s.handleStatsShow).Name = routeAPIStats
	api.GET("/deliveries", s.handleDeliveriesList).Name = routeAPIDeliveries
	api.POST("/deliveries/retry", s.handleDeliveriesRetryAll).Name = routeAPIDeliveriesRetryAll
	api.POST("/deliveries/:id/retry", s.handleDeliveryRetry).Name = routeAPIDeliveryRetry
	api.GET("/program", s.handleProgramShow).Name = routeAPIProgram
	api.PUT("/program", s.handleProgramSave).Name = routeAPIProgramSave
	api.GET("/customers/:shopify_customer_id", s.handleCustomerShow).Name = routeAPICustomer
	api.POST("/customers/:shopify_customer_id/points", s.handleCustomerPoints).Name = routeAPICustomerPoints
	api.POST("/customers/:shopify_customer_id/redeem", s.handleCustomerRedeem).Name = routeAPICustomerRedeem
	api.PUT("/customers/:shopify_customer_id/birthday", s.handleCustomerBirthday).Name = routeAPICustomerBirthday
	api.GET("/customers/:shopify_customer_id/redemptions", s.handleCustomerRedemptions).Name = routeAPICustomerRedemptions
	api.POST("/customers/:shopify_customer_id/redemptions/:redemption_id/cancel", s.handleCustomerCancelRedemption).Name = routeAPICustomerCancel
	api.GET("/referrals", s.handleReferralsList).Name = routeAPIReferrals
	api.POST("/referrals/:id/approve", s.handleReferralApprove).Name = routeAPIReferralApprove
	api.GET("/webhooks", s.handleWebhooksList).Name = routeAPIWebhooks
	api.POST("/webhooks/:id/reprocess", s.handleWebhookReprocess).Name = routeAPIWebhookReprocess
	api.GET("/data_requests", s.handleDataRequestsList).Name = routeAPIDataRequests

	// App proxy (storefront).
	proxy := e.Group("/proxy", s.verifyProxy)
	proxy.GET("/ping", s.handleProxyPing).Name = routeProxyPing
	proxy.GET("/r/:code", s.handleReferralShow).Name = routeProxyReferral
	proxy.POST("/r/:code", s.handleReferralSubmit, middleware.BodyLimit(referralBodyLimit)).Name = routeProxyReferralSubmit
	proxy.GET("/reviews", s.handleProxyReviews).Name = routeProxyReviews
	proxy.POST("/reviews", s.handleProxyReviewSubmit, middleware.BodyLimit(reviewBodyLimit)).Name = routeProxyReviewSubmit
	// Storefront JSON API (DESIGN.md §6).
	papi := proxy.Group("/api/v1", noStore, middleware.BodyLimit(proxyAPIBodyLimit))
	papi.GET("/member", s.handleProxyMember).Name = routeProxyMember
	papi.GET("/rewards", s.handleProxyRewards).Name = routeProxyRewards
	papi.POST("/redemptions", s.handleProxyRedeem).Name = routeProxyRedeem
	papi.GET("/redemptions", s.handleProxyRedemptions).Name = routeProxyRedemptions
	papi.PUT("/birthday", s.handleProxyBirthday).Name = routeProxyBirthday
	papi.GET("/redemptions/:id", s.handleProxyRedemption).Name = routeProxyRedemption
	papi.GET("/activity", s.handleProxyActivity).Name = routeProxyActivity
	papi.POST("/referrals", s.handleProxyRefer).Name = routeProxyRefer

	// The same storefront JSON API for the customer account extension
	// (account.go): the same handlers behind the session-token door.
	// Preflights are answered before authentication.
	e.OPTIONS("/account/api/v1/*", s.handleAccountPreflight).Name = routeAccountPreflight
	aapi := e.Group("/account/api/v1", accountCORS, noStore, middleware.BodyLimit(proxyAPIBodyLimit), s.verifyAccountToken)
	aapi.GET("/member", s.handleProxyMember).Name = routeAccountMember
	aapi.GET("/rewards", s.handleProxyRewards).Name = routeAccountRewards
	aapi.POST("/redemptions", s.handleProxyRedeem).Name = routeAccountRedeem
	aapi.GET("/redemptions", s.handleProxyRedemptions).Name = routeAccountRedemptions
	aapi.GET("/redemptions/:id", s.handleProxyRedemption).Name = routeAccountRedemption
	aapi.PUT("/birthday", s.handleProxyBirthday).Name = routeAccountBirthday
	aapi.GET("/activity", s.handleProxyActivity).Name = routeAccountActivity
	aapi.POST("/referrals", s.handleProxyRefer).Name = routeAccountRefer
	aapi.GET("/orders/:order_id", s.handleAccountOrder).Name = routeAccountOrder
}
