package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
)

// LoyaltyAccount is a customer's loyalty state derived from the ledger. It
// is written only together with the ledger entries it sums, under the row
// lock LockLoyaltyAccount takes.
type LoyaltyAccount struct {
	CustomerID        int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	ShopifyCustomerID int64
	PointsBalance     int64
	PointsDebt        int64
	LifetimePoints    int64
	PointsEarned      int64
	AmountSpentMinor  int64
	TierKey           string
	TierSince         *time.Time
	BirthMonth        *int
	BirthDay          *int
	// BirthdaySetAt and BirthdaySetBy ("shopper" or "staff"): the last
	// change of the birthday, for the once-a-year rule.
	BirthdaySetAt  *time.Time
	BirthdaySetBy  string
	LastRedeemedAt *time.Time
	LastNudgedAt   *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName implements gorm's tabler.
func (LoyaltyAccount) TableName() string { return "loyalty_accounts" }

// EnsureCustomer returns the row id of the shop's customer with a Shopify
// id, creating a row from in when there is none (an order may arrive before
// customers/create). An existing row is left as it is: customers/create and
// customers/update own the identity.
func (s *Store) EnsureCustomer(ctx context.Context, shopID app.ShopID, in CustomerIdentity) (int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`
WITH ins AS (
    INSERT INTO customers (shop_id, shopify_id, gid, email, phone, first_name, last_name, state)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (shop_id, shopify_id) DO NOTHING
    RETURNING id)
SELECT id FROM ins UNION ALL SELECT id FROM customers WHERE shop_id = ? AND shopify_id = ? LIMIT 1`,
		shopID, in.ShopifyID, in.GID, strings.TrimSpace(in.Email), strings.TrimSpace(in.Phone), in.FirstName, in.LastName, in.State,
		shopID, in.ShopifyID).Scan(&ids).Error
	if err != nil {
		return 0, fmt.Errorf("store: ensure customer: %w", formatError(err))
	}
	if len(ids) == 0 {
		// A concurrent transaction inserted the row after this statement's
		// snapshot was taken (the INSERT waited for it, then did nothing):
		// a new statement sees it.
		err = s.db.WithContext(ctx).Raw("SELECT id FROM customers WHERE shop_id = ? AND shopify_id = ?", shopID, in.ShopifyID).Scan(&ids).Error
		if err != nil {
			return 0, fmt.Errorf("store: ensure customer: %w", formatError(err))
		}
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("store: ensure customer %d: no row", in.ShopifyID)
	}
	return ids[0], nil
}

