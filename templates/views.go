// Package templates holds Perkbridge's templ components and pages. Pages
// take the typed view structs of this file and nothing else: no store, no
// echo.Context, no gorm types, so every page can be rendered and tested from
// plain values. The web package builds the views; URLs in them come from
// echo route names (e.Reverse), never from literals spread across pages.
package templates

import (
	"strconv"
	"time"
)

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
	JSURL      string // the app's own script (progressive enhancement), content-hashed
	Nav        []NavItem
	// Flash is a one-line outcome of the last action (Post/Redirect/Get),
	// shown at the top of the page; empty for none.
	Flash Flash
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
		{Label: "Integrations", Route: "app.integrations.list"},
		{Label: "Events", Route: "app.events.list"},
		{Label: "Statistics", Route: "app.stats.show"},
		{Label: "Delivery log", Route: "app.deliveries.list"},
		{Label: "Program", Route: "app.program.edit"},
		{Label: "Customers", Route: "app.customers.list"},
		{Label: "Webhooks", Route: "app.webhooks"},
		{Label: "Referrals", Route: "app.referrals.list"},
	}
}

// HomeView is the app's home page: the program at a glance, what was sent
// lately and what needs the merchant's attention.
type HomeView struct {
	Shell       Shell
	ShopName    string
	ShopDomain  string
	InstalledAt time.Time
	Webhooks    []StatusCount // one per inbox status, in a fixed order
	WebhooksURL string
	Program     ProgramTotals
	// Sent charts the deliveries sent (and marked late) per day of the last
	// seven, one series per integration.
	Sent      Chart
	SentTotal int64
	StatsURL  string
	// Attention lists what the merchant should act on: paused or failed
	// integrations, failed deliveries. Empty when all is well.
	Attention []AttentionItem
	// Steps is the getting-started checklist; nil once every step is done.
	Steps []SetupStep
	// Sandbox links the demo's sink inspectors; nil outside the demo.
	Sandbox []DemoLink
	// MaintenanceAt is when the periodic loyalty work (expiry, reminders,
	// birthdays, nudges, tier review, review requests) last completed;
	// nil before its first run.
	MaintenanceAt *time.Time
}

// ProgramTotals are the points of the whole program. Points are whole
// numbers: Issued counts every credit (earned, signup, birthday, review,
// referral and positive manual adjustments), Redeemed, Expired and
// Reversed the debits of that kind, Outstanding the sum of all balances.
type ProgramTotals struct {
	Members      int64
	Issued       int64
	Redeemed     int64
	Expired      int64
	Reversed     int64
	Outstanding  int64
	CustomersURL string
}

// AttentionItem is one thing on the home page that needs the merchant.
type AttentionItem struct {
	Tone      string // critical or attention
	Title     string
	Text      string
	URL       string
	LinkLabel string
}

// SetupStep is one step of the getting-started checklist.
type SetupStep struct {
	Title string
	Text  string
	Done  bool
	URL   string
	// External opens URL in the whole admin window, not the app's frame
	// (Shopify's theme editor).
	External bool
	// CheckURL, when set, posts a "Check again" for a step the app
	// verifies by reading the shop (the theme's app embed).
	CheckURL string
	// Testid names the step for tests.
	Testid string
}

// Flash is the outcome of the last action, shown once at the top of a page.
type Flash struct {
	Tone      string // success or critical
	Text      string
	URL       string // optional next step
	LinkLabel string
}

// FieldErrors are the problems of a submitted form, keyed by the input's
// name (JSON paths such as "tiers.levels[1].threshold"); the key "" holds
// a problem of the form as a whole.
type FieldErrors map[string]string

// Get returns the problem of field, or "".
func (e FieldErrors) Get(field string) string { return e[field] }

// Option is one choice of a select or a group of checkboxes.
type Option struct {
	Value string
	Label string
	Hint  string // a one-line description, when the choice needs one
}

// Chart is a stacked bar chart drawn on the server as SVG: one bar per
// bucket, one stacked segment per series. The page also carries the same
// numbers as a table, for screen readers and for reading exact values.
type Chart struct {
	ID      string // unique within the page; prefixes the element ids
	Title   string
	Summary string // one sentence that says what the chart shows, for aria-label
	Series  []ChartSeries
	Buckets []ChartBucket
	// BucketHeader names the bucket column of the data table ("Day", "Hour").
	BucketHeader string
}

// ChartSeries is one stacked series; Key picks its colour (chart-<key>).
type ChartSeries struct {
	Key   string
	Label string
}

// ChartBucket is one bar: a value per series, in the order of Chart.Series.
type ChartBucket struct {
	Label  string // short axis label, e.g. "Mon 3"
	Full   string // the bucket spelled out, e.g. "Monday 3 November 2026"
	Values []int64
}

