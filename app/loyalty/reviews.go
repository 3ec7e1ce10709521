package loyalty

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Reviews: an order webhook that says the order is fulfilled remembers the
// fulfilment time and the order's products (rememberFulfilment);
// RequestReviews writes review_requested once per order ReviewRequestDays
// after that; SubmitReview accepts a customer's review of a product they
// received, once per customer and product, and credits ReviewPoints.

// StorefrontReviewsPath is where the storefront shows the review form: the
// app proxy (shopify.app.toml, prefix "apps", subpath "loyalty") forwards it
// to GET /proxy/reviews.
const StorefrontReviewsPath = "/apps/loyalty/reviews"

// MaxReviewBodyLen is the longest review text, in characters.
const MaxReviewBodyLen = 5000

// maxTitleLen bounds a product title kept for review requests.
const maxTitleLen = 255

// reviewRequestGrace bounds how late a review request may still go out:
// orders fulfilled more than ReviewRequestDays plus this long ago are never
// asked (a merchant who turns requests on, or raises the delay, does not
// mail every past customer at once).
const reviewRequestGrace = 30 * 24 * time.Hour

// ReviewURL is the storefront review page for an order of shop: the order
// name (#1001) when known, else its numeric id.
func ReviewURL(shopDomain, orderName, orderGID string) string {
	ref := orderName
	if ref == "" {
		ref = numericID(orderGID)
	}
	return "https://" + shopDomain + StorefrontReviewsPath + "?order=" + url.QueryEscape(ref)
}

// rememberFulfilment records, once, when a member's order was fulfilled and
// which products it holds, when the webhook says it is fulfilled
// (orders/fulfilled, or any order topic with fulfillment_status fulfilled).
func (s *Service) rememberFulfilment(ctx context.Context, tx *store.Store, shopID app.ShopID, ord *store.LoyaltyOrder, topic string, o *shopify.Order, now time.Time) error {
	if ord.CustomerID == nil || (topic != TopicOrdersFulfilled && o.FulfillmentStatus != "fulfilled") {
		return nil
	}
	_, err := tx.RecordFulfilment(ctx, shopID, ord.ID, fulfilledAt(o, now), orderProducts(o))
	return err
}

// fulfilledAt is when the order's last successful fulfilment was created,
// or now when the payload carries none (or one from the future).
func fulfilledAt(o *shopify.Order, now time.Time) time.Time {
	var at time.Time
	for _, f := range o.Fulfillments {
		switch f.Status {
		case "cancelled", "error", "failure":
			continue
		}
		if f.CreatedAt.After(at) {
			at = f.CreatedAt
		}
	}
	if at.IsZero() || at.After(now) {
		return now
	}
	return at.UTC().Truncate(time.Microsecond)
}

// orderProducts returns the reviewable products of an order, once each:
// lines with a product, gift cards left out.
func orderProducts(o *shopify.Order) []store.OrderProduct {
	var out []store.OrderProduct
	seen := map[int64]bool{}
	for _, li := range o.LineItems {
		if li.ProductID <= 0 || li.GiftCard || seen[li.ProductID] {
			continue
		}
		seen[li.ProductID] = true
		title := strings.TrimSpace(li.Title)
		if title == "" {
			title = strings.TrimSpace(li.Name)
		}
		if title == "" {
			title = "Product " + strconv.FormatInt(li.ProductID, 10)
		}
		if utf8.RuneCountInString(title) > maxTitleLen {
			title = string([]rune(title)[:maxTitleLen])
		}
		out = append(out, store.OrderProduct{ProductID: li.ProductID, Title: title})
	}
	return out
}

