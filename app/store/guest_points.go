package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// GuestPoints are the points of a paid order without a customer account,
// waiting for the shopper to create one with the order's email or phone
// (loyalty.Service, guests.go). One row per order.
type GuestPoints struct {
	ID       int64 `gorm:"primaryKey"`
	ShopID   app.ShopID
	OrderID  int64
	OrderGID string `gorm:"column:order_gid"`
	// CustomerID is the customer record the order carried (one that is not
	// an account); nil for an order without a customer.
	CustomerID *int64
	Email      string // lower-case, "" when unknown
	Phone      string // E.164, "" when unknown
	// Points wait now: the order's earned points less what refunds and a
	// cancellation took back before the claim.
	Points              int64
	BaseMinor           int64
	Currency            string
	WaitingUntil        time.Time
	ClaimedByCustomerID *int64
	ClaimedAt           *time.Time
	Expired             bool
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// TableName implements gorm's tabler.
func (GuestPoints) TableName() string { return "guest_points" }

// InsertGuestPoints records an order's waiting points once: inserted is
// false (and nothing changes) when the order already has a row.
func (s *Store) InsertGuestPoints(ctx context.Context, shopID app.ShopID, g *GuestPoints, now time.Time) (inserted bool, err error) {
	var ids []int64
	err = s.db.WithContext(ctx).Raw(`
INSERT INTO guest_points (shop_id, order_id, order_gid, customer_id, email, phone, points, base_minor, currency,
    waiting_until, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (shop_id, order_gid) DO NOTHING
RETURNING id`,
		shopID, g.OrderID, g.OrderGID, g.CustomerID, g.Email, g.Phone, g.Points, g.BaseMinor, g.Currency,
		g.WaitingUntil, now, now).Scan(&ids).Error
	if err != nil {
		return false, fmt.Errorf("store: insert guest points: %w", formatError(err))
	}
	if len(ids) == 0 {
		return false, nil
	}
	g.ID, g.ShopID, g.CreatedAt, g.UpdatedAt = ids[0], shopID, now, now
	return true, nil
}

// LockCustomerState returns a customer row's state under a share lock held
// to the end of the transaction: a concurrent customers/update of the row
// (UpsertCustomer) waits for it, and it waits for that update's commit.
func (s *Store) LockCustomerState(ctx context.Context, shopID app.ShopID, customerID int64) (string, error) {
	var states []string
	err := s.db.WithContext(ctx).Raw("SELECT state FROM customers WHERE shop_id = ? AND id = ? FOR SHARE", shopID, customerID).Scan(&states).Error
	if err != nil {
		return "", fmt.Errorf("store: lock customer state: %w", formatError(err))
	}
	if len(states) == 0 {
		return "", fmt.Errorf("store: lock customer state %d: no row", customerID)
	}
	return states[0], nil
}

// UnclaimedGuestPointsOfOrder returns the order's waiting points not yet
// claimed (expired or not), locked for the rest of the transaction, or nil.
// The caller holds the order's row lock (UpsertLoyaltyOrder).
func (s *Store) UnclaimedGuestPointsOfOrder(ctx context.Context, shopID app.ShopID, orderGID string) (*GuestPoints, error) {
	var rows []GuestPoints
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM guest_points
WHERE shop_id = ? AND order_gid = ? AND claimed_at IS NULL FOR UPDATE`, shopID, orderGID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: guest points of order: %w", formatError(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// SetGuestPointsWaiting sets the points an unclaimed row holds (a refund or
// a cancellation of its order took some back).
func (s *Store) SetGuestPointsWaiting(ctx context.Context, shopID app.ShopID, id, points int64, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE guest_points SET points = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND claimed_at IS NULL`, max(points, 0), now, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: set guest points: %w", formatError(err))
	}
	return nil
}