// IntegrationsView is the integrations page: one card per sink.
type IntegrationsView struct {
	Shell     Shell
	CleverTap CleverTapCard
	Klaviyo   KlaviyoCard
	EventsURL string
}

// IntegrationState is what a card shows about an integration's state.
type IntegrationState struct {
	Kind   string // clevertap or klaviyo
	Label  string // CleverTap, Klaviyo
	Status string // not_connected, initializing, active, paused
	// Reason is why the integration is paused or failed to initialize, in
	// the sink's words; empty when all is well.
	Reason          string
	CredentialsHint string // the stored secret, masked
	ValidatedAt     *time.Time
	// Account describes what is connected, e.g. "project W84-RZR-RZ7Z in India (in1)".
	Account string
	// DisconnectURL is the POST target that disconnects; empty when there
	// is nothing to disconnect.
	DisconnectURL string
}

// CommonPropertyChoices are the choices of the common property select.
func CommonPropertyChoices() []Option {
	return []Option{
		{Value: "email", Label: "Email address"},
		{Value: "phone", Label: "Phone number (E.164)"},
		{Value: "customer_id", Label: "Shopify customer ID"},
		{Value: "metafield", Label: "Customer metafield"},
	}
}

// CleverTapCard is the CleverTap card: its state and its set-up form.
type CleverTapCard struct {
	State IntegrationState
	Form  CleverTapForm
}

// CleverTapForm is CleverTap's set-up, in Nector's order: common property,
// Account ID, Passcode, server prefix.
type CleverTapForm struct {
	Action         string
	CommonProperty string // email, phone, customer_id or metafield
	Metafield      string // namespace.key, for metafield
	AccountID      string
	Region         string
	Regions        []Option
	// PasscodeHint is the stored passcode, masked; the passcode itself is
	// never rendered back.
	PasscodeHint string
	// PhoneFallback sends customers without the common property by phone.
	PhoneFallback bool
	// FallbackSent counts the events sent by phone in the last 30 days.
	FallbackSent int64
	Errors       FieldErrors
}

// KlaviyoCard is the Klaviyo card: its state and its set-up form.
type KlaviyoCard struct {
	State IntegrationState
	Form  KlaviyoForm
}

// KlaviyoForm is Klaviyo's set-up: common property and private API key.
type KlaviyoForm struct {
	Action         string
	CommonProperty string
	Metafield      string
	KeyHint        string // the stored key, masked
	// PhoneFallback sends customers without the common property by
	// phone_number; SendPhone lets the phone ride along on events.
	PhoneFallback bool
	SendPhone     bool
	// FallbackSent counts the events sent by phone in the last 30 days.
	FallbackSent int64
	Errors       FieldErrors
}

// EventsView is the events page: "Create Event" and the events each
// integration receives.
type EventsView struct {
	Shell Shell
	// IntegrationsURL is where to connect a sink when none is connected.
	IntegrationsURL string
	Create          EventCreateForm
	Preview         EventPreview
	Lists           []EventList
}

// EventCreateForm creates an event definition.
type EventCreateForm struct {
	Action string
	// PreviewURL answers the preview fragment for ?integration=&event=;
	// the page's script fetches it when the choice changes.
	PreviewURL   string
	Hidden       []Param  // carried through the GET "Show preview" submission
	Integrations []Option // connected integrations only
	Events       []EventOption
	Channels     []Option
	Integration  string
	Event        string
	Selected     []string // channels
	Name         string
	Errors       FieldErrors
}

// EventOption is a catalog event in the picker.
type EventOption struct {
	Key          string
	Description  string
	OrderDerived bool // has a sales channel
}

// EventPreview is a sample of what the sink receives for an event.
type EventPreview struct {
	Integration      string
	IntegrationLabel string
	Event            string
	Description      string
	Format           string // what Body is, e.g. "Klaviyo Create Event (JSON:API)"
	Body             string // indented JSON
	Note             string
}

// EventList is the events one integration receives.
type EventList struct {
	Kind   string
	Label  string
	Status string
	Rows   []EventRow
}

// EventRow is one event definition.
type EventRow struct {
	ID          int64
	Event       string
	Name        string // the name sent to the sink
	Description string
	Channels    []string // labels; empty means every channel
	Enabled     bool
	ToggleURL   string // POST; the form carries the new state
	DeleteURL   string // POST
	StatsURL    string
	LogURL      string
	TestURL     string // POST customer_id: send a test of this event
}

// StatsView is the event statistics page.
type StatsView struct {
	Shell      Shell
	Filter     StatsFilter
	RangeLabel string // e.g. "Last 7 days, by day (Europe/Berlin)"
	Totals     []StatCell
	Chart      Chart
	Rows       []StatsRow
}

