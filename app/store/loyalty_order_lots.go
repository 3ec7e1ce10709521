package store

import (
	"context"
	"fmt"

	"github.com/perkbridge/perkbridge/app"
)

// OrderLots returns the lots that credits of an order opened for a
// customer, in id order: what the order earned and what of it is still
// there, pending or spendable. Another customer's order has none.
func (s *Store) OrderLots(ctx context.Context, shopID app.ShopID, customerID int64, orderGID string) ([]PointLot, error) {
	var out []PointLot
	err := s.db.WithContext(ctx).Raw(`SELECT l.* FROM ledger_entries e
JOIN point_lots l ON l.shop_id = e.shop_id AND l.id = e.lot_id AND l.customer_id = e.customer_id
WHERE e.shop_id = ? AND e.customer_id = ? AND e.order_gid = ? AND e.order_gid <> '' AND e.points > 0
ORDER BY l.id`, shopID, customerID, orderGID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: order lots: %w", formatError(err))
	}
	return out, nil
}
