package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// Webhook is one stored delivery. ShopID is 0 for unknown shops (a
// domain without a shop row; migration 00068 made the column NOT NULL so
// the inbox can be distributed by shop), nil only before it is stored.
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
	// NextAttemptAt is when a pending row is due; LeaseHolder and
	// LeaseUntil name the claimer holding it (see ClaimWebhooks).
	NextAttemptAt time.Time
	LeaseHolder   *string
	LeaseUntil    *time.Time
	// OrderKey is the Shopify order the delivery is about ("" for none),
	// set at intake: claimers never apply two webhooks of one order at once.
	OrderKey string
}

// WebhooksChannel is the NOTIFY channel of new or reset pending inbox
// rows; the intake commit notifies it and claimers LISTEN on it.
const WebhooksChannel = "perkbridge_webhooks"

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

// ResetWebhook puts a failed delivery of the shop back to pending, due now
// with a fresh retry budget, so that it is processed again (the claimers'
// poll finds it; NotifyWebhooks wakes them at once). Processed deliveries
// are not reset: their effects already happened once.
func (s *Store) ResetWebhook(ctx context.Context, shopID app.ShopID, id int64) error {
	res := s.db.WithContext(ctx).Model(&Webhook{}).
		Where("shop_id = ? AND id = ? AND status = ?", shopID, id, WebhookFailed).
		Updates(map[string]any{"status": WebhookPending, "processed_at": nil, "attempts": 0,
			"next_attempt_at": gorm.Expr("now()"), "lease_holder": nil, "lease_until": nil})
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

// NotifyWebhooks wakes the claimers (inside a transaction: at its commit).
func (s *Store) NotifyWebhooks(ctx context.Context) error {
	if err := s.db.WithContext(ctx).Exec("SELECT pg_notify(?, '')", WebhooksChannel).Error; err != nil {
		return fmt.Errorf("store: notify webhooks: %w", formatError(err))
	}
	return nil
}

// ClaimWebhooks leases up to limit due pending inbox rows, oldest first,
// to holder for lease, and counts the attempt (so a webhook that kills its
// process every time still runs out of attempts). Rows locked by another
// claim or held under a live lease are skipped; a row whose holder died
// comes back once its lease has ended. The rows are returned in id order.
func (s *Store) ClaimWebhooks(ctx context.Context, holder string, limit int, lease time.Duration) ([]Webhook, error) {
	var out []Webhook
	err := s.db.WithContext(ctx).Raw(`UPDATE webhooks w SET lease_holder = ?, lease_until = now() + make_interval(secs => ?), attempts = w.attempts + 1
FROM (SELECT id FROM webhooks
      WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
      ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED) c
WHERE w.id = c.id
RETURNING w.*`, holder, lease.Seconds(), limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: claim webhooks: %w", formatError(err))
	}
	slices.SortFunc(out, func(a, b Webhook) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// WebhookOutcome is what became of one claimed inbox row.
type WebhookOutcome struct {
	ID     int64
	Holder string // the claim's holder: the outcome applies only if it still holds the row
	// Status is WebhookProcessed, WebhookIgnored or WebhookFailed (final),
	// or WebhookPending to try again at NextAttemptAt.
	Status            string
	Reason            string // ignored or failed: why; pending: the last error
	SubjectCustomerID *int64
	NextAttemptAt     time.Time
	// Uncount gives the claim's attempt back (the row was not tried:
	// shutdown, or a lock conflict with another batch).
	Uncount bool
}

// SettleWebhook records a claimed row's outcome and releases its lease. It
// reports false, changing nothing, when the row is no longer pending under
// o.Holder (the lease ended and another claimer took it): the caller must
// then undo the effects it applied. A row that no longer exists (its
// shop's data was deleted) is settled.
func (s *Store) SettleWebhook(ctx context.Context, o WebhookOutcome) (bool, error) {
	upd := map[string]any{"status": o.Status, "lease_holder": nil, "lease_until": nil}
	switch o.Status {
	case WebhookPending:
		upd["next_attempt_at"] = o.NextAttemptAt
		if o.Reason != "" {
			upd["last_error"] = truncate(o.Reason, 2000)
		}
		if o.Uncount {
			upd["attempts"] = gorm.Expr("greatest(attempts - 1, 0)")
		}
	default:
		upd["processed_at"] = gorm.Expr("now()")
		upd["last_error"] = truncate(o.Reason, 2000)
		if o.Status != WebhookFailed || o.SubjectCustomerID != nil {
			upd["subject_customer_id"] = o.SubjectCustomerID
		}
	}
	res := s.db.WithContext(ctx).Model(&Webhook{}).
		Where("id = ? AND status = ? AND lease_holder = ?", o.ID, WebhookPending, o.Holder).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("store: settle webhook: %w", formatError(res.Error))
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	// Gone is not lost: shop/redact deletes the shop's rows, its own
	// included, in the very transaction that settles it.
	var n int64
	if err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ?", o.ID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("store: settle webhook: %w", formatError(err))
	}
	return n == 0, nil
}

// ReleaseWebhooks gives rows still held by holder back untouched, due now;
// uncount gives their attempt back too (they were not tried: shutdown).
func (s *Store) ReleaseWebhooks(ctx context.Context, holder string, ids []int64, uncount bool) error {
	give := 0
	if uncount {
		give = 1
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE webhooks SET lease_holder = NULL, lease_until = NULL, next_attempt_at = now(),
    attempts = greatest(attempts - ?, 0)
WHERE id IN ? AND status = 'pending' AND lease_holder = ?`, give, ids, holder).Error
	if err != nil {
		return fmt.Errorf("store: release webhooks: %w", formatError(err))
	}
	return nil
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
	if err := s.db.WithContext(ctx).Exec("DELETE FROM webhooks WHERE shop_domain = ? AND shop_id = 0", domain).Error; err != nil {
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

// TryLockOrderKeys tries the transaction-level advisory locks of the given
// order keys without waiting, and returns those it holds now (another
// transaction holds the others). Nothing waits, so nothing convoys or
// deadlocks on them.
func (s *Store) TryLockOrderKeys(ctx context.Context, class int32, keys []int32) (map[int32]bool, error) {
	held := make(map[int32]bool, len(keys))
	if len(keys) == 0 {
		return held, nil
	}
	arr := make([]string, len(keys))
	for i, k := range keys {
		arr[i] = fmt.Sprint(k)
	}
	var rows []struct {
		K  int32
		OK bool
	}
	err := s.db.WithContext(ctx).Raw("SELECT k, pg_try_advisory_xact_lock(?::int, k) AS ok FROM unnest(?::int[]) AS k",
		class, "{"+strings.Join(arr, ",")+"}").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: try lock order keys: %w", formatError(err))
	}
	for _, r := range rows {
		if r.OK {
			held[r.K] = true
		}
	}
	return held, nil
}

// SetLockTimeout bounds, for the rest of the current transaction, how long
// a statement waits for a row or table lock (SET LOCAL lock_timeout); a
// statement that would wait longer fails with lock_not_available (55P03).
func (s *Store) SetLockTimeout(ctx context.Context, d time.Duration) error {
	err := s.db.WithContext(ctx).Exec(fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", d.Milliseconds())).Error
	if err != nil {
		return fmt.Errorf("store: lock timeout: %w", formatError(err))
	}
	return nil
}

// Savepoint marks a point of the current transaction that RollbackTo
// returns to, undoing what came after it and nothing before.
func (s *Store) Savepoint(ctx context.Context, name string) error {
	if err := s.db.WithContext(ctx).SavePoint(name).Error; err != nil {
		return fmt.Errorf("store: savepoint: %w", formatError(err))
	}
	return nil
}

// RollbackTo undoes the transaction's work since Savepoint(name); the
// transaction goes on, usable again after an error.
func (s *Store) RollbackTo(ctx context.Context, name string) error {
	s.ForgetBatchReads() // what was read since may be an undone write
	if err := s.db.WithContext(ctx).RollbackTo(name).Error; err != nil {
		return fmt.Errorf("store: rollback to savepoint: %w", formatError(err))
	}
	return nil
}

// RenewWebhookLeases extends the lease of the pending rows holder still
// holds. Rows locked by a transaction (the holder's own, which has settled
// them) are skipped rather than waited for.
func (s *Store) RenewWebhookLeases(ctx context.Context, holder string, lease time.Duration) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE webhooks SET lease_until = now() + make_interval(secs => ?)
WHERE id IN (SELECT id FROM webhooks WHERE lease_holder = ? AND status = 'pending' FOR UPDATE SKIP LOCKED)`, lease.Seconds(), holder).Error
	if err != nil {
		return fmt.Errorf("store: renew webhook leases: %w", formatError(err))
	}
	return nil
}
