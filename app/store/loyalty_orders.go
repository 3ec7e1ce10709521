package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// LoyaltyOrder is what the loyalty engine remembers about an order
// (ledger.OrderState plus who and where).
type LoyaltyOrder struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	OrderGID          string `gorm:"column:order_gid"`
	ShopifyID         int64
	CustomerID        *int64
	ShopifyCustomerID *int64
	Name              string
	Channel           string
	Currency          string
	TaxesIncluded     *bool
	BaseMinor         int64
	Earned            int64
	Reversed          int64
	RefundedBaseMinor int64
	UnpricedRefunds   int
	Cancelled         bool
	GuestCounted      bool
	EarnedAt          *time.Time
	CancelledAt       *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time

	// PaidMinor is the order's total paid (shop money, tax and shipping
	// included) and PaidBaseMinor its earning base, from the same payload:
	// a refund of an amount counts for the base in their proportion.
	PaidMinor     int64
	PaidBaseMinor int64

	// Lines is the order's lines as the engine accounts for them (JSON,
	// see app/loyalty), with the times of the payloads they come from and
	// the count of edits waiting to be applied.
	Lines         []byte
	LinesSeenAt   *time.Time
	LinesAsOf     *time.Time
	LinesEditedAt *time.Time
	PendingEdits  int
}

// TableName implements gorm's tabler.
func (LoyaltyOrder) TableName() string { return "orders" }

// OrderSeen is what an order or refund webhook tells about an order. Nil
// and zero fields leave the stored value alone.
type OrderSeen struct {
	OrderGID          string
	ShopifyID         int64
	CustomerID        *int64
	ShopifyCustomerID *int64
	Name              string
	Channel           string
	Currency          string
	TaxesIncluded     *bool
	// BaseMinor is the order's earning base under the current program; it
	// is stored only until the order earned (then the earn's base holds).
	// PaidMinor, the order's total paid, is stored with it.
	BaseMinor *int64
	PaidMinor int64
}

// UpsertLoyaltyOrder records what a webhook says about an order and returns
// the row, locked until the end of the transaction (INSERT … ON CONFLICT DO
// UPDATE takes the row lock). Every order and refund webhook goes through
// it first, so webhooks of one order serialize here, and each then locks the
// customer's account: always order first, then account. The customer is
// set only while none is stored, so a merge's re-parenting sticks.
func (s *Store) UpsertLoyaltyOrder(ctx context.Context, shopID app.ShopID, in OrderSeen, now time.Time) (*LoyaltyOrder, error) {
	var rows []LoyaltyOrder
	err := s.db.WithContext(ctx).Raw(`
INSERT INTO orders AS o (shop_id, order_gid, shopify_id, customer_id, shopify_customer_id, name, channel, currency,
    taxes_included, base_minor, paid_minor, paid_base_minor, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, 0), ?, coalesce(?, 0), ?, ?)
ON CONFLICT (shop_id, order_gid) DO UPDATE SET
    customer_id = coalesce(o.customer_id, EXCLUDED.customer_id),
    shopify_customer_id = CASE WHEN o.customer_id IS NULL THEN coalesce(EXCLUDED.shopify_customer_id, o.shopify_customer_id) ELSE o.shopify_customer_id END,
    name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE o.name END,
    channel = CASE WHEN EXCLUDED.channel <> '' THEN EXCLUDED.channel ELSE o.channel END,
    currency = CASE WHEN EXCLUDED.currency <> '' THEN EXCLUDED.currency ELSE o.currency END,
    taxes_included = coalesce(EXCLUDED.taxes_included, o.taxes_included),
    base_minor = CASE WHEN o.earned_at IS NULL AND ? THEN EXCLUDED.base_minor ELSE o.base_minor END,
    paid_minor = CASE WHEN o.earned_at IS NULL AND ? THEN EXCLUDED.paid_minor ELSE o.paid_minor END,
    paid_base_minor = CASE WHEN o.earned_at IS NULL AND ? THEN EXCLUDED.paid_base_minor ELSE o.paid_base_minor END,
    updated_at = EXCLUDED.updated_at
RETURNING *`,
		shopID, in.OrderGID, in.ShopifyID, in.CustomerID, in.ShopifyCustomerID, in.Name, in.Channel, in.Currency,
		in.TaxesIncluded, in.BaseMinor, in.PaidMinor, in.BaseMinor, now, now,
		in.BaseMinor != nil, in.BaseMinor != nil, in.BaseMinor != nil).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: upsert order: %w", formatError(err))
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("store: upsert order %s: no row", in.OrderGID)
	}
	return &rows[0], nil
}

