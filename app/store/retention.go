package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// ExpireDeliveries deletes up to limit of the shop's settled deliveries
// (sent, failed, skipped, late) created before cutoff and adds their
// counts to delivery_stats_hourly, in one statement: the statistics of any
// period count the same before and after. Pending deliveries are live work
// and stay, however old. It returns how many rows went.
func (s *Store) ExpireDeliveries(ctx context.Context, shopID app.ShopID, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`
WITH gone AS (
    DELETE FROM deliveries WHERE id IN (
        SELECT id FROM deliveries
        WHERE shop_id = ? AND created_at < ? AND status <> 'pending'
        ORDER BY created_at LIMIT ?
        FOR UPDATE SKIP LOCKED)
    RETURNING shop_id, integration_id, event, status, created_at, test
), counted AS (
    INSERT INTO delivery_stats_hourly AS h (shop_id, integration_id, event, hour, status, n)
    SELECT shop_id, integration_id, event, date_trunc('hour', created_at, 'UTC'), status, count(*)
    FROM gone WHERE NOT test GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (shop_id, integration_id, event, hour, status) DO UPDATE SET n = h.n + EXCLUDED.n
)
SELECT count(*) FROM gone`, shopID, cutoff, limit).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: expire deliveries: %w", formatError(err))
	}
	return n, nil
}

// ExpireEvents deletes up to limit of the shop's loyalty events created
// before cutoff that no delivery refers to any more (their deliveries
// expired, or none was routed). An event still pending somewhere stays.
// The ledger keeps the points; an event id is the stable id of its cause,
// and the cause's ledger entry already exists, so nothing rebuilds it.
func (s *Store) ExpireEvents(ctx context.Context, shopID app.ShopID, cutoff time.Time, limit int) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`
DELETE FROM loyalty_events WHERE id IN (
    SELECT e.id FROM loyalty_events e
    WHERE e.shop_id = ? AND e.created_at < ?
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.shop_id = e.shop_id AND d.event_id = e.id)
    ORDER BY e.created_at LIMIT ?
    FOR UPDATE SKIP LOCKED)`, shopID, cutoff, limit)
	if res.Error != nil {
		return 0, fmt.Errorf("store: expire events: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// ShopIDs returns the id of every shop, installed or not.
func (s *Store) ShopIDs(ctx context.Context) ([]app.ShopID, error) {
	var ids []app.ShopID
	if err := s.db.WithContext(ctx).Model(&Shop{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("store: shop ids: %w", formatError(err))
	}
	return ids, nil
}
