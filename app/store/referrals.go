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
	ReferralCompleted = "completed" // the friend's first qualifying order rewarded the referrer
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
}

// TableName implements gorm's tabler.
func (Referral) TableName() string { return "referrals" }

// InsertReferral stores an open referral with its pending friend coupon.
// inserted is false when nothing was written: either the friend's email
// was referred already (ReferralByFriendEmail finds it) or the coupon code
// is taken (the caller draws another).
func (s *Store) InsertReferral(ctx context.Context, shopID app.ShopID, r *Referral) (bool, error) {
	var rows []Referral
	err := s.db.WithContext(ctx).Raw(`INSERT INTO referrals (shop_id, referrer_customer_id, referral_code, friend_email,
    coupon_code, discount_type, discount_value, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
		shopID, r.ReferrerCustomerID, r.ReferralCode, r.FriendEmail, r.CouponCode, r.DiscountType, r.DiscountValue,
		r.CreatedAt, r.CreatedAt).Scan(&rows).Error
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

// ReferralByFriendEmail returns the shop's referral of a friend email
// (lower case).
func (s *Store) ReferralByFriendEmail(ctx context.Context, shopID app.ShopID, email string) (*Referral, error) {
	var r Referral
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND friend_email = ?", shopID, email).Take(&r).Error; err != nil {
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

// CompleteReferral marks an open referral completed by the friend's order;
// it reports whether the row was still open.
func (s *Store) CompleteReferral(ctx context.Context, shopID app.ShopID, id, friendCustomerID int64, orderGID string, points int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE referrals SET status = 'completed', friend_customer_id = ?, completed_order_gid = ?,
    referrer_points = ?, completed_at = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'open'`, friendCustomerID, orderGID, points, now, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: complete referral: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
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
