package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
)

// TestEvent is a sample loyalty event the merchant sends to one
// integration through one definition, for one customer of the shop.
type TestEvent struct {
	IntegrationID int64
	DefinitionID  int64
	CustomerID    int64 // customers.id
	Key           string
	Properties    map[string]any
	OccurredAt    time.Time
}

// CreateTestDelivery writes a test event and its one delivery in one
// statement, and wakes the runners: the event carries the customer's
// current balance and tier like a real one, is marked test (routing skips
// it, statistics leave it out) and goes to that integration only. It
// returns the delivery's id.
func (s *Store) CreateTestDelivery(ctx context.Context, shopID app.ShopID, t TestEvent) (int64, error) {
	props, err := json.Marshal(t.Properties)
	if err != nil {
		return 0, fmt.Errorf("store: test event: %w", err)
	}
	id := uuid.New()
	var row struct{ ID int64 }
	err = s.db.WithContext(ctx).Raw(`
WITH ev AS (
    INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at, properties,
        points_balance, tier, currency, source_key, test)
    SELECT ?, c.shop_id, c.id, c.shopify_id, ?, 'online_store', ?, ?::jsonb,
        coalesce(a.points_balance, 0), coalesce(a.tier_key, ''), sh.currency, ?, true
    FROM customers c JOIN shops sh ON sh.id = c.shop_id
    LEFT JOIN loyalty_accounts a ON a.customer_id = c.id
    WHERE c.id = ? AND c.shop_id = ?
    RETURNING id, shop_id, customer_id, shopify_customer_id, key
), ins AS (
    INSERT INTO deliveries (shop_id, integration_id, definition_id, event_id, event, customer_id, shopify_customer_id, test)
    SELECT ev.shop_id, i.id, ?, ev.id, ev.key, ev.customer_id, ev.shopify_customer_id, true
    FROM ev JOIN integrations i ON i.id = ? AND i.shop_id = ev.shop_id
    RETURNING id
)
SELECT ins.id, pg_notify(?, ?) FROM ins`,
		id, t.Key, t.OccurredAt, string(props), "test:"+id.String(), t.CustomerID, shopID,
		t.DefinitionID, t.IntegrationID, DeliveriesChannel, "shop:"+strconv.FormatInt(int64(shopID), 10)).Scan(&row).Error
	if err != nil {
		return 0, fmt.Errorf("store: test event: %w", formatError(err))
	}
	if row.ID == 0 {
		return 0, app.Errorf(app.ENOTFOUND, "Customer or integration not found.")
	}
	return row.ID, nil
}