// LockGuestClaims returns the shop's waiting points that a customer with
// email (lower-case), phone (E.164) or customer row id may claim at now:
// unclaimed, not expired, waiting_until after now, some points left. Empty
// email or phone match nothing. It locks each row's order first, then the
// row, in order id order (the lock order of order webhooks: orders before
// accounts), so the caller must call it before locking the account.
func (s *Store) LockGuestClaims(ctx context.Context, shopID app.ShopID, email, phone string, customerID int64, now time.Time) ([]GuestPoints, error) {
	var rows []GuestPoints
	err := s.db.WithContext(ctx).Raw(`
SELECT g.* FROM guest_points g JOIN orders o ON o.id = g.order_id AND o.shop_id = g.shop_id
WHERE g.shop_id = ? AND g.claimed_at IS NULL AND NOT g.expired AND g.waiting_until > ? AND g.points > 0
  AND ((? <> '' AND g.email = ?) OR (? <> '' AND g.phone = ?) OR g.customer_id = ?)
ORDER BY o.id
FOR UPDATE OF o, g`, shopID, now, email, email, phone, phone, customerID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: lock guest claims: %w", formatError(err))
	}
	return rows, nil
}

// ClaimGuestPoints marks a row claimed by a customer and moves its order to
// that customer, so later refunds and cancellations take the points back
// from them. claimed is false when the row was claimed already.
func (s *Store) ClaimGuestPoints(ctx context.Context, shopID app.ShopID, g *GuestPoints, customerID, shopifyCustomerID int64, now time.Time) (claimed bool, err error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE guest_points SET claimed_by_customer_id = ?, claimed_at = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND claimed_at IS NULL`, customerID, now, now, shopID, g.ID)
	if res.Error != nil {
		return false, fmt.Errorf("store: claim guest points: %w", formatError(res.Error))
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	err = s.db.WithContext(ctx).Exec(`UPDATE orders SET customer_id = ?, shopify_customer_id = ?, updated_at = ?
WHERE shop_id = ? AND id = ?`, customerID, shopifyCustomerID, now, shopID, g.OrderID).Error
	if err != nil {
		return false, fmt.Errorf("store: claim guest points: move order: %w", formatError(err))
	}
	g.ClaimedByCustomerID, g.ClaimedAt = &customerID, &now
	return true, nil
}

// ExpireGuestPoints marks the shop's unclaimed rows whose wait ended at or
// before now as expired, and returns how many. Claims check the date
// themselves; this keeps the waiting indexes small.
func (s *Store) ExpireGuestPoints(ctx context.Context, shopID app.ShopID, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE guest_points SET expired = true, updated_at = ?
WHERE shop_id = ? AND claimed_at IS NULL AND NOT expired AND waiting_until <= ?`, now, shopID, now)
	if res.Error != nil {
		return 0, fmt.Errorf("store: expire guest points: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// GuestPointsOf returns the shop's rows with an email or phone (either may
// be ""), oldest first, for data requests and tests.
func (s *Store) GuestPointsOf(ctx context.Context, shopID app.ShopID, email, phone string) ([]GuestPoints, error) {
	var rows []GuestPoints
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM guest_points
WHERE shop_id = ? AND ((? <> '' AND email = ?) OR (? <> '' AND phone = ?)) ORDER BY id`,
		shopID, email, email, phone, phone).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: guest points: %w", formatError(err))
	}
	return rows, nil
}

// DeleteGuestPointsOf deletes the shop's rows held under an email or phone
// (either may be ""), or for one of the orders (Shopify ids), for
// customers/redact: a guest without a customer record has no row to
// cascade from (rows with a customer record, or claimed, also go with that
// customer's row).
func (s *Store) DeleteGuestPointsOf(ctx context.Context, shopID app.ShopID, email, phone string, shopifyOrderIDs []int64) (int64, error) {
	if len(shopifyOrderIDs) == 0 {
		shopifyOrderIDs = []int64{0}
	}
	res := s.db.WithContext(ctx).Exec(`DELETE FROM guest_points g
WHERE g.shop_id = ? AND ((? <> '' AND g.email = ?) OR (? <> '' AND g.phone = ?)
   OR g.order_id IN (SELECT o.id FROM orders o WHERE o.shop_id = ? AND o.shopify_id IN ?))`,
		shopID, email, email, phone, phone, shopID, shopifyOrderIDs)
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete guest points: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}
