package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/referral"
)

// EnsureReferralCode returns the member's referral code, creating it on
// first need (see EnsureReferralCodes).
func (s *Store) EnsureReferralCode(ctx context.Context, shopID app.ShopID, customerID int64) (string, error) {
	codes, err := s.EnsureReferralCodes(ctx, shopID, []int64{customerID})
	if err != nil {
		return "", err
	}
	code, ok := codes[customerID]
	if !ok {
		return "", app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	return code, nil
}

// EnsureReferralCodes returns the referral codes of the shop's customers
// (customer row id → code), giving each one without a code a fresh random
// one. A code, once given, never changes. Inserts skip both conflicts: a
// concurrent caller that gave the same customer a code first (its code is
// read back) and a code already taken in the shop (the customer draws
// again). Customers of another shop are absent from the result.
func (s *Store) EnsureReferralCodes(ctx context.Context, shopID app.ShopID, customerIDs []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(customerIDs))
	if len(customerIDs) == 0 {
		return out, nil
	}
	read := func(ids []int64) error {
		var rows []struct {
			CustomerID int64
			Code       string
		}
		err := s.db.WithContext(ctx).Raw(`SELECT customer_id, code FROM referral_codes WHERE shop_id = ? AND customer_id IN ?`,
			shopID, ids).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("store: referral codes: %w", formatError(err))
		}
		for _, r := range rows {
			out[r.CustomerID] = r.Code
		}
		return nil
	}
	if err := read(customerIDs); err != nil {
		return nil, err
	}
	for range 5 {
		type newCode struct {
			CustomerID int64  `json:"customer_id"`
			Code       string `json:"code"`
		}
		var missing []int64
		var rows []newCode
		for _, id := range customerIDs {
			if _, ok := out[id]; !ok {
				missing = append(missing, id)
				rows = append(rows, newCode{id, referral.NewCode()})
			}
		}
		if len(missing) == 0 {
			return out, nil
		}
		doc, err := json.Marshal(rows)
		if err != nil {
			return nil, fmt.Errorf("store: create referral codes: %w", err)
		}
		// Only the shop's own customers get a code: the join scopes the ids.
		err = s.db.WithContext(ctx).Exec(`INSERT INTO referral_codes (customer_id, shop_id, code)
SELECT c.id, c.shop_id, v.code FROM jsonb_to_recordset(?::jsonb) AS v(customer_id bigint, code text)
JOIN customers c ON c.id = v.customer_id AND c.shop_id = ?
ORDER BY c.id
ON CONFLICT DO NOTHING`, string(doc), shopID).Error
		if err != nil {
			return nil, fmt.Errorf("store: create referral codes: %w", formatError(err))
		}
		before := len(out)
		if err := read(missing); err != nil {
			return nil, err
		}
		if len(out) == before {
			return out, nil // the rest are not the shop's customers
		}
	}
	return out, nil
}

// ReferralCodeOwner returns the shop's customer whose referral code is
// code (as stored: upper case).
func (s *Store) ReferralCodeOwner(ctx context.Context, shopID app.ShopID, code string) (*Customer, error) {
	var c Customer
	err := s.db.WithContext(ctx).Raw(`SELECT c.* FROM referral_codes r JOIN customers c ON c.id = r.customer_id
WHERE r.shop_id = ? AND r.code = ?`, shopID, code).Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("store: referral code owner: %w", formatError(err))
	}
	return &c, nil
}

// Referral statuses.
const (
	ReferralOpen      = "open"      // the friend has a discount code and has not ordered yet
	ReferralVerifying = "verifying" // the friend's first paid order waits for the checks with Shopify
	ReferralCompleted = "completed" // the friend's first qualifying order rewarded the referrer
	ReferralBlocked   = "blocked"   // a fraud check failed (BlockReason); the merchant may approve it
)