// LockLoyaltyAccount returns the customer's account locked FOR UPDATE for
// the rest of the transaction, creating it at now when missing; created
// reports that; a zero shopifyCustomerID only locks an existing account.
// Every change to a customer's lots, ledger or account runs
// under this lock, so concurrent webhooks and jobs of one customer
// serialize and each plans from the latest lots.
func (s *Store) LockLoyaltyAccount(ctx context.Context, shopID app.ShopID, customerID, shopifyCustomerID int64, now time.Time) (acct *LoyaltyAccount, created bool, err error) {
	var rows []LoyaltyAccount
	q := "SELECT * FROM loyalty_accounts WHERE shop_id = ? AND customer_id = ? FOR UPDATE"
	if err := s.db.WithContext(ctx).Raw(q, shopID, customerID).Scan(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: lock loyalty account: %w", formatError(err))
	}
	if len(rows) == 1 {
		return &rows[0], false, nil
	}
	if shopifyCustomerID == 0 {
		return nil, false, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	// A row this statement returns is new, so this transaction holds it
	// already; only a conflict (created meanwhile) needs the lock read again.
	if err := s.db.WithContext(ctx).Raw(`INSERT INTO loyalty_accounts (customer_id, shop_id, shopify_customer_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (shop_id, customer_id) DO NOTHING RETURNING *`, customerID, shopID, shopifyCustomerID, now, now).Scan(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: create loyalty account: %w", formatError(err))
	}
	if len(rows) == 1 {
		return &rows[0], true, nil
	}
	if err := s.db.WithContext(ctx).Raw(q, shopID, customerID).Scan(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: lock loyalty account: %w", formatError(err))
	}
	if len(rows) != 1 {
		return nil, false, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	return &rows[0], false, nil
}

// LoyaltyAccount returns a customer's account without locking it.
func (s *Store) LoyaltyAccount(ctx context.Context, shopID app.ShopID, customerID int64) (*LoyaltyAccount, error) {
	var a LoyaltyAccount
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("store: loyalty account: %w", formatError(err))
	}
	return &a, nil
}

// SaveLoyaltyAccount writes the derived columns of a locked account.
func (s *Store) SaveLoyaltyAccount(ctx context.Context, shopID app.ShopID, a *LoyaltyAccount, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE loyalty_accounts SET
    points_balance = ?, points_debt = ?, lifetime_points = ?, points_earned = ?, amount_spent_minor = ?,
    tier_key = ?, tier_since = ?, birth_month = ?, birth_day = ?, birthday_set_at = ?, birthday_set_by = ?,
    last_redeemed_at = ?, last_nudged_at = ?, updated_at = ?
WHERE shop_id = ? AND customer_id = ?`,
		a.PointsBalance, a.PointsDebt, a.LifetimePoints, a.PointsEarned, a.AmountSpentMinor,
		a.TierKey, a.TierSince, a.BirthMonth, a.BirthDay, a.BirthdaySetAt, a.BirthdaySetBy, a.LastRedeemedAt, a.LastNudgedAt, now,
		shopID, a.CustomerID).Error
	if err != nil {
		return fmt.Errorf("store: save loyalty account: %w", formatError(err))
	}
	return nil
}

// LedgerEntry is one stored row of the append-only ledger.
type LedgerEntry struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	CustomerID        int64
	ShopifyCustomerID int64
	Kind              string
	Points            int64
	Reason            string
	OrderGID          string `gorm:"column:order_gid"`
	RefundGID         string `gorm:"column:refund_gid"`
	BaseMinor         int64
	IdempotencyKey    string
	LotID             *int64
	Allocations       json.RawMessage `gorm:"type:jsonb"`
	Shortfall         int64
	DebtSettled       int64
	Actor             string
	WebhookID         *int64
	CreatedAt         time.Time
	ExpiresAt         *time.Time
	AvailableAt       *time.Time
}

// TableName implements gorm's tabler.
func (LedgerEntry) TableName() string { return "ledger_entries" }

// Entry returns the domain form of the row.
func (e LedgerEntry) Entry() ledger.Entry {
	out := ledger.Entry{
		Kind: ledger.Kind(e.Kind), Points: e.Points, Reason: e.Reason, OrderID: e.OrderGID, RefundID: e.RefundGID,
		BaseMinor: e.BaseMinor, IdempotencyKey: e.IdempotencyKey, Shortfall: e.Shortfall, DebtSettled: e.DebtSettled,
		CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt, AvailableAt: e.AvailableAt,
	}
	if e.LotID != nil {
		out.LotID = *e.LotID
	}
	_ = json.Unmarshal(e.Allocations, &out.Allocations)
	return out
}

// EntryMeta is what a stored entry carries besides the domain entry: whose
// it is and who caused it.
type EntryMeta struct {
	CustomerID        int64
	ShopifyCustomerID int64
	Actor             string
	WebhookID         *int64
}

// AppendCredit appends a credit entry and opens its lot (when lot.Points is
// above zero) in one statement: the entry's INSERT draws the lot id from the
// lots' sequence and the lot is inserted only if the entry was, so the entry
// is never updated. The insert is idempotent on (shop, e.IdempotencyKey):
// inserted is false, and nothing is written, when the key exists. The
// caller holds the account lock.
func (s *Store) AppendCredit(ctx context.Context, shopID app.ShopID, m EntryMeta, e ledger.Entry, lot ledger.Lot) (lotID int64, inserted bool, err error) {
	if e.Points <= 0 {
		return 0, false, app.Errorf(app.EINVALID, "A credit must add points.")
	}
	var rows []struct {
		ID    int64
		LotID *int64
	}
	err = s.db.WithContext(ctx).Raw(`
WITH e AS (
    INSERT INTO ledger_entries (shop_id, customer_id, shopify_customer_id, kind, points, reason, order_gid, refund_gid,
        base_minor, idempotency_key, lot_id, debt_settled, actor, webhook_id, created_at, expires_at, available_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN nextval('point_lots_id_seq') END, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (shop_id, idempotency_key) DO NOTHING
    RETURNING id, lot_id),
l AS (
    INSERT INTO point_lots (id, shop_id, customer_id, points, remaining, source_key, created_at, available_at, expires_at)
    SELECT lot_id, ?::bigint, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::timestamptz, ?::timestamptz, ?::timestamptz
    FROM e WHERE lot_id IS NOT NULL
    RETURNING id)
SELECT id, lot_id FROM e`,
		shopID, m.CustomerID, m.ShopifyCustomerID, string(e.Kind), e.Points, e.Reason, e.OrderID, e.RefundID,
		e.BaseMinor, e.IdempotencyKey, lot.Points > 0, e.DebtSettled, m.Actor, m.WebhookID, e.CreatedAt, e.ExpiresAt, e.AvailableAt,
		shopID, m.CustomerID, lot.Points, lot.Remaining, lot.SourceKey, lot.CreatedAt, lot.AvailableAt, lot.ExpiresAt).
		Scan(&rows).Error
	if err != nil {
		return 0, false, fmt.Errorf("store: append credit: %w", formatError(err))
	}
	if len(rows) == 0 {
		return 0, false, nil
	}
	if rows[0].LotID == nil {
		return 0, true, nil
	}
	return *rows[0].LotID, true, nil
}

// AppendDebit appends a debit entry (points ≤ 0) and draws its allocations
// from the customer's lots. It is idempotent on (shop, e.IdempotencyKey):
// inserted is false, and no lot is touched, when the key exists. A lot that
// no longer holds what the plan draws is an ECONFLICT: the plan was made
// from stale lots, and the whole transaction must be retried.
func (s *Store) AppendDebit(ctx context.Context, shopID app.ShopID, m EntryMeta, e ledger.Entry) (inserted bool, err error) {
	if e.Points > 0 {
		return false, app.Errorf(app.EINVALID, "A debit cannot add points.")
	}
	allocs := e.Allocations
	if allocs == nil {
		allocs = []ledger.Allocation{}
	}
	b, err := json.Marshal(allocs)
	if err != nil {
		return false, fmt.Errorf("store: append debit: %w", err)
	}
	var lotID *int64
	if e.LotID != 0 {
		lotID = &e.LotID
	}
	res := s.db.WithContext(ctx).Exec(`
INSERT INTO ledger_entries (shop_id, customer_id, shopify_customer_id, kind, points, reason, order_gid, refund_gid,
    base_minor, idempotency_key, lot_id, allocations, shortfall, actor, webhook_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (shop_id, idempotency_key) DO NOTHING`,
		shopID, m.CustomerID, m.ShopifyCustomerID, string(e.Kind), e.Points, e.Reason, e.OrderID, e.RefundID,
		e.BaseMinor, e.IdempotencyKey, lotID, string(b), e.Shortfall, m.Actor, m.WebhookID, e.CreatedAt)
	if res.Error != nil {
		return false, fmt.Errorf("store: append debit: %w", formatError(res.Error))
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	for _, a := range e.Allocations {
		r := s.db.WithContext(ctx).Exec(`UPDATE point_lots SET remaining = remaining - ?
WHERE shop_id = ? AND customer_id = ? AND id = ? AND remaining >= ?`, a.Points, shopID, m.CustomerID, a.LotID, a.Points)
		if r.Error != nil {
			return false, fmt.Errorf("store: draw lot: %w", formatError(r.Error))
		}
		if r.RowsAffected != 1 {
			return false, app.Errorf(app.ECONFLICT, "Points changed meanwhile; try again.")
		}
	}
	return true, nil
}

// LedgerKeyExists reports whether the shop's ledger holds an entry with key.
func (s *Store) LedgerKeyExists(ctx context.Context, shopID app.ShopID, key string) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw("SELECT count(*) FROM ledger_entries WHERE shop_id = ? AND idempotency_key = ?", shopID, key).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("store: ledger key: %w", formatError(err))
	}
	return n > 0, nil
}

// LedgerEntries returns a customer's entries, oldest first; limit ≤ 0
// returns them all, otherwise the newest limit ones.
func (s *Store) LedgerEntries(ctx context.Context, shopID app.ShopID, customerID int64, limit int) ([]LedgerEntry, error) {
	var out []LedgerEntry
	q := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID)
	if limit > 0 {
		q = q.Order("id DESC").Limit(limit)
	} else {
		q = q.Order("id")
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: ledger entries: %w", formatError(err))
	}
	if limit > 0 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// ShopLedger returns every ledger entry of the shop, oldest first (for
// exports and tests).
func (s *Store) ShopLedger(ctx context.Context, shopID app.ShopID) ([]LedgerEntry, error) {
	var out []LedgerEntry
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: shop ledger: %w", formatError(err))
	}
	return out, nil
}

// PointLot is a stored lot.
type PointLot struct {
	ID          int64 `gorm:"primaryKey"`
	ShopID      app.ShopID
	CustomerID  int64
	Points      int64
	Remaining   int64
	SourceKey   string
	CreatedAt   time.Time
	AvailableAt *time.Time
	ExpiresAt   *time.Time
}

// TableName implements gorm's tabler.
func (PointLot) TableName() string { return "point_lots" }

// Lot returns the domain form of the row.
func (l PointLot) Lot() ledger.Lot {
	return ledger.Lot{ID: l.ID, Points: l.Points, Remaining: l.Remaining, CreatedAt: l.CreatedAt,
		AvailableAt: l.AvailableAt, ExpiresAt: l.ExpiresAt, SourceKey: l.SourceKey}
}

// OpenLots returns a customer's lots that still hold points, in id order.
func (s *Store) OpenLots(ctx context.Context, shopID app.ShopID, customerID int64) ([]ledger.Lot, error) {
	var rows []PointLot
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ? AND remaining > 0", shopID, customerID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: open lots: %w", formatError(err))
	}
	out := make([]ledger.Lot, len(rows))
	for i, r := range rows {
		out[i] = r.Lot()
	}
	return out, nil
}

// Lots returns every lot of a customer, spent ones included, in id order.
func (s *Store) Lots(ctx context.Context, shopID app.ShopID, customerID int64) ([]ledger.Lot, error) {
	var rows []PointLot
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: lots: %w", formatError(err))
	}
	out := make([]ledger.Lot, len(rows))
	for i, r := range rows {
		out[i] = r.Lot()
	}
	return out, nil
}

// TierActivity is one contribution to a customer's tier metrics.
type TierActivity struct {
	CustomerID int64
	OccurredAt time.Time
	SpentMinor int64
	Points     int64
	SourceKey  string
}

// AddTierActivity records a contribution to a customer's tier metrics.
func (s *Store) AddTierActivity(ctx context.Context, shopID app.ShopID, a TierActivity) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO tier_activities (shop_id, customer_id, occurred_at, spent_minor, points, source_key)
VALUES (?, ?, ?, ?, ?, ?)`, shopID, a.CustomerID, a.OccurredAt, a.SpentMinor, a.Points, a.SourceKey).Error
	if err != nil {
		return fmt.Errorf("store: tier activity: %w", formatError(err))
	}
	return nil
}

// TierActivities returns a customer's contributions at or after from.
func (s *Store) TierActivities(ctx context.Context, shopID app.ShopID, customerID int64, from time.Time) ([]TierActivity, error) {
	var out []TierActivity
	err := s.db.WithContext(ctx).Raw(`SELECT customer_id, occurred_at, spent_minor, points, source_key FROM tier_activities
WHERE shop_id = ? AND customer_id = ? AND occurred_at >= ? ORDER BY occurred_at, id`, shopID, customerID, from).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: tier activities: %w", formatError(err))
	}
	return out, nil
}

// Notice kinds.
const (
	NoticeExpiryReminder = "expiry_reminder"
	NoticeUnusedNudge    = "unused_nudge"
)

// RecordNotice remembers a reminder or nudge by its natural key; inserted is
// false when it was already sent.
func (s *Store) RecordNotice(ctx context.Context, shopID app.ShopID, customerID int64, kind, key string, lotID *int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`INSERT INTO loyalty_notices (shop_id, customer_id, kind, key, lot_id, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id, key) DO NOTHING`, shopID, customerID, kind, key, lotID, now)
	if res.Error != nil {
		return false, fmt.Errorf("store: record notice: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// NoticeKeys returns which of keys were already recorded for the shop.
func (s *Store) NoticeKeys(ctx context.Context, shopID app.ShopID, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var found []string
	if err := s.db.WithContext(ctx).Raw("SELECT key FROM loyalty_notices WHERE shop_id = ? AND key IN ?", shopID, keys).Scan(&found).Error; err != nil {
		return nil, fmt.Errorf("store: notice keys: %w", formatError(err))
	}
	for _, k := range found {
		out[k] = true
	}
	return out, nil
}

// CustomerIDsWithExpiredLots returns customers of the shop with points in
// lots that expired at now, up to limit.
func (s *Store) CustomerIDsWithExpiredLots(ctx context.Context, shopID app.ShopID, now time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT customer_id FROM point_lots
WHERE shop_id = ? AND remaining > 0 AND expires_at <= ? ORDER BY customer_id LIMIT ?`, shopID, now, limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: expired lots: %w", formatError(err))
	}
	return ids, nil
}

// CustomerIDsWithLotsExpiringBy returns customers of the shop with points in
// lots that expire after now and by until, with an id above after, up to
// limit, in id order.
func (s *Store) CustomerIDsWithLotsExpiringBy(ctx context.Context, shopID app.ShopID, now, until time.Time, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT customer_id FROM point_lots
WHERE shop_id = ? AND remaining > 0 AND expires_at > ? AND expires_at <= ? AND customer_id > ?
ORDER BY customer_id LIMIT ?`, shopID, now, until, after, limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: expiring lots: %w", formatError(err))
	}
	return ids, nil
}

// BirthdayCandidate is a customer who may have a birthday today: the
// account's birthday, or the cached facts.birth_date metafield.
type BirthdayCandidate struct {
	CustomerID        int64
	ShopifyCustomerID int64
	BirthMonth        *int
	BirthDay          *int
	MetafieldDOB      string
}

// BirthdayCandidates returns customers of the shop whose stored birthday or
// facts.birth_date metafield ("YYYY-MM-DD") falls on one of monthDays
// ("MM-DD"), with an id above after, up to limit.
func (s *Store) BirthdayCandidates(ctx context.Context, shopID app.ShopID, monthDays []string, after int64, limit int) ([]BirthdayCandidate, error) {
	var out []BirthdayCandidate
	err := s.db.WithContext(ctx).Raw(`
SELECT a.customer_id, a.shopify_customer_id, a.birth_month, a.birth_day, coalesce(c.metafields->>'facts.birth_date', '') AS metafield_dob
FROM loyalty_accounts a JOIN customers c ON c.id = a.customer_id
WHERE a.shop_id = ? AND a.customer_id > ? AND (
    (a.birth_month IS NOT NULL AND lpad(a.birth_month::text, 2, '0') || '-' || lpad(a.birth_day::text, 2, '0') IN ?)
 OR (a.birth_month IS NULL AND substring(c.metafields->>'facts.birth_date' from 6 for 5) IN ?))
ORDER BY a.customer_id LIMIT ?`, shopID, after, monthDays, monthDays, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: birthday candidates: %w", formatError(err))
	}
	return out, nil
}

// NudgeCandidates returns customers of the shop with at least minBalance
// points whose last redemption (or joining) and last nudge are both at or
// before quietSince, with an id above after, up to limit.
func (s *Store) NudgeCandidates(ctx context.Context, shopID app.ShopID, minBalance int64, quietSince time.Time, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT customer_id FROM loyalty_accounts
WHERE shop_id = ? AND points_balance >= ? AND points_balance > 0 AND customer_id > ?
  AND coalesce(last_redeemed_at, created_at) <= ? AND (last_nudged_at IS NULL OR last_nudged_at <= ?)
ORDER BY customer_id LIMIT ?`, shopID, minBalance, after, quietSince, quietSince, limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: nudge candidates: %w", formatError(err))
	}
	return ids, nil
}

// TierReviewCandidates returns customers of the shop holding a tier since
// at or before heldSince, with an id above after, up to limit.
func (s *Store) TierReviewCandidates(ctx context.Context, shopID app.ShopID, heldSince time.Time, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT customer_id FROM loyalty_accounts
WHERE shop_id = ? AND tier_key <> '' AND tier_since <= ? AND customer_id > ?
ORDER BY customer_id LIMIT ?`, shopID, heldSince, after, limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: tier candidates: %w", formatError(err))
	}
	return ids, nil
}

// CustomerByID returns the shop's customer with a row id.
func (s *Store) CustomerByID(ctx context.Context, shopID app.ShopID, id int64) (*Customer, error) {
	var c Customer
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("store: customer: %w", formatError(err))
	}
	return &c, nil
}

