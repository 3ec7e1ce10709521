package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/perkbridge/perkbridge/app"
)

// Webhook inbox statuses.
const (
	WebhookPending   = "pending"
	WebhookProcessed = "processed"
	WebhookFailed    = "failed"
	WebhookIgnored   = "ignored"
)

// Webhook is one stored delivery. ShopID is nil for unknown shops.
type Webhook struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            *app.ShopID
	ShopDomain        string
	WebhookID         string
	EventID           string
	Topic             string
	APIVersion        string `gorm:"column:api_version"`
	TriggeredAt       *time.Time
	ReceivedAt        time.Time
	Headers           json.RawMessage `gorm:"type:jsonb"`
	Body              []byte
	Status            string
	Attempts          int
	LastError         string
	ProcessedAt       *time.Time
	SubjectCustomerID *int64
	RedactedAt        *time.Time
}

// TableName implements gorm's tabler.
func (Webhook) TableName() string { return "webhooks" }

// LockWebhook returns the inbox row locked FOR UPDATE, so that two workers
// given the same row (a rescued job, a sweep) serialize on it and the second
// sees it processed. It is keyed by the inbox id alone because workers act
// for the system, not for a shop; the row carries its own shop id.
func (s *Store) LockWebhook(ctx context.Context, id int64) (*Webhook, error) {
	var w Webhook
	if err := s.db.WithContext(ctx).Raw("SELECT * FROM webhooks WHERE id = ? FOR UPDATE", id).Take(&w).Error; err != nil {
		return nil, fmt.Errorf("store: lock webhook: %w", formatError(err))
	}
	return &w, nil
}

// MarkWebhookProcessed records success, with the customer the payload was
// about (for customers/redact).
func (s *Store) MarkWebhookProcessed(ctx context.Context, id int64, subjectCustomerID *int64) error {
	err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ?", id).Updates(map[string]any{
		"status": WebhookProcessed, "processed_at": gorm.Expr("now()"), "attempts": gorm.Expr("attempts + 1"),
		"last_error": "", "subject_customer_id": subjectCustomerID,
	}).Error
	if err != nil {
		return fmt.Errorf("store: mark webhook processed: %w", formatError(err))
	}
	return nil
}

// MarkWebhookIgnored records that the delivery needs no effect (for example
// a topic for an uninstalled shop), with the reason and, when known, the
// customer the payload was about (for customers/redact).
func (s *Store) MarkWebhookIgnored(ctx context.Context, id int64, reason string, subjectCustomerID *int64) error {
	err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ?", id).Updates(map[string]any{
		"status": WebhookIgnored, "processed_at": gorm.Expr("now()"), "last_error": reason,
		"subject_customer_id": subjectCustomerID,
	}).Error
	if err != nil {
		return fmt.Errorf("store: mark webhook ignored: %w", formatError(err))
	}
	return nil
}

// RecordWebhookError counts a failed attempt with its reason; final marks
// the row failed so the merchant sees it and can reprocess it.
func (s *Store) RecordWebhookError(ctx context.Context, id int64, reason string, final bool) error {
	upd := map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": truncate(reason, 2000)}
	if final {
		upd["status"] = WebhookFailed
		upd["processed_at"] = gorm.Expr("now()")
	}
	err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ? AND status = ?", id, WebhookPending).Updates(upd).Error
	if err != nil {
		return fmt.Errorf("store: record webhook error: %w", formatError(err))
	}
	return nil
}

// WebhookFilter narrows ListWebhooks.
type WebhookFilter struct {
	Status string
	Topic  string
	Limit  int
}

// ListWebhooks returns the shop's most recent deliveries, without bodies.
func (s *Store) ListWebhooks(ctx context.Context, shopID app.ShopID, f WebhookFilter) ([]Webhook, error) {
	q := s.db.WithContext(ctx).Omit("body").Where("shop_id = ?", shopID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Topic != "" {
		q = q.Where("topic = ?", f.Topic)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var out []Webhook
	if err := q.Order("received_at DESC, id DESC").Limit(f.Limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", formatError(err))
	}
	return out, nil
}

// Webhook returns one of the shop's deliveries.
func (s *Store) Webhook(ctx context.Context, shopID app.ShopID, id int64) (*Webhook, error) {
	var w Webhook
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&w).Error; err != nil {
		return nil, fmt.Errorf("store: webhook: %w", formatError(err))
	}
	return &w, nil
}

// ResetWebhook puts a failed delivery of the shop back to pending so that it
// is processed again. Processed deliveries are not reset: their effects
// already happened once.
func (s *Store) ResetWebhook(ctx context.Context, shopID app.ShopID, id int64) error {
	res := s.db.WithContext(ctx).Model(&Webhook{}).
		Where("shop_id = ? AND id = ? AND status = ?", shopID, id, WebhookFailed).
		Updates(map[string]any{"status": WebhookPending, "processed_at": nil})
	if res.Error != nil {
		return fmt.Errorf("store: reset webhook: %w", formatError(res.Error))
	}
	if res.RowsAffected == 0 {
		if _, err := s.Webhook(ctx, shopID, id); err != nil {
			return err
		}
		return app.Errorf(app.ECONFLICT, "Only failed webhooks can be reprocessed.")
	}
	return nil
}

// StalePendingWebhooks returns ids of pending rows older than age, for the
// sweep that re-kicks work whose job was lost.
func (s *Store) StalePendingWebhooks(ctx context.Context, age time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Webhook{}).
		Where("status = ? AND received_at < ?", WebhookPending, time.Now().Add(-age)).
		Order("received_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: stale webhooks: %w", formatError(err))
	}
	return ids, nil
}

