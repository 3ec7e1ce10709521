package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// UncountGuestOrder takes one back from the shop's count of guest orders: a
// counted guest order got its customer and earned after all.
func (s *Store) UncountGuestOrder(ctx context.Context, shopID app.ShopID) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE loyalty_shop_stats SET guest_orders = greatest(guest_orders - 1, 0), updated_at = now()
WHERE shop_id = ?`, shopID).Error
	if err != nil {
		return fmt.Errorf("store: uncount guest order: %w", formatError(err))
	}
	return nil
}

// Order edit statuses.
const (
	OrderEditPending  = "pending"
	OrderEditApplied  = "applied"
	OrderEditAbsorbed = "absorbed"
)

// OrderEdit is one orders/edited of an order: its line changes (JSON
// arrays of {"id", "delta"}) and what it did.
type OrderEdit struct {
	ID          int64 `gorm:"primaryKey"`
	ShopID      app.ShopID
	OrderID     int64
	EditGID     string `gorm:"column:edit_gid"`
	CommittedAt time.Time
	Additions   []byte
	Removals    []byte
	Status      string
	BaseMinor   int64
	Points      int64
	CreatedAt   time.Time
	SettledAt   *time.Time
}

// TableName implements gorm's tabler.
func (OrderEdit) TableName() string { return "order_edits" }

// InsertOrderEdit remembers an edit once, pending: inserted is false when
// the shop already has an edit with that id.
func (s *Store) InsertOrderEdit(ctx context.Context, shopID app.ShopID, e *OrderEdit) (bool, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`INSERT INTO order_edits (shop_id, order_id, edit_gid, committed_at, additions, removals, status, created_at)
VALUES (?, ?, ?, ?, ?::jsonb, ?::jsonb, 'pending', ?) ON CONFLICT (shop_id, edit_gid) DO NOTHING RETURNING id`,
		shopID, e.OrderID, e.EditGID, e.CommittedAt, string(e.Additions), string(e.Removals), e.CreatedAt).Scan(&ids).Error
	if err != nil {
		return false, fmt.Errorf("store: insert order edit: %w", formatError(err))
	}
	if len(ids) == 0 {
		return false, nil
	}
	e.ID, e.ShopID, e.Status = ids[0], shopID, OrderEditPending
	return true, nil
}

// PendingOrderEdits returns an order's pending edits, oldest commit first.
func (s *Store) PendingOrderEdits(ctx context.Context, shopID app.ShopID, orderID int64) ([]OrderEdit, error) {
	var out []OrderEdit
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_id = ? AND status = ?", shopID, orderID, OrderEditPending).
		Order("committed_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending order edits: %w", formatError(err))
	}
	return out, nil
}

// SettleOrderEdit records what a pending edit did: applied with its base
// change and points, or absorbed.
func (s *Store) SettleOrderEdit(ctx context.Context, shopID app.ShopID, id int64, status string, baseMinor, points int64, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE order_edits SET status = ?, base_minor = ?, points = ?, settled_at = ?
WHERE shop_id = ? AND id = ? AND status = 'pending'`, status, baseMinor, points, now, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: settle order edit: %w", formatError(err))
	}
	return nil
}

// OrderEdits returns an order's edits in arrival order.
func (s *Store) OrderEdits(ctx context.Context, shopID app.ShopID, orderID int64) ([]OrderEdit, error) {
	var out []OrderEdit
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND order_id = ?", shopID, orderID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: order edits: %w", formatError(err))
	}
	return out, nil
}

// AttachGuestPointsRecord records the customer record an order got after
// its points started waiting without one (staff attached the customer
// later), so that record becoming an account claims them. It changes
// nothing once a record is set or the points were claimed.
func (s *Store) AttachGuestPointsRecord(ctx context.Context, shopID app.ShopID, id, customerID int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE guest_points SET customer_id = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND customer_id IS NULL AND claimed_at IS NULL`, customerID, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: attach guest points record: %w", formatError(res.Error))
	}
	return res.RowsAffected > 0, nil
}
