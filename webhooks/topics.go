package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Loyalty is what the topic handlers need from the loyalty engine. Every
// method runs inside tx, the transaction that also marks the webhook
// processed, so an effect and its inbox status commit together.
type Loyalty interface {
	// Order applies an order topic (orders/create, orders/paid,
	// orders/fulfilled, orders/cancelled, orders/updated).
	Order(ctx context.Context, tx *store.Store, shop *store.Shop, topic string, o *shopify.Order, webhookRowID int64) error
	// Refund applies refunds/create.
	Refund(ctx context.Context, tx *store.Store, shop *store.Shop, r *shopify.Refund, webhookRowID int64) error
	// OrderEdited applies orders/edited (the body is an order edit, not an
	// order).
	OrderEdited(ctx context.Context, tx *store.Store, shop *store.Shop, e *shopify.OrderEdit, webhookRowID int64) error
	// CustomerUpserted runs after customers/create or customers/update
	// stored the identity (signup points for a new member, and so on).
	CustomerUpserted(ctx context.Context, tx *store.Store, shop *store.Shop, c *store.Customer, created bool, webhookRowID int64) error
	// CustomersMerged applies a successful customers/merge.
	CustomersMerged(ctx context.Context, tx *store.Store, shop *store.Shop, keptShopifyID, deletedShopifyID int64, webhookRowID int64) error
	// ExportCustomer returns the loyalty data held about a customer, for
	// customers/data_request.
	ExportCustomer(ctx context.Context, tx *store.Store, shop *store.Shop, shopifyCustomerID int64) (map[string]any, error)
}

// Processor dispatches stored webhooks to their topic handlers.
type Processor struct {
	loyalty Loyalty
	log     *slog.Logger
}

// NewProcessor returns a Processor.
func NewProcessor(l Loyalty, log *slog.Logger) *Processor {
	return &Processor{loyalty: l, log: log}
}

// Dispatch applies one stored webhook inside tx. It is a worker.Dispatcher.
func (p *Processor) Dispatch(ctx context.Context, tx *store.Store, wh *store.Webhook) (*int64, error) {
	if wh.ShopID == nil || *wh.ShopID == 0 {
		// Only compliance topics reach here without a shop row (the inbox
		// ignores everything else for unknown shops, stored with shop id 0).
		if wh.Topic == "shop/redact" {
			if err := tx.DeleteShopWebhooks(ctx, wh.ShopDomain); err != nil {
				return nil, err
			}
			return nil, nil
		}
		return nil, job.Ignore("unknown shop: no data is stored for " + wh.ShopDomain)
	}
	shop, err := tx.Shop(ctx, *wh.ShopID)
	if err != nil {
		return nil, err
	}
	switch wh.Topic {
	case "app/uninstalled":
		return nil, p.uninstalled(ctx, tx, shop, wh)
	case "customers/create", "customers/update":
		return p.customerUpsert(ctx, tx, shop, wh)
	case "customers/delete":
		return p.customerDelete(ctx, tx, shop, wh)
	case "customers/merge":
		return nil, p.customersMerge(ctx, tx, shop, wh)
	case "customers/redact":
		return p.customersRedact(ctx, tx, shop, wh)
	case "customers/data_request":
		return p.customersDataRequest(ctx, tx, shop, wh)
	case "shop/redact":
		return nil, p.shopRedact(ctx, tx, shop, wh)
	case "orders/create", "orders/paid", "orders/fulfilled", "orders/cancelled", "orders/updated":
		var o shopify.Order
		if err := decode(wh.Body, &o); err != nil {
			return nil, err
		}
		var subject *int64
		if o.Customer != nil && o.Customer.ID != 0 {
			id := customerID(o.Customer.AdminGraphQLAPIID, o.Customer.ID)
			subject = &id
		}
		return subject, p.loyalty.Order(ctx, tx, shop, wh.Topic, &o, wh.ID)
	case "orders/edited":
		// {"order_edit": {"id", "order_id", "line_items": {"additions",
		// "removals"}, …}}: line ids and deltas, no order.
		var e shopify.OrderEdited
		if err := decode(wh.Body, &e); err != nil {
			return nil, err
		}
		return nil, p.loyalty.OrderEdited(ctx, tx, shop, &e.OrderEdit, wh.ID)
	case "refunds/create":
		var r shopify.Refund
		if err := decode(wh.Body, &r); err != nil {
			return nil, err
		}
		return nil, p.loyalty.Refund(ctx, tx, shop, &r, wh.ID)
	}
	return nil, job.Ignore("no handler for topic " + wh.Topic)
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return job.Permanent(fmt.Errorf("payload does not match the topic's schema: %w", err))
	}
	return nil
}

