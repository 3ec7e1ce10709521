package store

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// Coupon statuses.
const (
	CouponPending = "pending" // stored; the Shopify discount code is being created
	CouponActive  = "active"  // the discount code exists in Shopify
	CouponFailed  = "failed"  // Shopify refused it; the points were given back
	CouponExpired = "expired" // it reached its end unused
	// CouponCancelled: the merchant cancelled it unused; the code was
	// deleted in Shopify and the points given back.
	CouponCancelled = "cancelled"
)

// DiscountTypeStoreCredit is the discount_type of a row that journals a
// store credit reward rather than a discount code (program.DiscountStoreCredit).
const DiscountTypeStoreCredit = "store_credit"

// Coupon is a reward coupon bought with points, or the journal of a store
// credit reward (DiscountType store_credit): then DiscountValue is the
// amount in major units of Currency, Code an internal reference no order
// can use, ShopifyDiscountID the credit transaction's gid, and ExpiresAt
// the credit's expiresAt, unique per customer.
type Coupon struct {
	ID                int64      `gorm:"primaryKey" json:"id"`
	ShopID            app.ShopID `json:"-"`
	CustomerID        int64      `json:"-"`
	ShopifyCustomerID int64      `json:"shopify_customer_id,string"`
	Code              string     `json:"code"`
	RewardID          string     `json:"reward_id"`
	RewardName        string     `json:"reward_name"`
	DiscountType      string     `json:"discount_type"`
	DiscountValue     string     `json:"discount_value"` // decimal text: percent, or amount in major units
	MinSubtotalMinor  int64      `json:"min_subtotal_minor"`
	PointsSpent       int64      `json:"points_spent"`
	LedgerKey         string     `json:"-"`
	Status            string     `json:"status"`
	ShopifyDiscountID string     `json:"shopify_discount_id,omitempty"`
	Attempts          int        `json:"-"`
	LastError         string     `json:"last_error,omitempty"`
	ExpiresAt         *time.Time `json:"expires_at,omitempty"`
	RedeemedAt        *time.Time `json:"redeemed_at,omitempty"`
	RedeemedOrderGID  string     `gorm:"column:redeemed_order_gid" json:"redeemed_order_id,omitempty"`
	// Currency is the store credit's currency; "" for a discount code.
	Currency string `json:"currency,omitempty"`
	// ShopifyCalledAt is when a Shopify call that may have created the
	// code or credit was last sent; nil when none was.
	ShopifyCalledAt *time.Time `json:"-"`
	CancelledAt     *time.Time `json:"cancelled_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"-"`
}

// TableName implements gorm's tabler.
func (Coupon) TableName() string { return "coupons" }

// InsertCoupon stores a pending coupon. inserted is false when the code is
// taken in the shop (case-insensitively) or the ledger key already bought
// one; the caller picks another code or returns the existing coupon.
func (s *Store) InsertCoupon(ctx context.Context, shopID app.ShopID, c *Coupon) (bool, error) {
	var rows []Coupon
	err := s.db.WithContext(ctx).Raw(`INSERT INTO coupons (shop_id, customer_id, shopify_customer_id, code, reward_id, reward_name,
    discount_type, discount_value, min_subtotal_minor, points_spent, ledger_key, status, expires_at, currency, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
ON CONFLICT DO NOTHING RETURNING *`,
		shopID, c.CustomerID, c.ShopifyCustomerID, c.Code, c.RewardID, c.RewardName, c.DiscountType, c.DiscountValue,
		c.MinSubtotalMinor, c.PointsSpent, c.LedgerKey, c.ExpiresAt, c.Currency, c.CreatedAt, c.CreatedAt).Scan(&rows).Error
	if err != nil {
		return false, fmt.Errorf("store: insert coupon: %w", formatError(err))
	}
	if len(rows) == 0 {
		return false, nil
	}
	*c = rows[0]
	return true, nil
}

// Coupon returns one of the shop's coupons.
func (s *Store) Coupon(ctx context.Context, shopID app.ShopID, id int64) (*Coupon, error) {
	var c Coupon
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("store: coupon: %w", formatError(err))
	}
	return &c, nil
}

// CouponByLedgerKey returns the coupon bought by the redeem entry with key.
func (s *Store) CouponByLedgerKey(ctx context.Context, shopID app.ShopID, key string) (*Coupon, error) {
	var c Coupon
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND ledger_key = ?", shopID, key).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("store: coupon: %w", formatError(err))
	}
	return &c, nil
}

// CouponsOf returns a customer's coupons, newest first.
func (s *Store) CouponsOf(ctx context.Context, shopID app.ShopID, customerID int64) ([]Coupon, error) {
	var out []Coupon
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order("id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: coupons: %w", formatError(err))
	}
	return out, nil
}