// WebhookCounts returns the number of inbox rows per status (for metrics).
func (s *Store) WebhookCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.db.WithContext(ctx).Raw("SELECT status, count(*) AS n FROM webhooks WHERE status IN ('pending','failed') GROUP BY status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: webhook counts: %w", formatError(err))
	}
	out := map[string]int64{WebhookPending: 0, WebhookFailed: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// RedactTarget names what customers/redact must leave no trace of in the
// stored webhook bodies: the customer (by Shopify id), their email and
// phone, and the orders Shopify lists in orders_to_redact (guest orders
// included).
type RedactTarget struct {
	ShopifyCustomerID int64
	Emails            []string
	Phones            []string
	OrderIDs          []int64
}

// RedactWebhooksNaming blanks every stored webhook body of the shop that
// names the target, whatever its topic or status (processed, ignored,
// failed, pending): the rows recorded with the customer as subject, and
// every body that contains the customer's GraphQL id or "customer_id", the
// email (case-insensitively), the phone, or one of the orders (GraphQL id
// or "order_id"). Bodies are searched as text where they are stored, so
// nothing the app copied survives in a payload. The rows stay (without
// personal data) so redelivered webhooks stay deduplicated.
func (s *Store) RedactWebhooksNaming(ctx context.Context, shopID app.ShopID, t RedactTarget) (int64, error) {
	var conds []string
	var args []any
	if t.ShopifyCustomerID != 0 {
		id := fmt.Sprint(t.ShopifyCustomerID)
		conds = append(conds, "m.subject_customer_id = ?", "strpos(b, ?) > 0", `b ~ ?`)
		args = append(args, t.ShopifyCustomerID, "gid://shopify/customer/"+id, `"customer_id":\s*`+id+`\y`)
	}
	for _, e := range t.Emails {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			conds = append(conds, "strpos(b, ?) > 0")
			args = append(args, e)
		}
	}
	for _, p := range t.Phones {
		if p = strings.TrimSpace(p); p != "" {
			conds = append(conds, "strpos(b, ?) > 0")
			args = append(args, strings.ToLower(p))
		}
	}
	for _, o := range t.OrderIDs {
		id := fmt.Sprint(o)
		conds = append(conds, "strpos(b, ?) > 0", `b ~ ?`)
		args = append(args, "gid://shopify/order/"+id, `"(order_)?id":\s*`+id+`\y`)
	}
	if len(conds) == 0 {
		return 0, nil
	}
	// b is the body as lower-case text: bytes that are not ASCII are
	// escaped by encode(…, 'escape'), which no search string contains.
	q := `UPDATE webhooks w SET body = '\x'::bytea, headers = '{}'::jsonb, redacted_at = now()
FROM (SELECT id, lower(encode(body, 'escape')) AS b, subject_customer_id FROM webhooks
      WHERE shop_id = ? AND redacted_at IS NULL) m
WHERE w.id = m.id AND (` + strings.Join(conds, " OR ") + `)`
	res := s.db.WithContext(ctx).Exec(q, append([]any{shopID}, args...)...)
	if res.Error != nil {
		return 0, fmt.Errorf("store: redact webhooks naming a customer: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// BlankWebhookBodiesBefore blanks up to limit stored webhook bodies
// received before the cutoff (any shop, any status: a failed one that old
// is past reprocessing), keeping the rows for deduplication and the
// merchant's history. It returns how many it blanked.
func (s *Store) BlankWebhookBodiesBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE webhooks SET body = '\x'::bytea, headers = '{}'::jsonb, redacted_at = now()
WHERE id IN (SELECT id FROM webhooks WHERE received_at < ? AND redacted_at IS NULL ORDER BY id LIMIT ?)`, cutoff, limit)
	if res.Error != nil {
		return 0, fmt.Errorf("store: blank old webhook bodies: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// RedactWebhookBody blanks one delivery's payload (compliance payloads carry
// the very personal data they ask us to delete).
func (s *Store) RedactWebhookBody(ctx context.Context, id int64) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE webhooks SET body = '\x'::bytea, headers = '{}'::jsonb, redacted_at = now() WHERE id = ?`, id).Error
	if err != nil {
		return fmt.Errorf("store: redact webhook: %w", formatError(err))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// DeleteShopWebhooks deletes the inbox rows stored under a domain that has
// no shop row (shop/redact for a shop that never finished installing).
func (s *Store) DeleteShopWebhooks(ctx context.Context, domain string) error {
	if err := s.db.WithContext(ctx).Exec("DELETE FROM webhooks WHERE shop_domain = ? AND shop_id IS NULL", domain).Error; err != nil {
		return fmt.Errorf("store: delete shop webhooks: %w", formatError(err))
	}
	return nil
}

// WebhookTopicCount is a count of deliveries per topic.
type WebhookTopicCount struct {
	Topic string `json:"topic"`
	Count int64  `json:"count"`
}

// CustomerWebhookSummary counts the stored deliveries about a customer, by
// topic, for data-request exports.
func (s *Store) CustomerWebhookSummary(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) ([]WebhookTopicCount, error) {
	out := []WebhookTopicCount{}
	err := s.db.WithContext(ctx).Raw(`SELECT topic, count(*) AS count FROM webhooks
WHERE shop_id = ? AND subject_customer_id = ? GROUP BY topic ORDER BY topic`, shopID, shopifyCustomerID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: webhook summary: %w", formatError(err))
	}
	return out, nil
}
