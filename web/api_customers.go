package web

import (
	"net/http"
	"unicode"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
)

// headerIdempotencyKey makes a retried POST apply once.
const headerIdempotencyKey = "Idempotency-Key"

// maxIdempotencyKey bounds the Idempotency-Key header, in bytes.
const maxIdempotencyKey = 255

// handleCustomerShow is GET /api/v1/customers/{shopify_customer_id}: the
// customer's loyalty position (loyalty.CustomerView). The lookup is scoped
// to the authenticated shop, so another shop's customer is not found.
func (s *server) handleCustomerShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	v, err := s.loyalty.Customer(c.Request().Context(), shop.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// pointsInput is the body of POST /api/v1/customers/{id}/points.
type pointsInput struct {
	Points int64  `json:"points"` // > 0 credits, < 0 debits
	Reason string `json:"reason"`
}

// handleCustomerPoints is POST /api/v1/customers/{shopify_customer_id}/points:
// a manual adjustment by the session's staff user (the actor on the ledger
// entry). It answers 200 with the customer's position after the change.
// With an Idempotency-Key header a retried request adjusts once and gets
// the same answer; without one every request applies. Zero points, a
// missing reason and a debit beyond the spendable points are 422 (field
// points or reason).
func (s *server) handleCustomerPoints(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var in pointsInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	v, err := s.loyalty.Adjust(c.Request().Context(), shop.ID, id, in.Points, in.Reason, key)
	if err != nil {
		return withDefaultField(err, "points")
	}
	return c.JSON(http.StatusOK, v)
}

// redeemInput is the body of POST /api/v1/customers/{id}/redeem.
type redeemInput struct {
	RewardID string `json:"reward_id"`
}

// handleCustomerRedeem is POST /api/v1/customers/{shopify_customer_id}/redeem:
// spends the reward's price and answers 201 with the coupon (pending until
// the job creates the discount in Shopify). With an Idempotency-Key header a
// retried request returns the coupon the first one bought.
func (s *server) handleCustomerRedeem(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var in redeemInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.RewardID == "" {
		return app.FieldError("reward_id", "reward_id is required.")
	}
	if key == "" {
		key = uuid.NewString() // every request without a key buys a coupon
	}
	coupon, err := s.loyalty.RedeemWithKey(c.Request().Context(), shop.ID, id, in.RewardID, key)
	if err != nil {
		return withDefaultField(err, "reward_id")
	}
	return c.JSON(http.StatusCreated, coupon)
}

// maxRedemptionsListed bounds GET /api/v1/customers/{id}/redemptions.
const maxRedemptionsListed = 100

// handleCustomerRedemptions is GET
// /api/v1/customers/{shopify_customer_id}/redemptions: the customer's
// redemptions (coupons and store credits), newest first, at most
// maxRedemptionsListed, with the ids the cancel route takes. A customer of
// another shop, or none, is 404.
func (s *server) handleCustomerRedemptions(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cust, err := s.st.CustomerByShopifyID(ctx, shop.ID, id)
	if err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND {
			return app.Errorf(app.ENOTFOUND, "Customer not found.")
		}
		return err
	}
	coupons, err := s.st.CouponsOf(ctx, shop.ID, cust.ID)
	if err != nil {
		return err
	}
	if len(coupons) > maxRedemptionsListed {
		coupons = coupons[:maxRedemptionsListed]
	}
	return c.JSON(http.StatusOK, coupons)
}

// handleCustomerCancelRedemption is POST
// /api/v1/customers/{shopify_customer_id}/redemptions/{redemption_id}/cancel:
// the merchant cancels an unused reward coupon (loyalty.CancelRedemption):
// the code is deleted in Shopify and the points come back. It answers 200
// with the coupon (status cancelled); cancelling again answers the same and
// returns nothing more. A coupon used on an order, still pending, failed,
// expired, or a store credit reward is 409; a redemption of another
// customer or shop is 404; Shopify unreachable is 503 (nothing changed, try
// again).
func (s *server) handleCustomerCancelRedemption(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	rid, err := parseID(c.Param("redemption_id"), "redemption_id")
	if err != nil {
		return err
	}
	coupon, err := s.loyalty.CancelRedemption(c.Request().Context(), shop.ID, id, rid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, coupon)
}

// idempotencyKey returns the request's Idempotency-Key header, "" when
// absent (the service then makes a random one). Keys are per shop: the
// same key on another customer of the shop is the same request.
func idempotencyKey(c echo.Context) (string, error) {
	key := c.Request().Header.Get(headerIdempotencyKey)
	if len(key) > maxIdempotencyKey {
		return "", app.FieldError("idempotency_key", "The Idempotency-Key header must be at most %d characters.", maxIdempotencyKey)
	}
	for _, r := range key {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return "", app.FieldError("idempotency_key", "The Idempotency-Key header must be printable ASCII.")
		}
	}
	return key, nil
}

// withDefaultField ties an EINVALID error without a field to field: the
// ledger's "Not enough points." is about the points asked for.
func withDefaultField(err error, field string) error {
	if app.ErrorCode(err) != app.EINVALID || app.ErrorField(err) != "" {
		return err
	}
	return &app.Error{Code: app.EINVALID, Field: field, Message: app.ErrorMessage(err), Err: err}
}