// MoveCustomerState re-parents the rows that follow a customer after a
// merge (orders, so later refunds reach the kept customer; unredeemed
// coupons; tier activities; reviews) from one customer to another. Ledger entries,
// lots and events stay: the merge moves points with ledger transfers.
func (s *Store) MoveCustomerState(ctx context.Context, shopID app.ShopID, fromID, toID, toShopifyID int64) error {
	for _, q := range []string{
		"UPDATE orders SET customer_id = ?, shopify_customer_id = ?, updated_at = now() WHERE shop_id = ? AND customer_id = ?",
		"UPDATE coupons SET customer_id = ?, shopify_customer_id = ?, updated_at = now() WHERE shop_id = ? AND customer_id = ? AND redeemed_at IS NULL",
	} {
		if err := s.db.WithContext(ctx).Exec(q, toID, toShopifyID, shopID, fromID).Error; err != nil {
			return fmt.Errorf("store: move customer state: %w", formatError(err))
		}
	}
	if err := s.db.WithContext(ctx).Exec("UPDATE tier_activities SET customer_id = ? WHERE shop_id = ? AND customer_id = ?", toID, shopID, fromID).Error; err != nil {
		return fmt.Errorf("store: move tier activities: %w", formatError(err))
	}
	return s.moveReviews(ctx, shopID, fromID, toID, toShopifyID)
}