// StatsFilter is the statistics filter form (GET).
type StatsFilter struct {
	Action       string
	Hidden       []Param
	Range        string // 24h, 7d, 30d or custom
	Ranges       []Option
	From, To     string // yyyy-mm-dd, custom range
	Integration  string
	Integrations []Option
	Event        string
	Events       []Option
	Errors       FieldErrors
}

// StatCell is the count of one status, linking to the matching deliveries.
type StatCell struct {
	Status string
	Count  int64
	URL    string
}

// StatsRow is the counts of one event to one integration.
type StatsRow struct {
	Integration      string
	IntegrationLabel string
	Event            string
	Cells            []StatCell // one per status, in DeliveryStatuses order
	Total            int64
}

// DeliveryStatuses are the delivery statuses in the order pages show them
// (DESIGN.md §5).
func DeliveryStatuses() []string {
	return []string{"sent", "late", "unconfirmed", "pending", "failed", "skipped"}
}

// DeliveriesView is the delivery log.
type DeliveriesView struct {
	Shell  Shell
	Filter DeliveryFilter
	Rows   []DeliveryRow
	// RetryAllURL retries every failed and skipped delivery matching the
	// filter (its query carries the filter); empty when none can match.
	RetryAllURL   string
	RetryAllLabel string // e.g. "Retry all failed"
	OlderURL      string // the next page, older deliveries; empty on the last
	Errors        FieldErrors
}

// DeliveryFilter is the delivery log's filter form (GET).
type DeliveryFilter struct {
	Action       string
	ClearURL     string // the log without filters
	Hidden       []Param
	Status       string
	Statuses     []string
	Event        string
	Events       []Option
	Integration  string
	Integrations []Option
	Customer     string
	From, To     string // yyyy-mm-dd
}

// DeliveryRow is one delivery with the sink's answer.
type DeliveryRow struct {
	ID               int64
	Event            string
	IntegrationLabel string
	CustomerID       string
	CustomerURL      string
	Status           string
	Attempts         int
	StatusCode       string // the sink's last HTTP status, "" when none
	Response         string // the sink's answer, excerpt
	Error            string // what went wrong, or why it was skipped
	// Explanation says in plain words what the status means for this row.
	Explanation        string
	PossiblyDuplicated bool
	CreatedAt          time.Time
	SentAt             *time.Time
	NextAttemptAt      *time.Time
	RetryURL           string // POST; empty when the delivery cannot be retried
	// Payload is the document sent (indented JSON) for a delivery the
	// sink did not confirm, or a test; a retry sends it again.
	Payload string
	// Test: a test the merchant sent (not in the statistics).
	Test bool
}

// ProgramView is the program settings form.
type ProgramView struct {
	Shell    Shell
	Action   string
	Currency string
	Form     ProgramForm
	Errors   FieldErrors
	// Problems lists the errors in form order, for the summary at the top.
	Problems []Problem
}

// Problem is one invalid field, for an error summary that links to it.
type Problem struct {
	Field   string
	Label   string // the input's label, e.g. "Reward 2: points"
	Message string
}

// ProgramForm holds the program's values as the merchant typed them, so
// an invalid submission is shown back unchanged. Input names are the JSON
// paths of program.Settings; amounts of money are in major units of the
// shop currency.
type ProgramForm struct {
	PointsPerCurrencyUnit string
	EarnOn                string
	MinimumOrder          string
	IncludeShipping       bool
	IncludeTax            bool
	CountTestOrders       bool
	WelcomeExisting       bool
	ReturnExpiredRewards  bool
	SignupPoints          string
	BirthdayPoints        string
	ReviewPoints          string
	ReviewRequestDays     string
	PendingDays           string
	GuestPointsDays       string
	RetentionDays         string
	ExpiryMonths          string
	ReminderDays          string // "30, 7, 1"
	NudgeEnabled          bool
	NudgeThreshold        string
	NudgeAfterDays        string
	Rewards               []RewardForm // the last one is blank, for adding
	ReferralEnabled       bool
	ReferrerPoints        string
	FriendDiscountType    string
	FriendDiscountValue   string
	TiersEnabled          bool
	TierMetric            string
	TierWindow            string
	TierWindowMonths      string
	TierDowngrade         string
	Tiers                 []TierForm // the last one is blank, for adding
}

// RewardForm is one reward row.
type RewardForm struct {
	ID               string
	Name             string
	PointsCost       string
	DiscountType     string
	Value            string
	MinSubtotal      string
	ExpiresAfterDays string
}

// TierForm is one VIP tier row.
type TierForm struct {
	Key        string
	Name       string
	Threshold  string
	Multiplier string
}

// CustomersView is the customer search.
type CustomersView struct {
	Shell    Shell
	Action   string
	Hidden   []Param
	Query    string
	Searched bool
	Rows     []CustomerRow
	Errors   FieldErrors
}