// SaveLoyaltyOrder writes the order's loyalty state back (the row is locked
// by UpsertLoyaltyOrder).
func (s *Store) SaveLoyaltyOrder(ctx context.Context, shopID app.ShopID, o *LoyaltyOrder, now time.Time) error {
	lines := string(o.Lines)
	if lines == "" {
		lines = "{}"
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE orders SET base_minor = ?, earned = ?, reversed = ?, refunded_base_minor = ?,
    unpriced_refunds = ?, cancelled = ?, guest_counted = ?, earned_at = ?, cancelled_at = ?, updated_at = ?,
    lines = ?::jsonb, lines_seen_at = ?, lines_as_of = ?, lines_edited_at = ?, pending_edits = ?
WHERE shop_id = ? AND id = ?`,
		o.BaseMinor, o.Earned, o.Reversed, o.RefundedBaseMinor, o.UnpricedRefunds, o.Cancelled, o.GuestCounted,
		o.EarnedAt, o.CancelledAt, now, lines, o.LinesSeenAt, o.LinesAsOf, o.LinesEditedAt, o.PendingEdits, shopID, o.ID).Error
	if err != nil {
		return fmt.Errorf("store: save order: %w", formatError(err))
	}
	return nil
}

// LoyaltyOrderByGID returns the shop's order with a GraphQL id.
func (s *Store) LoyaltyOrderByGID(ctx context.Context, shopID app.ShopID, gid string) (*LoyaltyOrder, error) {
	var o LoyaltyOrder
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND order_gid = ?", shopID, gid).Take(&o).Error; err != nil {
		return nil, fmt.Errorf("store: order: %w", formatError(err))
	}
	return &o, nil
}

// LoyaltyOrdersOf returns a customer's orders, oldest first.
func (s *Store) LoyaltyOrdersOf(ctx context.Context, shopID app.ShopID, customerID int64) ([]LoyaltyOrder, error) {
	var out []LoyaltyOrder
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: orders: %w", formatError(err))
	}
	return out, nil
}

// OrderRefund is one refund of an order, kept with its amounts so that it
// can be priced when the order is known.
type OrderRefund struct {
	ID                 int64 `gorm:"primaryKey"`
	ShopID             app.ShopID
	OrderID            int64
	RefundGID          string `gorm:"column:refund_gid"`
	LinesSubtotalMinor int64
	LinesTaxMinor      int64
	ShippingMinor      int64
	ShippingTaxMinor   int64
	ExcludedMinor      int64
	BaseMinor          *int64
	PointsReversed     int64
	CreatedAt          time.Time

	// UnexplainedMinor is money sent back beyond what the refund's lines
	// and shipping explain (a refund of an amount), tax included.
	UnexplainedMinor int64
}

// TableName implements gorm's tabler.
func (OrderRefund) TableName() string { return "order_refunds" }

// InsertOrderRefund remembers a refund once: inserted is false when the
// shop already has a refund with that id (the natural key of a reversal).
func (s *Store) InsertOrderRefund(ctx context.Context, shopID app.ShopID, r *OrderRefund) (bool, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`INSERT INTO order_refunds (shop_id, order_id, refund_gid, lines_subtotal_minor, lines_tax_minor,
    shipping_minor, shipping_tax_minor, excluded_minor, unexplained_minor, base_minor, points_reversed, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id, refund_gid) DO NOTHING RETURNING id`,
		shopID, r.OrderID, r.RefundGID, r.LinesSubtotalMinor, r.LinesTaxMinor, r.ShippingMinor, r.ShippingTaxMinor,
		r.ExcludedMinor, r.UnexplainedMinor, r.BaseMinor, r.PointsReversed, r.CreatedAt).Scan(&ids).Error
	if err != nil {
		return false, fmt.Errorf("store: insert refund: %w", formatError(err))
	}
	if len(ids) == 0 {
		return false, nil
	}
	r.ID, r.ShopID = ids[0], shopID
	return true, nil
}

// OrderRefunds returns an order's refunds in arrival order.
func (s *Store) OrderRefunds(ctx context.Context, shopID app.ShopID, orderID int64) ([]OrderRefund, error) {
	var out []OrderRefund
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND order_id = ?", shopID, orderID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: refunds: %w", formatError(err))
	}
	return out, nil
}

// PriceOrderRefund stores a refund's earning base and the points it took back.
func (s *Store) PriceOrderRefund(ctx context.Context, shopID app.ShopID, id, baseMinor, pointsReversed int64) error {
	err := s.db.WithContext(ctx).Exec("UPDATE order_refunds SET base_minor = ?, points_reversed = ? WHERE shop_id = ? AND id = ?",
		baseMinor, pointsReversed, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: price refund: %w", formatError(err))
	}
	return nil
}