// Referral is one referred friend.
type Referral struct {
	ID                 int64 `gorm:"primaryKey"`
	ShopID             app.ShopID
	ReferrerCustomerID int64
	ReferralCode       string
	FriendEmail        string
	FriendCustomerID   *int64
	Status             string
	CouponCode         string
	DiscountType       string
	DiscountValue      string // decimal text: percent, or amount in major units
	CouponStatus       string // CouponPending, CouponActive or CouponFailed
	ShopifyDiscountID  string
	Attempts           int
	LastError          string
	CompletedOrderGID  string `gorm:"column:completed_order_gid"`
	ReferrerPoints     int64
	CompletedAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
	// Fraud checks (migration 00043).
	BlockReason      string
	BlockedAt        *time.Time
	ApprovedAt       *time.Time
	ApprovedBy       string
	FriendOrderEmail string // the order's email, canonical (referral.CanonicalEmail)
	VerifyAttempts   int
	VerifyError      string
}

// TableName implements gorm's tabler.
func (Referral) TableName() string { return "referrals" }

// InsertReferral stores an open referral with its pending friend coupon.
// inserted is false when nothing was written: either the friend's email
// was referred already (ReferralByFriendEmail finds it) or the coupon code
// is taken (the caller draws another).
func (s *Store) InsertReferral(ctx context.Context, shopID app.ShopID, r *Referral) (bool, error) {
	var rows []Referral
	status := r.Status
	if status == "" {
		status = ReferralOpen
	}
	var blockedAt *time.Time
	if status == ReferralBlocked {
		blockedAt = &r.CreatedAt
	}
	err := s.db.WithContext(ctx).Raw(`INSERT INTO referrals (shop_id, referrer_customer_id, referral_code, friend_email,
    coupon_code, discount_type, discount_value, status, block_reason, blocked_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
		shopID, r.ReferrerCustomerID, r.ReferralCode, r.FriendEmail, r.CouponCode, r.DiscountType, r.DiscountValue,
		status, r.BlockReason, blockedAt, r.CreatedAt, r.CreatedAt).Scan(&rows).Error
	if err != nil {
		return false, fmt.Errorf("store: insert referral: %w", formatError(err))
	}
	if len(rows) == 0 {
		return false, nil
	}
	*r = rows[0]
	return true, nil
}

// Referral returns one of the shop's referrals.
func (s *Store) Referral(ctx context.Context, shopID app.ShopID, id int64) (*Referral, error) {
	var r Referral
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("store: referral: %w", formatError(err))
	}
	return &r, nil
}

// ReferralByFriendEmail returns the shop's first referral of a friend
// email (lower case); other members' later referrals of the same email are
// blocked ones.
func (s *Store) ReferralByFriendEmail(ctx context.Context, shopID app.ShopID, email string) (*Referral, error) {
	var r Referral
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND friend_email = ?", shopID, email).Order("id").Take(&r).Error; err != nil {
		return nil, fmt.Errorf("store: referral: %w", formatError(err))
	}
	return &r, nil
}

// ReferralsBy lists the referrals a member made, newest first.
func (s *Store) ReferralsBy(ctx context.Context, shopID app.ShopID, referrerCustomerID int64) ([]Referral, error) {
	var out []Referral
	err := s.db.WithContext(ctx).Where("shop_id = ? AND referrer_customer_id = ?", shopID, referrerCustomerID).Order("id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: referrals: %w", formatError(err))
	}
	return out, nil
}

// LockOpenReferralForOrder finds the open referral an order belongs to and
// locks it FOR UPDATE for the rest of the transaction: the one whose
// friend coupon the order used (any of codes, any case), else the one
// whose friend email is the order's customer email. ENOTFOUND when none.
// The lock makes two deliveries of the friend's orders, racing, complete
// it once: the second waits, then sees it completed.
func (s *Store) LockOpenReferralForOrder(ctx context.Context, shopID app.ShopID, codes []string, email string) (*Referral, error) {
	lower := make([]string, 0, len(codes))
	for _, c := range codes {
		if c != "" {
			lower = append(lower, strings.ToLower(c))
		}
	}
	var rows []Referral
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM referrals
WHERE shop_id = ? AND status = 'open' AND (lower(coupon_code) IN ? OR (? <> '' AND friend_email = lower(?)))
ORDER BY (lower(coupon_code) IN ?) DESC, id
LIMIT 1 FOR UPDATE`, shopID, lower, email, email, lower).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: lock referral: %w", formatError(err))
	}
	if len(rows) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "No open referral.")
	}
	return &rows[0], nil
}