// RequestReviews writes review_requested for every member order of the shop
// fulfilled at least ReviewRequestDays ago (calendar days in the shop's
// time zone, ledger.ReviewRequestDue), once per order, unless the order
// was cancelled or refunded in full. Each order is claimed in its own
// transaction (store.ClaimReviewRequest), so a second run, or two at once,
// write nothing twice. It returns the number of requests written.
func (s *Service) RequestReviews(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	shop, settings, err := s.shopAndSettings(ctx, shopID)
	if err != nil {
		return 0, err
	}
	days := settings.ReviewRequestDays
	if days <= 0 {
		return 0, nil
	}
	// A day of slack for a DST change; ReviewRequestDue decides exactly.
	until := now.AddDate(0, 0, -days).Add(24 * time.Hour)
	from := now.AddDate(0, 0, -days).Add(-reviewRequestGrace)
	total := 0
	after := int64(0)
	for {
		cands, err := s.st.ReviewRequestCandidates(ctx, shopID, from, until, after, batchSize)
		if err != nil || len(cands) == 0 {
			return total, err
		}
		after = cands[len(cands)-1].ID
		for _, c := range cands {
			if !ledger.ReviewRequestDue(c.FulfilledAt, days, now, shop.Location()) {
				continue
			}
			n, err := s.requestReview(ctx, shopID, c, now)
			if err != nil {
				return total, fmt.Errorf("loyalty: review request for order %s: %w", c.OrderGID, err)
			}
			total += n
		}
	}
}

// requestReview claims one order and writes its review_requested, in one
// transaction: the order row first, then the customer's account, the lock
// order of every order webhook.
func (s *Service) requestReview(ctx context.Context, shopID app.ShopID, c store.ReviewRequestCandidate, now time.Time) (int, error) {
	n := 0
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		shop, settings, err := shopAndSettingsIn(ctx, tx, shopID)
		if err != nil {
			return err
		}
		now := now.UTC().Truncate(time.Microsecond)
		claimed, err := tx.ClaimReviewRequest(ctx, shopID, c.ID, now)
		if err != nil || !claimed {
			return err
		}
		products, err := tx.OrderProducts(ctx, shopID, c.ID)
		if err != nil {
			return err
		}
		titles := make([]string, len(products))
		for i, p := range products {
			titles[i] = p.Title
		}
		key := ledger.KeyReviewRequest(c.OrderGID)
		u := s.newUnit(ctx, tx, shop, settings, now, "system", nil)
		if err := u.lock(c.CustomerID, c.ShopifyCustomerID, key); err != nil {
			return err
		}
		link := ReviewURL(shop.Domain, c.Name, c.OrderGID)
		if err := u.add(key)(event.NewReviewRequested(u.common(key, event.Channel(c.Channel)), c.OrderGID, c.Name, titles, link)); err != nil {
			return err
		}
		n = 1
		return u.flush()
	})
	if app.ErrorCode(err) == app.ENOTFOUND {
		return 0, nil // deleted meanwhile
	}
	return n, err
}

// ReviewInput is a storefront review.
type ReviewInput struct {
	// ShopifyCustomerID is the logged-in customer (from the signed app-proxy
	// query, never from the form); 0 for a guest.
	ShopifyCustomerID int64
	ProductID         int64
	Rating            int
	Body              string
}

// Validate checks the review's own fields.
func (in ReviewInput) Validate() error {
	switch {
	case in.ProductID <= 0:
		return app.FieldError("product_id", "Choose a product to review.")
	case in.Rating < 1 || in.Rating > 5:
		return app.FieldError("rating", "Choose a rating from 1 to 5 stars.")
	case !utf8.ValidString(in.Body):
		return app.FieldError("body", "The review text is not valid text.")
	case utf8.RuneCountInString(strings.TrimSpace(in.Body)) > MaxReviewBodyLen:
		return app.FieldError("body", "Keep the review under %d characters.", MaxReviewBodyLen)
	}
	return nil
}

// ReviewResult is what SubmitReview did.
type ReviewResult struct {
	Review  *store.Review
	Product store.ReviewableProduct
	// Points were credited by this call (0 for a duplicate, or when reviews
	// earn nothing).
	Points int64
	// Duplicate is true when the customer had already reviewed the product:
	// nothing changed, Review is the earlier one.
	Duplicate bool
}

// errNotReceived refuses a review of a product the customer did not buy
// and receive.
var errNotReceived = app.Errorf(app.EFORBIDDEN, "You can only review products you bought and received.")