// customerID prefers the exact id inside the GraphQL id: the numeric id of
// sample payloads went through JavaScript and may be rounded.
func customerID(gid string, fallback int64) int64 {
	if _, id, err := shopify.ParseGID(gid); err == nil {
		return id
	}
	return fallback
}

func (p *Processor) uninstalled(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) error {
	// An uninstall triggered before the current install belongs to an
	// earlier installation; applying it late would uninstall a live shop.
	if wh.TriggeredAt != nil && wh.TriggeredAt.Before(shop.InstalledAt) {
		return job.Ignore("uninstall from an earlier installation")
	}
	if shop.State == store.ShopUninstalled {
		return job.Ignore("already uninstalled")
	}
	if err := tx.MarkUninstalled(ctx, shop.ID); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "shop uninstalled", "shop", shop.Domain)
	return nil
}

// shopRedact deletes every row of the shop (Shopify sends shop/redact 48
// hours after an uninstall), but only while the shop is still uninstalled
// and the request was triggered after that uninstall: a merchant who
// installed the app again meanwhile keeps every point and setting, and the
// late request is recorded as ignored with the reason.
func (p *Processor) shopRedact(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) error {
	if shop.State != store.ShopUninstalled || shop.UninstalledAt == nil {
		return job.Ignore("the shop has the app installed again; shop/redact deleted nothing")
	}
	at := wh.ReceivedAt
	if wh.TriggeredAt != nil {
		at = *wh.TriggeredAt
	}
	if at.Before(*shop.UninstalledAt) {
		return job.Ignore("shop/redact was triggered before the latest uninstall; it deleted nothing")
	}
	p.log.InfoContext(ctx, "shop redacted: every row deleted", "shop", shop.Domain)
	return tx.DeleteShop(ctx, shop.ID, shop.Domain)
}

func (p *Processor) customerUpsert(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) (*int64, error) {
	var c shopify.Customer
	if err := decode(wh.Body, &c); err != nil {
		return nil, err
	}
	id := customerID(c.AdminGraphQLAPIID, c.ID)
	if id == 0 {
		return nil, job.Permanent(fmt.Errorf("customer payload has no id"))
	}
	in := store.CustomerIdentity{
		ShopifyID: id, GID: shopify.GID("Customer", id), Email: c.Email, Phone: c.Phone,
		FirstName: c.FirstName, LastName: c.LastName, State: c.State,
	}
	if !c.UpdatedAt.IsZero() {
		t := c.UpdatedAt.UTC()
		in.ShopifyUpdatedAt = &t
	}
	if !c.CreatedAt.IsZero() {
		t := c.CreatedAt.UTC()
		in.ShopifyCreatedAt = &t
	}
	row, created, err := tx.UpsertCustomer(ctx, shop.ID, in)
	if err != nil {
		return nil, err
	}
	// Shopify's facts about the customer (facts.birth_date) may have
	// changed: the periodic work reads them again, outside this webhook.
	if !created {
		if err := tx.MarkCustomerFactsStale(ctx, shop.ID, row.ID); err != nil {
			return nil, err
		}
	}
	return &id, p.loyalty.CustomerUpserted(ctx, tx, shop, row, created, wh.ID)
}

func (p *Processor) customerDelete(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) (*int64, error) {
	var c struct {
		ID  int64  `json:"id"`
		GID string `json:"admin_graphql_api_id"`
	}
	if err := decode(wh.Body, &c); err != nil {
		return nil, err
	}
	id := customerID(c.GID, c.ID)
	n, err := tx.DeleteCustomer(ctx, shop.ID, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return &id, job.Ignore("customer not known")
	}
	return &id, nil
}