// CompleteReferral marks a referral completed, from status from
// (ReferralVerifying after the checks passed, ReferralBlocked when the
// merchant approved it: approvedBy names them); it reports whether the row
// was still in status from, so that one caller only pays the referrer.
func (s *Store) CompleteReferral(ctx context.Context, shopID app.ShopID, id int64, from string, points int64, approvedBy string, now time.Time) (bool, error) {
	var approvedAt *time.Time
	if approvedBy != "" {
		approvedAt = &now
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE referrals SET status = 'completed', referrer_points = ?, completed_at = ?,
    approved_at = ?, approved_by = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = ? AND friend_customer_id IS NOT NULL AND completed_order_gid <> ''`,
		points, now, approvedAt, approvedBy, now, shopID, id, from)
	if res.Error != nil {
		return false, fmt.Errorf("store: complete referral: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// FriendOrder is the friend's paid order that moves a referral to
// verifying: its customer row, order and email (canonical).
type FriendOrder struct {
	CustomerID int64
	OrderGID   string
	Email      string
}

// MarkReferralVerifying moves an open referral to ReferralVerifying with
// the friend's order; it reports whether the row was still open.
func (s *Store) MarkReferralVerifying(ctx context.Context, shopID app.ShopID, id int64, o FriendOrder, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE referrals SET status = 'verifying', friend_customer_id = ?, completed_order_gid = ?,
    friend_order_email = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'open'`, o.CustomerID, o.OrderGID, o.Email, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: referral verifying: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// BlockReferral moves a verifying referral to ReferralBlocked with the
// reason; it reports whether the row was still verifying.
func (s *Store) BlockReferral(ctx context.Context, shopID app.ShopID, id int64, reason string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE referrals SET status = 'blocked', block_reason = ?, blocked_at = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'verifying'`, truncate(reason, 500), now, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: block referral: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// LockReferral returns one of the shop's referrals locked FOR UPDATE for
// the rest of the transaction.
func (s *Store) LockReferral(ctx context.Context, shopID app.ShopID, id int64) (*Referral, error) {
	var rows []Referral
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM referrals WHERE shop_id = ? AND id = ? FOR UPDATE`, shopID, id).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: lock referral: %w", formatError(err))
	}
	if len(rows) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "Referral not found.")
	}
	return &rows[0], nil
}

