package web

// Route names of the JSON admin API's integrations, events, deliveries,
// stats, program and customer actions (routes.go mounts them in the
// /api/v1 group), kept here beside their handlers so the admin pages'
// names in routes.go stay uncontended.
const (
	routeAPIIntegrationShow       = "api.integrations.show"
	routeAPIIntegrationConnect    = "api.integrations.connect"
	routeAPIIntegrationDisconnect = "api.integrations.disconnect"
	routeAPIEvents                = "api.events.list"
	routeAPIEventCreate           = "api.events.create"
	routeAPIEventUpdate           = "api.events.update"
	routeAPIEventDelete           = "api.events.delete"
	routeAPIEventTest             = "api.events.test"
	routeAPIStats                 = "api.stats.show"
	routeAPIDeliveries            = "api.deliveries.list"
	routeAPIDeliveryRetry         = "api.deliveries.retry"
	routeAPIDeliveriesRetryAll    = "api.deliveries.retry_all"
	routeAPIProgram               = "api.program.show"
	routeAPIProgramSave           = "api.program.save"
	routeAPICustomerPoints        = "api.customers.points"
	routeAPICustomerRedeem        = "api.customers.redeem"
	routeAPICustomerRedemptions   = "api.customers.redemptions.list"
	routeAPICustomerCancel        = "api.customers.redemptions.cancel"
	// The admin customer page's cancel button posts here.
	routeAppCustomerCancel = "app.customers.redemptions.cancel"
)