func (p *Processor) customersMerge(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) error {
	var m shopify.CustomersMerge
	if err := decode(wh.Body, &m); err != nil {
		return err
	}
	// Shopify documents the failed shape only; anything that is not failed
	// and carries no errors is taken as a completed merge.
	if m.Status == "failed" || len(m.Errors) > 0 {
		return job.Ignore("merge not completed (status " + m.Status + ")")
	}
	_, kept, err1 := shopify.ParseGID(m.AdminGraphQLAPICustomerKeptID)
	_, gone, err2 := shopify.ParseGID(m.AdminGraphQLAPICustomerDeletedID)
	if err1 != nil || err2 != nil {
		return job.Permanent(fmt.Errorf("merge payload has invalid customer ids"))
	}
	return p.loyalty.CustomersMerged(ctx, tx, shop, kept, gone, wh.ID)
}

// customersRedact deletes the customer's personal data everywhere it is
// kept: the customer row (and every table that cascades from it), a
// referral of them as a friend who never ordered (by email), a guest's
// waiting points (by email, phone and orders_to_redact), stored
// payloads about them (blanked, rows kept for deduplication), exports made
// for earlier data requests, and this request's own payload.
func (p *Processor) customersRedact(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) (*int64, error) {
	var r shopify.CustomersRedact
	if err := decode(wh.Body, &r); err != nil {
		return nil, err
	}
	id := r.Customer.ID
	target := store.RedactTarget{ShopifyCustomerID: id, OrderIDs: r.OrdersToRedact}
	if r.Customer.Email != "" {
		target.Emails = append(target.Emails, r.Customer.Email)
	}
	if r.Customer.Phone != "" {
		target.Phones = append(target.Phones, r.Customer.Phone)
	}
	if id == 0 && r.Customer.Email != "" {
		// A redaction may carry only an email: an exact, case-insensitive
		// match, never a search (ann@ must not find joann@).
		if c, err := tx.CustomerByEmail(ctx, shop.ID, r.Customer.Email); err == nil {
			id, target.ShopifyCustomerID = c.ShopifyID, c.ShopifyID
		} else if app.ErrorCode(err) != app.ENOTFOUND {
			return nil, err
		}
	}
	if id != 0 {
		// What we hold may differ from the redact payload (an email changed
		// since): everything we stored about them goes too.
		if c, err := tx.CustomerByShopifyID(ctx, shop.ID, id); err == nil {
			target.Emails = append(target.Emails, c.Email)
			target.Phones = append(target.Phones, c.Phone)
		}
		if _, err := tx.DeleteCustomer(ctx, shop.ID, id); err != nil {
			return nil, err
		}
		if err := tx.DeleteDataRequests(ctx, shop.ID, id); err != nil {
			return nil, err
		}
	}
	if _, err := tx.RedactWebhooksNaming(ctx, shop.ID, target); err != nil {
		return nil, err
	}
	// An invited friend who never ordered is known only by the email the
	// referral link collected.
	if _, err := tx.DeleteReferralsOfFriend(ctx, shop.ID, r.Customer.Email); err != nil {
		return nil, err
	}
	// A guest's waiting points are held by email, phone and order, with no
	// customer row to cascade from (app/loyalty/guests.go).
	email, _ := identity.NormalizeEmail(r.Customer.Email)
	phone, _ := identity.NormalizePhone(r.Customer.Phone)
	if _, err := tx.DeleteGuestPointsOf(ctx, shop.ID, email, phone, r.OrdersToRedact); err != nil {
		return nil, err
	}
	if err := tx.RedactWebhookBody(ctx, wh.ID); err != nil {
		return nil, err
	}
	p.log.InfoContext(ctx, "customer redacted", "shop", shop.Domain, "customer", id)
	return nil, nil
}