// ActivateCoupon marks a pending coupon active with its Shopify discount
// id; it reports whether the row was still pending.
func (s *Store) ActivateCoupon(ctx context.Context, shopID app.ShopID, id int64, discountID string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE coupons SET status = 'active', shopify_discount_id = ?, attempts = attempts + 1, last_error = '', updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'pending'`, discountID, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: activate coupon: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// FailCoupon marks a pending coupon failed with the reason; it reports
// whether the row was still pending (only then are its points given back).
func (s *Store) FailCoupon(ctx context.Context, shopID app.ShopID, id int64, reason string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE coupons SET status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'pending'`, truncate(reason, 2000), now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: fail coupon: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// RecordCouponAttempt counts a failed attempt to create a coupon in Shopify.
func (s *Store) RecordCouponAttempt(ctx context.Context, shopID app.ShopID, id int64, reason string, now time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE coupons SET attempts = attempts + 1, last_error = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'pending'`, truncate(reason, 2000), now, shopID, id).Error
	if err != nil {
		return fmt.Errorf("store: coupon attempt: %w", formatError(err))
	}
	return nil
}

// RedeemCouponCode marks the shop's unredeemed coupon with code (any case)
// as used by an order and returns it; ok is false when no such coupon is
// waiting. A coupon is redeemed once, whatever number of order webhooks
// carry it.
func (s *Store) RedeemCouponCode(ctx context.Context, shopID app.ShopID, code, orderGID string, now time.Time) (c *Coupon, ok bool, err error) {
	var rows []Coupon
	err = s.db.WithContext(ctx).Raw(`UPDATE coupons SET redeemed_at = ?, redeemed_order_gid = ?, updated_at = ?
WHERE shop_id = ? AND lower(code) = lower(?) AND redeemed_at IS NULL RETURNING *`, now, orderGID, now, shopID, code).Scan(&rows).Error
	if err != nil {
		return nil, false, fmt.Errorf("store: redeem coupon: %w", formatError(err))
	}
	if len(rows) == 0 {
		return nil, false, nil
	}
	return &rows[0], true, nil
}

// PendingCoupon names a coupon still waiting for its Shopify discount code.
type PendingCoupon struct {
	ShopID app.ShopID
	ID     int64
}

// StalePendingCoupons returns coupons pending since before olderThan, for
// the sweep that re-kicks their creation. It acts for the system.
func (s *Store) StalePendingCoupons(ctx context.Context, olderThan time.Time, limit int) ([]PendingCoupon, error) {
	var out []PendingCoupon
	err := s.db.WithContext(ctx).Raw(`SELECT shop_id, id FROM coupons WHERE status = 'pending' AND created_at < ?
ORDER BY created_at LIMIT ?`, olderThan, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending coupons: %w", formatError(err))
	}
	return out, nil
}

// UnusedExpiredCoupons returns up to limit of the shop's active coupons
// that reached their end (expires_at at or before now) unused, with an id
// above after.
func (s *Store) UnusedExpiredCoupons(ctx context.Context, shopID app.ShopID, now time.Time, after int64, limit int) ([]Coupon, error) {
	var out []Coupon
	// Store credit is excluded: Shopify expires it itself, and whether the
	// customer spent it is Shopify's to say.
	err := s.db.WithContext(ctx).Where("shop_id = ? AND status = ? AND redeemed_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ? AND id > ? AND discount_type <> ?",
		shopID, CouponActive, now, after, DiscountTypeStoreCredit).Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: unused expired coupons: %w", formatError(err))
	}
	return out, nil
}

// ExpireCoupon marks an active, unused coupon expired; it reports whether
// the row still was (only then may its points come back).
func (s *Store) ExpireCoupon(ctx context.Context, shopID app.ShopID, id int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE coupons SET status = 'expired', updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'active' AND redeemed_at IS NULL`, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: expire coupon: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// MarkCouponCalled records, before a Shopify call that may create the
// coupon's code or credit is sent, that one was. It is a compare-and-set on
// the previous mark (prev, nil for none): it reports false when the coupon
// is no longer pending or another attempt marked it meanwhile, and then
// the call must not be sent. Committed before the call, the mark tells
// every later attempt to look in Shopify first.
func (s *Store) MarkCouponCalled(ctx context.Context, shopID app.ShopID, id int64, prev *time.Time, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE coupons SET shopify_called_at = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'pending' AND shopify_called_at IS NOT DISTINCT FROM ?`, now, now, shopID, id, prev)
	if res.Error != nil {
		return false, fmt.Errorf("store: mark coupon called: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// CouponByShopifyID returns the shop's coupon that holds the Shopify
// discount or store credit transaction gid.
func (s *Store) CouponByShopifyID(ctx context.Context, shopID app.ShopID, gid string) (*Coupon, error) {
	var c Coupon
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND shopify_discount_id = ?", shopID, gid).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("store: coupon: %w", formatError(err))
	}
	return &c, nil
}

// StoreCreditExpiryTaken reports whether the customer already has a store
// credit row expiring at t (the expiry is what identifies a credit in
// Shopify, so it is unique per customer).
func (s *Store) StoreCreditExpiryTaken(ctx context.Context, shopID app.ShopID, customerID int64, t time.Time) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM coupons WHERE shop_id = ? AND customer_id = ? AND discount_type = ? AND expires_at = ?`,
		shopID, customerID, DiscountTypeStoreCredit, t).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("store: store credit expiry: %w", formatError(err))
	}
	return n > 0, nil
}

// CancelCoupon marks an active, unused coupon cancelled; it reports whether
// the row still was (only then are its points given back).
func (s *Store) CancelCoupon(ctx context.Context, shopID app.ShopID, id int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE coupons SET status = 'cancelled', cancelled_at = ?, updated_at = ?
WHERE shop_id = ? AND id = ? AND status = 'active' AND redeemed_at IS NULL`, now, now, shopID, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: cancel coupon: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}
