// Package templates holds Perkbridge's templ components and pages. Pages
// take the typed view structs of this file and nothing else: no store, no
// echo.Context, no gorm types, so every page can be rendered and tested from
// plain values. The web package builds the views; URLs in them come from
// echo route names (e.Reverse), never from literals spread across pages.
package templates

import "time"

// External scripts of the embedded admin. App Bridge must be the first
// script in <head>: it self-updates and is never pinned (reference
// shopify.md §3.2); Polaris web components use the stable 1.x channel (§3.3).
const (
	AppBridgeSrc = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
	PolarisSrc   = "https://cdn.shopify.com/shopifycloud/polaris-1.js"
)

// Shell is the frame every admin page is drawn in.
type Shell struct {
	Title      string // page title, without the app name
	APIKey     string // the app's client id, for App Bridge
	ShopDomain string // the authenticated shop
	CSSURL     string // the app's own stylesheet, content-hashed
	Nav        []NavItem
	// Demo is true outside Shopify (demo mode): the CDN scripts are left
	// out, because the demo runs offline and App Bridge would send a
	// top-level page back to the Shopify admin, and the nav is drawn in the
	// page instead of in the admin's chrome.
	Demo bool
}

// NavItem is one entry of the app's navigation (App Bridge's <ui-nav-menu>
// in the admin, a plain list in demo mode).
type NavItem struct {
	Label  string
	Route  string // echo route name; web resolves Href from it
	Href   string
	Home   bool // rel="home": App Bridge's entry for the app name
	Active bool
}

// AppNav returns the navigation of the admin pages, in order. It returns a
// fresh slice so that callers may fill in Href and Active.
func AppNav() []NavItem {
	return []NavItem{
		{Label: "Home", Route: "app.home", Home: true},
		{Label: "Webhooks", Route: "app.webhooks"},
	}
}

// HomeView is the app's home page.
type HomeView struct {
	Shell       Shell
	ShopName    string
	ShopDomain  string
	InstalledAt time.Time
	Customers   int64
	Webhooks    []StatusCount // one per inbox status, in a fixed order
	WebhooksURL string
}

// StatusCount is the number of webhook deliveries in one status.
type StatusCount struct {
	Status string
	Count  int64
	URL    string // the webhooks page filtered to this status
}

// WebhooksView is the list of recent webhook deliveries.
type WebhooksView struct {
	Shell        Shell
	FilterAction string   // GET target of the filter form
	Hidden       []Param  // query parameters the filter form carries (shop, host, embedded)
	Statuses     []string // the choices of the status filter
	Status       string   // current filter
	Topic        string   // current filter
	Rows         []WebhookRow
}

// Param is one query parameter carried through a form.
type Param struct {
	Name, Value string
}

// WebhookRow is one delivery, without its body.
type WebhookRow struct {
	ID         int64
	Topic      string
	Status     string
	Attempts   int
	LastError  string
	ReceivedAt time.Time
	// ReprocessURL is the POST target that puts a failed delivery back in
	// the queue; empty when the delivery cannot be reprocessed.
	ReprocessURL string
}

// BounceView is the page that lets App Bridge fetch a fresh ID token and
// reload the page it was sent from (reference shopify.md §3.4).
type BounceView struct {
	APIKey string
}

// ExitIframeView is the page that leaves the admin iframe for a top-level
// URL through App Bridge (reference shopify.md §3.4, step 3).
type ExitIframeView struct {
	APIKey string
	URL    string // a URL of this app, validated by the handler
}

// LandingView is the page shown outside Shopify to someone who has no
// shop yet.
type LandingView struct {
	CSSURL       string
	InstallURL   string // GET target of the install form (OAuth begin)
	Demo         bool
	DemoLoginURL string // GET target of the demo sign-in form; demo mode only
}

// ErrorView is the HTML error page.
type ErrorView struct {
	CSSURL    string
	Status    int
	Title     string
	Message   string // user-safe
	RequestID string
}