func (p *Processor) customersDataRequest(ctx context.Context, tx *store.Store, shop *store.Shop, wh *store.Webhook) (*int64, error) {
	var r shopify.CustomersDataRequest
	if err := decode(wh.Body, &r); err != nil {
		return nil, err
	}
	export := map[string]any{
		"shop":             shop.Domain,
		"data_request_id":  r.DataRequest.ID,
		"orders_requested": r.OrdersRequested,
		"generated_at":     time.Now().UTC().Format(time.RFC3339),
	}
	c, err := tx.CustomerByShopifyID(ctx, shop.ID, r.Customer.ID)
	switch {
	case err == nil:
		export["customer"] = map[string]any{
			"shopify_customer_id": c.ShopifyID, "email": c.Email, "phone": c.Phone,
			"first_name": c.FirstName, "last_name": c.LastName, "metafields": c.MetafieldMap(),
			"created_at": c.CreatedAt, "updated_at": c.UpdatedAt,
		}
		loyalty, err := p.loyalty.ExportCustomer(ctx, tx, shop, c.ShopifyID)
		if err != nil {
			return nil, err
		}
		export["loyalty"] = loyalty
	case app.ErrorCode(err) == app.ENOTFOUND:
		export["customer"] = nil
		export["note"] = "No data is stored about this customer."
	default:
		return nil, err
	}
	if email := strings.ToLower(strings.TrimSpace(r.Customer.Email)); email != "" {
		ref, err := tx.ReferralByFriendEmail(ctx, shop.ID, email)
		switch {
		case err == nil:
			export["referred_as_friend"] = map[string]any{
				"friend_email": ref.FriendEmail, "referral_code": ref.ReferralCode, "coupon_code": ref.CouponCode,
				"status": ref.Status, "created_at": ref.CreatedAt, "completed_at": ref.CompletedAt,
			}
		case app.ErrorCode(err) != app.ENOTFOUND:
			return nil, err
		}
	}
	// A guest's waiting points are held by the order's email or phone.
	gEmail, _ := identity.NormalizeEmail(r.Customer.Email)
	gPhone, _ := identity.NormalizePhone(r.Customer.Phone)
	waiting, err := tx.GuestPointsOf(ctx, shop.ID, gEmail, gPhone)
	if err != nil {
		return nil, err
	}
	if len(waiting) > 0 {
		rows := make([]map[string]any, len(waiting))
		for i, g := range waiting {
			rows[i] = map[string]any{"order_id": g.OrderGID, "email": g.Email, "phone": g.Phone, "points": g.Points,
				"waiting_until": g.WaitingUntil, "claimed_at": g.ClaimedAt, "expired": g.Expired, "created_at": g.CreatedAt}
		}
		export["guest_points"] = rows
	}
	webhooks, err := tx.CustomerWebhookSummary(ctx, shop.ID, r.Customer.ID)
	if err != nil {
		return nil, err
	}
	export["webhooks_received"] = webhooks
	b, err := json.Marshal(export)
	if err != nil {
		return nil, err
	}
	if err := tx.SaveDataRequest(ctx, shop.ID, r.DataRequest.ID, r.Customer.ID, b); err != nil {
		return nil, err
	}
	// The request itself names the customer, so a later redaction blanks it.
	return &r.Customer.ID, nil
}

// NoLoyalty is the Loyalty used before the loyalty engine is wired: order
// topics are recorded as ignored with that reason, customers are stored.
type NoLoyalty struct{}

// Order implements Loyalty.
func (NoLoyalty) Order(context.Context, *store.Store, *store.Shop, string, *shopify.Order, int64) error {
	return job.Ignore("loyalty engine not enabled")
}

// Refund implements Loyalty.
func (NoLoyalty) Refund(context.Context, *store.Store, *store.Shop, *shopify.Refund, int64) error {
	return job.Ignore("loyalty engine not enabled")
}

// OrderEdited implements Loyalty.
func (NoLoyalty) OrderEdited(context.Context, *store.Store, *store.Shop, *shopify.OrderEdit, int64) error {
	return job.Ignore("loyalty engine not enabled")
}

// CustomerUpserted implements Loyalty.
func (NoLoyalty) CustomerUpserted(context.Context, *store.Store, *store.Shop, *store.Customer, bool, int64) error {
	return nil
}

// CustomersMerged implements Loyalty.
func (NoLoyalty) CustomersMerged(context.Context, *store.Store, *store.Shop, int64, int64, int64) error {
	return job.Ignore("loyalty engine not enabled")
}

// ExportCustomer implements Loyalty.
func (NoLoyalty) ExportCustomer(context.Context, *store.Store, *store.Shop, int64) (map[string]any, error) {
	return map[string]any{}, nil
}