// RecordReferralVerifyAttempt counts a failed attempt to check a
// verifying referral with Shopify.
func (s *Store) RecordReferralVerifyAttempt(ctx context.Context, shopID app.ShopID, id int64, reason string, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE referrals SET verify_attempts = verify_attempts + 1, verify_error = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'verifying'`, truncate(reason, 2000), now, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: referral verify attempt: %w", formatError(err))
	}
	return nil
}

// StaleVerifyingReferrals returns referrals verifying since before
// olderThan (a kick lost), for the sweep that re-kicks their checks. It
// acts for the system.
func (s *Store) StaleVerifyingReferrals(ctx context.Context, olderThan time.Time, limit int) ([]PendingReferralCoupon, error) {
	var out []PendingReferralCoupon
	err := s.db.WithContext(ctx).Raw(`SELECT shop_id, id FROM referrals WHERE status = 'verifying' AND updated_at < ?
ORDER BY updated_at LIMIT ?`, olderThan, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: verifying referrals: %w", formatError(err))
	}
	return out, nil
}

// ReferralListItem is a referral as the merchant's list shows it.
type ReferralListItem struct {
	Referral
	ReferrerShopifyID int64
	ReferrerEmail     string
	ReferrerFirstName string
	FriendShopifyID   *int64
}

// ListReferrals returns the shop's referrals in status (all when ""),
// newest first (blocked ones by when they were blocked), at most limit.
func (s *Store) ListReferrals(ctx context.Context, shopID app.ShopID, status string, limit int) ([]ReferralListItem, error) {
	var out []ReferralListItem
	err := s.db.WithContext(ctx).Raw(`SELECT r.*, c.shopify_id AS referrer_shopify_id, c.email AS referrer_email,
    c.first_name AS referrer_first_name, f.shopify_id AS friend_shopify_id
FROM referrals r JOIN customers c ON c.id = r.referrer_customer_id
LEFT JOIN customers f ON f.id = r.friend_customer_id
WHERE r.shop_id = ? AND (? = '' OR r.status = ?)
ORDER BY coalesce(r.blocked_at, r.created_at) DESC, r.id DESC LIMIT ?`, shopID, status, status, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: list referrals: %w", formatError(err))
	}
	return out, nil
}

// ReferralOf returns the referral a member made of a friend email.
func (s *Store) ReferralOf(ctx context.Context, shopID app.ShopID, referrerCustomerID int64, email string) (*Referral, error) {
	var r Referral
	err := s.db.WithContext(ctx).Where("shop_id = ? AND referrer_customer_id = ? AND friend_email = ?", shopID, referrerCustomerID, email).Take(&r).Error
	if err != nil {
		return nil, fmt.Errorf("store: referral: %w", formatError(err))
	}
	return &r, nil
}

// FriendReferredBefore reports whether another member than
// referrerCustomerID referred the friend email first.
func (s *Store) FriendReferredBefore(ctx context.Context, shopID app.ShopID, referrerCustomerID int64, email string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM referrals WHERE shop_id = ? AND friend_email = ? AND referrer_customer_id <> ?`,
		shopID, email, referrerCustomerID).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("store: referred before: %w", formatError(err))
	}
	return n > 0, nil
}

// ReferralSegment returns the shop's cached Shopify segment of customers
// without orders, "" when none was created yet.
func (s *Store) ReferralSegment(ctx context.Context, shopID app.ShopID) (string, error) {
	var gids []string
	err := s.db.WithContext(ctx).Raw(`SELECT segment_gid FROM referral_segments WHERE shop_id = ?`, shopID).Scan(&gids).Error
	if err != nil {
		return "", fmt.Errorf("store: referral segment: %w", formatError(err))
	}
	if len(gids) == 0 {
		return "", nil
	}
	return gids[0], nil
}

// SaveReferralSegment caches the shop's segment id.
func (s *Store) SaveReferralSegment(ctx context.Context, shopID app.ShopID, gid string, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO referral_segments (shop_id, segment_gid, created_at) VALUES (?, ?, ?)
ON CONFLICT (shop_id) DO UPDATE SET segment_gid = excluded.segment_gid`, shopID, gid, now).Error
	if err != nil {
		return fmt.Errorf("store: save referral segment: %w", formatError(err))
	}
	return nil
}

// CountReferralAttempt counts one attempt of a client (clientKey, a hash
// of its address) at the shop's referral form in the window starting at
// window, and returns the attempts in that window, this one included.
// Rows of windows older than a day are deleted on the way.
func (s *Store) CountReferralAttempt(ctx context.Context, shopID app.ShopID, clientKey string, window time.Time) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw(`INSERT INTO referral_attempts (shop_id, client_key, window_start, attempts) VALUES (?, ?, ?, 1)
ON CONFLICT (shop_id, client_key, window_start) DO UPDATE SET attempts = referral_attempts.attempts + 1
RETURNING attempts`, shopID, clientKey, window).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: referral attempt: %w", formatError(err))
	}
	if n == 1 {
		// The first attempt of a window: a good moment to forget old ones.
		err = s.db.WithContext(ctx).Exec(`DELETE FROM referral_attempts WHERE window_start < ?`, window.Add(-24*time.Hour)).Error
		if err != nil {
			return 0, fmt.Errorf("store: forget referral attempts: %w", formatError(err))
		}
	}
	return n, nil
}

// CustomerHasOrders reports whether a customer of the shop with email (any
// case) has an order the app has seen.
func (s *Store) CustomerHasOrders(ctx context.Context, shopID app.ShopID, email string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM customers c
WHERE c.shop_id = ? AND c.email <> '' AND lower(c.email) = lower(?)
  AND EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = c.shop_id AND o.customer_id = c.id)`, shopID, email).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("store: customer orders: %w", formatError(err))
	}
	return n > 0, nil
}

