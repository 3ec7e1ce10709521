package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
)

// LoyaltyEvent is a stored loyalty event (DESIGN.md §3), the hand-off to
// event forwarding. ID is event.StableID of the cause.
type LoyaltyEvent struct {
	ID                uuid.UUID       `gorm:"primaryKey;type:uuid" json:"event_id"`
	Seq               int64           `gorm:"->" json:"-"`
	ShopID            app.ShopID      `json:"-"`
	CustomerID        int64           `json:"-"`
	ShopifyCustomerID int64           `json:"customer_id,string"`
	Key               string          `json:"event"`
	Channel           string          `json:"channel,omitempty"`
	OccurredAt        time.Time       `json:"occurred_at"`
	Properties        json.RawMessage `gorm:"type:jsonb" json:"properties"`
	PointsBalance     int64           `json:"points_balance"`
	Tier              string          `json:"tier"`
	Currency          string          `json:"currency"`
	SourceKey         string          `json:"-"`
	CreatedAt         time.Time       `gorm:"->" json:"-"`
}

// TableName implements gorm's tabler.
func (LoyaltyEvent) TableName() string { return "loyalty_events" }

// InsertLoyaltyEvents stores events in one statement. An event whose id is
// already stored is skipped: ids are stable per cause, so a replay writes
// nothing twice. It returns how many were new.
func (s *Store) InsertLoyaltyEvents(ctx context.Context, shopID app.ShopID, evs []LoyaltyEvent) (int64, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key) VALUES `)
	args := make([]any, 0, len(evs)*12)
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.ID.String(), shopID, e.CustomerID, e.ShopifyCustomerID, e.Key, e.Channel, e.OccurredAt,
			string(e.Properties), e.PointsBalance, e.Tier, e.Currency, e.SourceKey)
	}
	b.WriteString(" ON CONFLICT (shop_id, id) DO NOTHING")
	res := s.db.WithContext(ctx).Exec(b.String(), args...)
	if res.Error != nil {
		return 0, fmt.Errorf("store: insert loyalty events: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// LoyaltyEventFilter narrows LoyaltyEvents.
type LoyaltyEventFilter struct {
	CustomerID int64  // row id; 0 for every customer
	Key        string // "" for every key
	AfterSeq   int64
	Limit      int // ≤ 0: 1000
}

// LoyaltyEvents returns the shop's events in the order they were stored.
func (s *Store) LoyaltyEvents(ctx context.Context, shopID app.ShopID, f LoyaltyEventFilter) ([]LoyaltyEvent, error) {
	q := s.db.WithContext(ctx).Where("shop_id = ? AND seq > ?", shopID, f.AfterSeq)
	if f.CustomerID != 0 {
		q = q.Where("customer_id = ?", f.CustomerID)
	}
	if f.Key != "" {
		q = q.Where("key = ?", f.Key)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var out []LoyaltyEvent
	if err := q.Order("seq").Limit(f.Limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: loyalty events: %w", formatError(err))
	}
	return out, nil
}
