package store

import (
	"context"
	"fmt"

	"github.com/perkbridge/perkbridge/app"
)

// ShopCounts counts the shop's customers and its webhook deliveries by
// status, for the admin home page.
func (s *Store) ShopCounts(ctx context.Context, shopID app.ShopID) (customers int64, webhooks map[string]int64, err error) {
	db := s.db.WithContext(ctx)
	if err := db.Table("customers").Where("shop_id = ?", shopID).Count(&customers).Error; err != nil {
		return 0, nil, fmt.Errorf("store: count customers: %w", formatError(err))
	}
	var rows []struct {
		Status string
		N      int64
	}
	if err := db.Raw("SELECT status, count(*) AS n FROM webhooks WHERE shop_id = ? GROUP BY status", shopID).Scan(&rows).Error; err != nil {
		return 0, nil, fmt.Errorf("store: count webhooks: %w", formatError(err))
	}
	webhooks = make(map[string]int64, len(rows))
	for _, r := range rows {
		webhooks[r.Status] = r.N
	}
	return customers, webhooks, nil
}
