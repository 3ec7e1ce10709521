package store

import (
	"context"
	"fmt"

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
