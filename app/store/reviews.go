package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// OrderProduct is one product of a fulfilled order: what review_requested
// lists and what its customer may review.
type OrderProduct struct {
	ProductID int64
	Title     string
}

// orderLive is the SQL condition (on orders o) of an order that still
// stands: not cancelled and not refunded in full. An order without an
// earning base is never taken as fully refunded.
const orderLive = "NOT o.cancelled AND NOT (o.base_minor > 0 AND o.refunded_base_minor >= o.base_minor)"

// RecordFulfilment remembers, once, that an order was fulfilled at
// fulfilledAt, and its products. The order row is locked by
// UpsertLoyaltyOrder. first is false when the fulfilment was already
// recorded; products are added either way (ON CONFLICT DO NOTHING), so a
// later webhook can complete a list but never duplicates it.
func (s *Store) RecordFulfilment(ctx context.Context, shopID app.ShopID, orderID int64, fulfilledAt time.Time, products []OrderProduct) (first bool, err error) {
	res := s.db.WithContext(ctx).Exec("UPDATE orders SET fulfilled_at = ? WHERE shop_id = ? AND id = ? AND fulfilled_at IS NULL",
		fulfilledAt, shopID, orderID)
	if res.Error != nil {
		return false, fmt.Errorf("store: record fulfilment: %w", formatError(res.Error))
	}
	for _, p := range products {
		err := s.db.WithContext(ctx).Exec(`INSERT INTO order_products (order_id, shop_id, product_id, title) VALUES (?, ?, ?, ?)
ON CONFLICT (shop_id, order_id, product_id) DO NOTHING`, orderID, shopID, p.ProductID, p.Title).Error
		if err != nil {
			return false, fmt.Errorf("store: record order product: %w", formatError(err))
		}
	}
	return res.RowsAffected == 1, nil
}

// OrderFulfilledAt returns when the shop's order was fulfilled (nil while
// it was not).
func (s *Store) OrderFulfilledAt(ctx context.Context, shopID app.ShopID, orderID int64) (*time.Time, error) {
	var rows []struct{ FulfilledAt *time.Time }
	if err := s.db.WithContext(ctx).Raw("SELECT fulfilled_at FROM orders WHERE shop_id = ? AND id = ?", shopID, orderID).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: order fulfilment: %w", formatError(err))
	}
	if len(rows) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "Order not found.")
	}
	return rows[0].FulfilledAt, nil
}

// OrderProducts returns the products recorded for an order, by title.
func (s *Store) OrderProducts(ctx context.Context, shopID app.ShopID, orderID int64) ([]OrderProduct, error) {
	var out []OrderProduct
	err := s.db.WithContext(ctx).Raw("SELECT product_id, title FROM order_products WHERE shop_id = ? AND order_id = ? ORDER BY title, product_id",
		shopID, orderID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: order products: %w", formatError(err))
	}
	return out, nil
}

// ReviewRequestCandidate is a fulfilled member order that has not been
// asked for a review yet.
type ReviewRequestCandidate struct {
	ID                int64
	OrderGID          string `gorm:"column:order_gid"`
	Name              string
	Channel           string
	CustomerID        int64
	ShopifyCustomerID int64
	FulfilledAt       time.Time
}

// ReviewRequestCandidates returns the shop's live member orders with
// products, fulfilled between from and until and not yet asked for a
// review, with an id above after, up to limit, in id order.
func (s *Store) ReviewRequestCandidates(ctx context.Context, shopID app.ShopID, from, until time.Time, after int64, limit int) ([]ReviewRequestCandidate, error) {
	var out []ReviewRequestCandidate
	err := s.db.WithContext(ctx).Raw(`SELECT o.id, o.order_gid, o.name, o.channel, o.customer_id, o.shopify_customer_id, o.fulfilled_at
FROM orders o
WHERE o.shop_id = ? AND o.fulfilled_at IS NOT NULL AND o.review_requested_at IS NULL AND o.customer_id IS NOT NULL
  AND o.fulfilled_at >= ? AND o.fulfilled_at <= ? AND o.id > ? AND `+orderLive+`
  AND EXISTS (SELECT 1 FROM order_products p WHERE p.order_id = o.id)
ORDER BY o.id LIMIT ?`, shopID, from, until, after, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: review request candidates: %w", formatError(err))
	}
	return out, nil
}