// SubmitReview accepts a customer's review of a product they bought and
// received (in a fulfilled order that still stands), once per customer and
// product: it stores the review, credits ReviewPoints once (ledger entry of
// kind review, key ledger.KeyReview per customer and product) and writes
// wallet_points_rewarded (reason review) and review_submitted, in one
// transaction under the customer's account lock. A second review of the
// same product changes nothing and returns the first with Duplicate set.
func (s *Service) SubmitReview(ctx context.Context, shopID app.ShopID, in ReviewInput) (ReviewResult, error) {
	var res ReviewResult
	if in.ShopifyCustomerID <= 0 {
		return res, app.Errorf(app.EUNAUTHORIZED, "Log in to your account to review a product.")
	}
	if err := in.Validate(); err != nil {
		return res, err
	}
	in.Body = strings.TrimSpace(in.Body)
	now := s.clock()
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		res = ReviewResult{}
		shop, settings, err := shopAndSettingsIn(ctx, tx, shopID)
		if err != nil {
			return err
		}
		c, err := tx.CustomerByShopifyID(ctx, shopID, in.ShopifyCustomerID)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return errNotReceived
		}
		if err != nil {
			return err
		}
		products, err := tx.ReviewableProducts(ctx, shopID, c.ID, in.ProductID)
		if err != nil {
			return err
		}
		if len(products) == 0 {
			return errNotReceived
		}
		p := products[0]
		res.Product = p
		productGID := shopify.GID("Product", p.ProductID)
		key := ledger.KeyReview(shopify.GID("Customer", c.ShopifyID), productGID)
		u := s.newUnit(ctx, tx, shop, settings, now, "customer:"+strconv.FormatInt(c.ShopifyID, 10), nil)
		// Under the account lock, the check below and the insert cannot race
		// with another review by the same customer.
		if err := u.lock(c.ID, c.ShopifyID, key); err != nil {
			return err
		}
		earlier, err := tx.ReviewOf(ctx, shopID, c.ID, p.ProductID)
		if err == nil {
			res.Review, res.Duplicate = earlier, true
			return nil
		}
		if app.ErrorCode(err) != app.ENOTFOUND {
			return err
		}
		if settings.ReviewPoints > 0 {
			available, expires := ledger.CreditTimes(ledger.KindReview, now, settings, u.loc)
			e := ledger.Entry{Kind: ledger.KindReview, Points: settings.ReviewPoints, Reason: ledger.ReasonReview,
				IdempotencyKey: key, CreatedAt: now, ExpiresAt: expires, AvailableAt: available}
			lot, inserted, err := u.credit(e, 0)
			if err != nil {
				return err
			}
			if inserted {
				res.Points = e.Points
				if err := u.add(key)(event.NewWalletPointsRewarded(u.common(key, ""), e.Points, event.ReasonReview, "", "", lot.ExpiresAt)); err != nil {
					return err
				}
			}
		}
		orderID := p.OrderID
		r := &store.Review{CustomerID: c.ID, ShopifyCustomerID: c.ShopifyID, ProductID: p.ProductID, ProductTitle: p.Title,
			OrderID: &orderID, Rating: in.Rating, Body: in.Body, Points: res.Points, CreatedAt: now}
		inserted, err := tx.InsertReview(ctx, shopID, r)
		if err != nil {
			return err
		}
		if !inserted {
			return app.Errorf(app.ECONFLICT, "This product was just reviewed. Reload the page.")
		}
		res.Review = r
		if err := u.add(key)(event.NewReviewSubmitted(u.common(key, ""), productGID, in.Rating, res.Points)); err != nil {
			return err
		}
		if res.Points > 0 {
			if err := u.evaluateTier(false, key); err != nil {
				return err
			}
		}
		return u.flush()
	})
	if err != nil {
		return ReviewResult{}, err
	}
	return res, nil
}

// ReviewableProducts returns the products a customer (by Shopify id) bought
// and received, with their rating when already reviewed; none for a
// customer the shop does not know.
func (s *Service) ReviewableProducts(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) ([]store.ReviewableProduct, error) {
	c, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return []store.ReviewableProduct{}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.st.ReviewableProducts(ctx, shopID, c.ID, 0)
}
