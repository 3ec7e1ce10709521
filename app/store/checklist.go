package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// PropertyCoverage is how many of the shop's program members have a value
// for a common property, and some of those who do not.
type PropertyCoverage struct {
	Members   int64
	Have      int64
	HavePhone int64 // of those lacking it, how many have a phone (the fallback)
	Missing   []MissingMember
}

// MissingMember is a member without the common property's value.
type MissingMember struct {
	ShopifyID int64
	FirstName string
	LastName  string
	Email     string
	Phone     string
}

// CommonPropertyCoverage counts the members (customers with a loyalty
// account) that have the cached value of a common property: "email",
// "phone", "customer_id" or "metafield" with key "namespace.key"; it
// lists up to limit of those without it, newest first. The cache is what
// the app knows; the runner asks Shopify for a missing value before it
// skips, so this is an upper bound of the gaps.
func (s *Store) CommonPropertyCoverage(ctx context.Context, shopID app.ShopID, kind, metafieldKey string, limit int) (PropertyCoverage, error) {
	var has string
	var args []any
	switch kind {
	case "email":
		has = "c.email <> ''"
	case "phone":
		has = "c.phone <> ''"
	case "customer_id":
		has = "true"
	case "metafield":
		has = "coalesce(c.metafields ->> ?, '') <> ''"
		args = append(args, metafieldKey)
	default:
		return PropertyCoverage{}, app.Errorf(app.EINVALID, "Unknown common property %q.", kind)
	}
	var out PropertyCoverage
	var counts struct{ Members, Have, HavePhone int64 }
	q := `SELECT count(*) AS members, count(*) FILTER (WHERE ` + has + `) AS have,
    count(*) FILTER (WHERE NOT (` + has + `) AND c.phone <> '') AS have_phone
FROM customers c JOIN loyalty_accounts a ON a.customer_id = c.id WHERE c.shop_id = ?`
	if err := s.db.WithContext(ctx).Raw(q, append(append([]any{}, args...), append(args, shopID)...)...).Scan(&counts).Error; err != nil {
		return out, fmt.Errorf("store: property coverage: %w", formatError(err))
	}
	out.Members, out.Have, out.HavePhone = counts.Members, counts.Have, counts.HavePhone
	if out.Members == out.Have || limit <= 0 {
		return out, nil
	}
	err := s.db.WithContext(ctx).Raw(`SELECT c.shopify_id, c.first_name, c.last_name, c.email, c.phone
FROM customers c JOIN loyalty_accounts a ON a.customer_id = c.id
WHERE c.shop_id = ? AND NOT (`+has+`) ORDER BY c.id DESC LIMIT ?`, append(append([]any{shopID}, args...), limit)...).Scan(&out.Missing).Error
	if err != nil {
		return out, fmt.Errorf("store: members missing the property: %w", formatError(err))
	}
	return out, nil
}

// EventDeliveryState is what became of one event key's deliveries to one
// integration: whether one was ever accepted (tests included) and when.
type EventDeliveryState struct {
	Event        string
	Accepted     int64
	LastAccepted *time.Time
}

// AcceptedByEvent returns, per event key, how many deliveries to the
// integration the sink accepted (sent or late, tests included) and the
// last time.
func (s *Store) AcceptedByEvent(ctx context.Context, shopID app.ShopID, integrationID int64) ([]EventDeliveryState, error) {
	var out []EventDeliveryState
	err := s.db.WithContext(ctx).Raw(`SELECT event, count(*) AS accepted, max(sent_at) AS last_accepted
FROM deliveries WHERE shop_id = ? AND integration_id = ? AND status IN ('sent', 'late') GROUP BY event`, shopID, integrationID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: accepted by event: %w", formatError(err))
	}
	return out, nil
}

// CountDeliveriesSince counts the shop's deliveries to the integration in
// status created since since, tests left out.
func (s *Store) CountDeliveriesSince(ctx context.Context, shopID app.ShopID, integrationID int64, status string, since time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM deliveries
WHERE shop_id = ? AND integration_id = ? AND status = ? AND created_at >= ? AND NOT test`, shopID, integrationID, status, since).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: count deliveries: %w", formatError(err))
	}
	return n, nil
}
