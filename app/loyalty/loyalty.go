// Package loyalty holds Perkbridge's loyalty use cases: applying orders,
// refunds and cancellations to the points ledger, signup and birthday
// points, redemptions into reward coupons, manual adjustments, VIP tiers,
// expiry and reminders. Each use case is one transaction over the store
// that appends ledger entries, keeps the customer's account (balance, debt,
// tier metrics, tier) in step with them under the account's row lock, and
// writes the loyalty events it causes into loyalty_events.
//
// The maths lives in the pure packages: program (settings), ledger (earning,
// reversals, lots, keys), tier (thresholds, windows, transitions) and event
// (the catalog). This package only reads and writes state around them.
//
// Idempotency: every effect has a natural key (ledger.Key…, unique per shop
// in ledger_entries; refund ids in order_refunds; reminder and nudge keys in
// loyalty_notices; event ids from event.StableID), so a replayed webhook, a
// retried job or two workers racing on the same order change nothing twice.
//
// Locks: an order webhook locks the order row first (the upsert), then the
// customer's account; redemptions, adjustments and periodic jobs lock only
// the account; a merge locks the orders of the merged-away customer, then
// both accounts in row-id order. One order, so no two use cases deadlock.
package loyalty

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// ShopifyClients hands out a shop's GraphQL client; app/tenant.Service
// satisfies it.
type ShopifyClients interface {
	Client(sh *store.Shop) *shopify.Client
}

// JobInserter enqueues River jobs after a transaction committed; a
// *river.Client[pgx.Tx] satisfies it (an insert-only client will do).
type JobInserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// EventsHook runs in the transaction that wrote loyalty events, after they
// were inserted, with their ids: event forwarding routes them there (see
// WithEventsHook). An error rolls the whole change back.
type EventsHook func(ctx context.Context, tx *store.Store, shopID app.ShopID, ids []uuid.UUID) error

// Service runs the loyalty use cases. It implements webhooks.Loyalty.
type Service struct {
	st       *store.Store
	clients  ShopifyClients
	jobs     JobInserter
	log      *slog.Logger
	now      func() time.Time
	onEvents EventsHook
	// afterShopify is the crash seam (WithAfterShopifyCall); nil in
	// production.
	afterShopify func(ctx context.Context, couponID int64) error
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read time from now (tests move it forward).
// Periodic use cases take their time as an argument instead.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// WithEventsHook makes every transaction that writes loyalty events call
// hook with their ids before it commits, so that event forwarding can
// create its deliveries atomically with the change (for example
// app/store.Store.RouteEvents). Without it, loyalty_events rows are the
// hand-off and forwarding finds them by scanning.
func WithEventsHook(hook EventsHook) Option {
	return func(s *Service) { s.onEvents = hook }
}

// WithAfterShopifyCall installs a test seam called when Shopify has
// confirmed a reward's discount code or store credit and before that is
// written down (activateCoupon). An error from hook stops the work there,
// as a crash would: nothing is confirmed, CreateCoupon returns the error,
// and the recovery path (the job's retry, the coupon sweep) must find in
// Shopify what the lost attempt made. Production never sets it.
func WithAfterShopifyCall(hook func(ctx context.Context, couponID int64) error) Option {
	return func(s *Service) { s.afterShopify = hook }
}

// New returns a Service. clients creates reward coupons in Shopify; jobs
// kicks their creation after a redemption commits (when nil, the coupon
// sweep picks them up); both are used outside database transactions only.
func New(st *store.Store, clients ShopifyClients, jobs JobInserter, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{st: st, clients: clients, jobs: jobs, log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// clock returns the current time, truncated to microseconds as PostgreSQL
// stores it, so values read back compare equal.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// GetProgram returns the shop's program settings, or program.Defaults()
// when the merchant never saved any.
func (s *Service) GetProgram(ctx context.Context, shopID app.ShopID) (program.Settings, error) {
	settings, _, err := s.st.ProgramSettings(ctx, shopID)
	if err != nil {
		return program.Settings{}, fmt.Errorf("loyalty: get program: %w", err)
	}
	return settings, nil
}

// SaveProgram validates and stores the shop's program settings. A
// validation failure is a *program.ValidationError (every field problem;
// app.ErrorCode gives EINVALID). New settings apply to what happens next:
// points already credited, lots already opened and tiers already held keep
// their values.
func (s *Service) SaveProgram(ctx context.Context, shopID app.ShopID, settings program.Settings) error {
	if err := settings.Validate(); err != nil {
		return err
	}
	if err := s.st.SaveProgramSettings(ctx, shopID, settings); err != nil {
		return fmt.Errorf("loyalty: save program: %w", err)
	}
	return nil
}

// GuestOrders returns how many orders of the shop arrived without a
// customer on the earning topic (they earn nothing and are counted once).
func (s *Service) GuestOrders(ctx context.Context, shopID app.ShopID) (int64, error) {
	return s.st.GuestOrders(ctx, shopID)
}

// currencyExponent returns the number of minor-unit digits of an ISO 4217
// currency: 2 for most, 0 for currencies without a minor unit, 3 for the
// dinar family. Shopify reports amounts with these exponents.
func currencyExponent(code string) int {
	switch strings.ToUpper(code) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// gidOf returns the canonical GraphQL id of a resource from a payload:
// parsed from its admin_graphql_api_id when present (exact; the numeric id
// of sample payloads went through JavaScript and may be rounded), else
// built from the numeric id; "" when neither is usable.
func gidOf(adminGID, kind string, fallback int64) (string, int64) {
	if k, id, err := shopify.ParseGID(adminGID); err == nil && k == kind {
		return shopify.GID(kind, id), id
	}
	if fallback > 0 {
		return shopify.GID(kind, fallback), fallback
	}
	return "", 0
}

// numericID returns the numeric id inside a GID ("gid://shopify/Order/12"
// → "12"), or "" for "".
func numericID(gid string) string {
	if gid == "" {
		return ""
	}
	if _, id, err := shopify.ParseGID(gid); err == nil {
		return strconv.FormatInt(id, 10)
	}
	return gid
}

// webhookActor is the actor of a change caused by an inbox row, or the
// context's actor when the use case is called directly.
func webhookActor(ctx context.Context, webhookRowID int64) (string, *int64) {
	if webhookRowID == 0 {
		return string(app.ActorFrom(ctx)), nil
	}
	id := webhookRowID
	return "webhook:" + strconv.FormatInt(webhookRowID, 10), &id
}