// SetReferralCouponStatus moves a referral's pending friend coupon to
// CouponActive (with the Shopify discount id) or CouponFailed (with the
// reason); it reports whether the coupon was still pending.
func (s *Store) SetReferralCouponStatus(ctx context.Context, shopID app.ShopID, id int64, status, discountID, reason string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE referrals SET coupon_status = ?, shopify_discount_id = ?, attempts = attempts + 1,
    last_error = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND coupon_status = 'pending'`, status, discountID, truncate(reason, 2000), now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: referral coupon: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// RecordReferralCouponAttempt counts a failed attempt to create a friend
// coupon in Shopify.
func (s *Store) RecordReferralCouponAttempt(ctx context.Context, shopID app.ShopID, id int64, reason string, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE referrals SET attempts = attempts + 1, last_error = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND coupon_status = 'pending'`, truncate(reason, 2000), now, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: referral coupon attempt: %w", formatError(err))
	}
	return nil
}

// PendingReferralCoupon names a friend coupon still waiting for its
// Shopify discount code.
type PendingReferralCoupon struct {
	ShopID     app.ShopID
	ReferralID int64 `gorm:"column:id"`
}

// StalePendingReferralCoupons returns friend coupons pending since before
// olderThan, for the sweep that re-kicks their creation. It acts for the
// system.
func (s *Store) StalePendingReferralCoupons(ctx context.Context, olderThan time.Time, limit int) ([]PendingReferralCoupon, error) {
	var out []PendingReferralCoupon
	err := s.db.WithContext(ctx).Raw(`SELECT shop_id, id FROM referrals WHERE coupon_status = 'pending' AND created_at < ?
ORDER BY created_at LIMIT ?`, olderThan, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending referral coupons: %w", formatError(err))
	}
	return out, nil
}

// DeleteReferralsOfFriend deletes the shop's referrals of a friend email
// (any case): customers/redact of someone who was invited but never became
// a customer, whose only trace is the email the referrer's link collected.
// Referrals whose friend became a customer go with the customer row.
func (s *Store) DeleteReferralsOfFriend(ctx context.Context, shopID app.ShopID, email string) (int64, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return 0, nil
	}
	res := s.db.WithContext(ctx).Exec("DELETE FROM referrals WHERE shop_id = ? AND friend_email = ?", shopID, email)
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete referrals of friend: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// CountReferralsSince counts the referrals a member's link created at or
// after since.
func (s *Store) CountReferralsSince(ctx context.Context, shopID app.ShopID, referrerCustomerID int64, since time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Referral{}).
		Where("shop_id = ? AND referrer_customer_id = ? AND created_at >= ?", shopID, referrerCustomerID, since).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: count referrals: %w", formatError(err))
	}
	return n, nil
}

// ForgetReferralSegment drops the shop's cached segment id when it was
// gid (the merchant deleted the segment in Shopify): the next friend
// coupon creates it again.
func (s *Store) ForgetReferralSegment(ctx context.Context, shopID app.ShopID, gid string) error {
	err := s.db.WithContext(ctx).Exec(`DELETE FROM referral_segments WHERE shop_id = ? AND segment_gid = ?`, shopID, gid).Error
	if err != nil {
		return fmt.Errorf("store: forget referral segment: %w", formatError(err))
	}
	return nil
}