// CustomerRow is one customer in the search results.
type CustomerRow struct {
	ShopifyID string
	Name      string
	Email     string
	Phone     string
	URL       string
}

// CustomerDetailView is one customer's loyalty position and history.
type CustomerDetailView struct {
	Shell            Shell
	BackURL          string
	ShopifyID        string
	Name             string
	Email            string
	Phone            string
	Balance          int64
	Spendable        int64
	Pending          int64
	Debt             int64
	Lifetime         int64
	Tier             string
	TierSince        *time.Time
	TierExpiresAt    *time.Time
	NextTier         string
	ToNextTier       string // formatted gap to the next tier, e.g. "USD 125.00" or "300 points"
	NextExpiryAt     *time.Time
	NextExpiryPoints int64
	Lots             []LotRow
	Ledger           []LedgerRow
	Events           []CustomerEvent
	DeliveriesURL    string
	Adjust           AdjustForm
	// ReferralURL is the member's refer-a-friend link.
	ReferralURL string
	Birthday    BirthdayForm
	// Redemptions are the rewards the customer bought, newest first.
	Redemptions []RedemptionRow
	// RedemptionError is why the last cancellation was refused, if it was.
	RedemptionError string
}

// RedemptionRow is one reward a customer bought: a discount code or store
// credit.
type RedemptionRow struct {
	ID          string
	Reward      string
	StoreCredit bool
	Code        string // the discount code; "" for store credit
	Value       string // "10% off", "USD 5.00 off", "USD 5.00 store credit"
	Points      int64
	Status      string // pending, active, failed, expired, cancelled
	Used        bool   // used on an order
	Detail      string // why it failed, when it did
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	// CancelURL is where the cancel form posts; "" when it cannot be
	// cancelled (used, not active, store credit).
	CancelURL string
}

// BirthdayForm sets a customer's birthday from their page.
type BirthdayForm struct {
	Action string
	// Current is the birthday the program uses, e.g. "4 May", and Source
	// where it comes from; both empty when none is known.
	Current, Source string
	Month, Day      string
	Errors          FieldErrors
}

// MonthOption is one choice of a month select.
type MonthOption struct {
	Value, Label string
}

// Months are the choices of a birthday's month.
func Months() []MonthOption {
	out := make([]MonthOption, 12)
	for i := range out {
		out[i] = MonthOption{Value: strconv.Itoa(i + 1), Label: time.Month(i + 1).String()}
	}
	return out
}

// LotRow is one credited lot of points.
type LotRow struct {
	Points      int64
	Remaining   int64
	CreatedAt   time.Time
	AvailableAt *time.Time
	ExpiresAt   *time.Time
	State       string // open, pending, spent, expired
}

// LedgerRow is one ledger entry.
type LedgerRow struct {
	CreatedAt time.Time
	Kind      string
	Reason    string
	Points    int64
	OrderID   string
	Actor     string
}

// CustomerEvent is one loyalty event of the customer and its deliveries.
type CustomerEvent struct {
	ID         string
	Event      string
	OccurredAt time.Time
	Summary    string // the event's main fields, e.g. "points 404 · reason order"
	Deliveries []DeliveryBrief
}

// DeliveryBrief is one delivery of an event, in short.
type DeliveryBrief struct {
	IntegrationLabel string
	Status           string
	Attempts         int
	Detail           string // status code and error, when any
	URL              string
}

// AdjustForm is the manual points adjustment.
type AdjustForm struct {
	Action string
	Points string
	Reason string
	// Key is the idempotency key of this form: submitting it twice adjusts
	// once.
	Key    string
	Errors FieldErrors
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

// DemoSinksView is the demo's sandbox inspector for one sink.
type DemoSinksView struct {
	Title    string // "Klaviyo" or "CleverTap"
	Account  string // the sandbox account, e.g. the CleverTap account id
	Nav      []DemoLink
	Events   int64
	Profiles int64
	Records  []SinkRecord // newest first
	Refresh  bool
}

// DemoLink is a link of the demo's pages.
type DemoLink struct {
	Label, URL string
	Active     bool
}

// SinkRecord is one thing a sandbox sink received: an event, or a profile
// update, with the identity it was keyed on and its properties.
type SinkRecord struct {
	At         time.Time   `json:"at"`
	Kind       string      `json:"kind"` // "event" or "profile"
	Name       string      `json:"name"` // the metric or event name; "profile" for profile updates
	Identity   string      `json:"identity"`
	Properties []SinkField `json:"properties"`
}

// SinkField is one property of a SinkRecord, its value as text.
type SinkField struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DoneAttr is Done as an attribute value ("true" or "false").
func (s SetupStep) DoneAttr() string {
	if s.Done {
		return "true"
	}
	return "false"
}