// ClaimReviewRequest marks an order as asked for a review at now, when it
// was not yet and still stands. The UPDATE takes the order's row lock
// (orders before accounts, as every order webhook), and a concurrent claim
// waits for it and then finds review_requested_at set: claimed is true for
// exactly one caller.
func (s *Store) ClaimReviewRequest(ctx context.Context, shopID app.ShopID, orderID int64, now time.Time) (claimed bool, err error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE orders o SET review_requested_at = ?
WHERE o.shop_id = ? AND o.id = ? AND o.review_requested_at IS NULL AND o.fulfilled_at IS NOT NULL AND `+orderLive,
		now, shopID, orderID)
	if res.Error != nil {
		return false, fmt.Errorf("store: claim review request: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// ReviewableProduct is a product a customer bought and received (in a
// fulfilled order that still stands), with their review of it if any.
type ReviewableProduct struct {
	ProductID int64
	Title     string
	// OrderID and OrderGID, OrderName are the latest such order.
	OrderID   int64
	OrderGID  string `gorm:"column:order_gid"`
	OrderName string
	// Rating is the customer's review rating, 0 when not reviewed.
	Rating int
}

// Reviewed reports whether the customer already reviewed the product.
func (p ReviewableProduct) Reviewed() bool { return p.Rating > 0 }

// ReviewableProducts returns the products a customer may review (or has
// reviewed), by title; productID > 0 limits it to that product.
func (s *Store) ReviewableProducts(ctx context.Context, shopID app.ShopID, customerID, productID int64) ([]ReviewableProduct, error) {
	var out []ReviewableProduct
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT ON (p.product_id) p.product_id, p.title, o.id AS order_id, o.order_gid,
    o.name AS order_name, coalesce(r.rating, 0) AS rating
FROM orders o
JOIN order_products p ON p.order_id = o.id
LEFT JOIN reviews r ON r.shop_id = o.shop_id AND r.customer_id = o.customer_id AND r.product_id = p.product_id
WHERE o.shop_id = ? AND o.customer_id = ? AND o.fulfilled_at IS NOT NULL AND `+orderLive+`
  AND (? = 0 OR p.product_id = ?)
ORDER BY p.product_id, o.fulfilled_at DESC, o.id DESC`, shopID, customerID, productID, productID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: reviewable products: %w", formatError(err))
	}
	slices.SortFunc(out, func(a, b ReviewableProduct) int {
		return cmp.Or(cmp.Compare(a.Title, b.Title), cmp.Compare(a.ProductID, b.ProductID))
	})
	return out, nil
}

// Review is a customer's review of a product.
type Review struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	CustomerID        int64
	ShopifyCustomerID int64
	ProductID         int64
	ProductTitle      string
	OrderID           *int64
	Rating            int
	Body              string
	Points            int64
	CreatedAt         time.Time
}

// TableName implements gorm's tabler.
func (Review) TableName() string { return "reviews" }

// InsertReview stores a review once per customer and product: inserted is
// false when the customer already reviewed the product.
func (s *Store) InsertReview(ctx context.Context, shopID app.ShopID, r *Review) (inserted bool, err error) {
	var ids []int64
	err = s.db.WithContext(ctx).Raw(`INSERT INTO reviews (shop_id, customer_id, shopify_customer_id, product_id, product_title, order_id,
    rating, body, points, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id, customer_id, product_id) DO NOTHING RETURNING id`,
		shopID, r.CustomerID, r.ShopifyCustomerID, r.ProductID, r.ProductTitle, r.OrderID, r.Rating, r.Body, r.Points, r.CreatedAt).Scan(&ids).Error
	if err != nil {
		return false, fmt.Errorf("store: insert review: %w", formatError(err))
	}
	if len(ids) == 0 {
		return false, nil
	}
	r.ID, r.ShopID = ids[0], shopID
	return true, nil
}

// ReviewOf returns a customer's review of a product.
func (s *Store) ReviewOf(ctx context.Context, shopID app.ShopID, customerID, productID int64) (*Review, error) {
	var r Review
	err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ? AND product_id = ?", shopID, customerID, productID).Take(&r).Error
	if err != nil {
		return nil, fmt.Errorf("store: review: %w", formatError(err))
	}
	return &r, nil
}

// ReviewsOf returns a customer's reviews, oldest first.
func (s *Store) ReviewsOf(ctx context.Context, shopID app.ShopID, customerID int64) ([]Review, error) {
	var out []Review
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: reviews: %w", formatError(err))
	}
	return out, nil
}

// moveReviews re-parents a merged-away customer's reviews to the kept
// customer, except those of products the kept customer reviewed too (those
// stay, and go with the merged-away customer's row).
func (s *Store) moveReviews(ctx context.Context, shopID app.ShopID, fromID, toID, toShopifyID int64) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE reviews r SET customer_id = ?, shopify_customer_id = ?
WHERE r.shop_id = ? AND r.customer_id = ?
  AND NOT EXISTS (SELECT 1 FROM reviews k WHERE k.shop_id = r.shop_id AND k.customer_id = ? AND k.product_id = r.product_id)`,
		toID, toShopifyID, shopID, fromID, toID).Error
	if err != nil {
		return fmt.Errorf("store: move reviews: %w", formatError(err))
	}
	return nil
}