// LockOrdersOf locks the orders of a customer (before the accounts, the
// lock order every order webhook follows).
func (s *Store) LockOrdersOf(ctx context.Context, shopID app.ShopID, customerID int64) error {
	var ids []int64
	if err := s.db.WithContext(ctx).Raw("SELECT id FROM orders WHERE shop_id = ? AND customer_id = ? ORDER BY id FOR UPDATE", shopID, customerID).Scan(&ids).Error; err != nil {
		return fmt.Errorf("store: lock orders: %w", formatError(err))
	}
	return nil
}

// LedgerSum is one group of LedgerTotals: the points of the shop's entries
// of one kind, one sign, and with or without the given reason.
type LedgerSum struct {
	Kind       string
	WithReason bool // the entries' reason is the one LedgerTotals was asked about
	Positive   bool
	Points     int64
}

// LedgerTotals sums the shop's ledger by kind, sign and whether the
// entry's reason is reason, in one aggregate query: the program's figures
// without reading the ledger.
func (s *Store) LedgerTotals(ctx context.Context, shopID app.ShopID, reason string) ([]LedgerSum, error) {
	var out []LedgerSum
	err := s.db.WithContext(ctx).Raw(`
SELECT kind, reason = ? AS with_reason, points > 0 AS positive, sum(points) AS points
FROM ledger_entries WHERE shop_id = ?
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, reason, shopID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: ledger totals: %w", formatError(err))
	}
	return out, nil
}
