package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/store"
)

// The storefront JSON API of DESIGN.md §6, under the app proxy: Shopify
// forwards https://{shop}/apps/loyalty/api/v1/... to /proxy/api/v1/... and
// signs the query (verifyProxy). The customer is the signed
// logged_in_customer_id and nothing else; answers are private to that
// shopper and never cached. The same handlers answer the customer account
// extension under /account/api/v1/... (account.go), where the customer is
// the session token's sub: each door puts its verified shopper in the
// context (withShopper) and the handlers read only that.

// maxRequestID bounds a redemption's request_id, like the admin API's
// Idempotency-Key.
const maxRequestID = maxIdempotencyKey

// proxyAPIBodyLimit caps the storefront's JSON bodies (a reward id and a
// request id).
const proxyAPIBodyLimit = "16K"

// noStore marks an answer as one shopper's, never to be cached.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "private, no-store")
		return next(c)
	}
}

// shopper is who a storefront front door verified: the app proxy
// (verifyProxy, the signed logged_in_customer_id) or the customer account
// extension's session token (verifyAccountToken, its sub). The handlers of
// the storefront JSON API read the shopper from here and never from the
// request, so one implementation serves both doors.
type shopper struct {
	customerID int64 // Shopify's numeric customer id; 0 for a guest
	// address is the shopper's IP address as the door can tell it, for the
	// referral attempt limits.
	address string
}

type shopperKey struct{}

func withShopper(ctx context.Context, sp shopper) context.Context {
	return context.WithValue(ctx, shopperKey{}, sp)
}

// shopperOf returns the verified shopper of the request; a guest when no
// door set one.
func shopperOf(c echo.Context) shopper {
	sp, _ := c.Request().Context().Value(shopperKey{}).(shopper)
	return sp
}

// storefrontMember returns the shop and the verified storefront customer;
// a guest is 401.
func storefrontMember(c echo.Context) (app.Shop, int64, error) {
	shop, err := shopFrom(c)
	if err != nil {
		return app.Shop{}, 0, err
	}
	id := shopperOf(c).customerID
	if id <= 0 {
		return app.Shop{}, 0, app.Errorf(app.EUNAUTHORIZED, "Sign in to your account to use your points.")
	}
	return shop, id, nil
}

// memberView is GET /proxy/api/v1/member.
type memberView struct {
	ShopifyCustomerID string `json:"shopify_customer_id"`
	PointsBalance     int64  `json:"points_balance"`
	SpendablePoints   int64  `json:"spendable_points"`
	PendingPoints     int64  `json:"pending_points"`
	Tier              string `json:"tier"`
	TierName          string `json:"tier_name,omitempty"`
	NextTier          string `json:"next_tier,omitempty"`
	NextTierName      string `json:"next_tier_name,omitempty"`
	AmountToNextTier  int64  `json:"amount_to_next_tier,omitempty"`
	// NextTierThreshold is what reaches NextTier in TierMetric, for a
	// progress bar.
	NextTierThreshold int64 `json:"next_tier_threshold,omitempty"`
	// TierMetric says what AmountToNextTier counts: "amount_spent" (minor
	// units of the shop currency) or "points_earned".
	TierMetric  string         `json:"tier_metric,omitempty"`
	Expiring    []expiringView `json:"expiring"`
	ReferralURL string         `json:"referral_url"`
	// Birthday is the month and day the program knows, nil when none.
	Birthday *loyalty.Birthday `json:"birthday,omitempty"`
}

type expiringView struct {
	Points    int64     `json:"points"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleProxyMember is GET /proxy/api/v1/member: the signed-in shopper's
// balance, tier and referral link. A shopper the app has not seen yet is a
// member with nothing earned.
func (s *server) handleProxyMember(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	v := memberView{ShopifyCustomerID: strconv.FormatInt(id, 10), Expiring: []expiringView{}}
	cv, err := s.loyalty.Customer(c.Request().Context(), shop.ID, id)
	switch {
	case app.ErrorCode(err) == app.ENOTFOUND:
		return c.JSON(http.StatusOK, v)
	case err != nil:
		return err
	}
	v.PointsBalance, v.SpendablePoints, v.PendingPoints = cv.PointsBalance, cv.SpendablePoints, cv.PendingPoints
	v.Tier, v.TierName, v.NextTier, v.NextTierName = cv.Tier, cv.TierName, cv.NextTier, cv.NextTierName
	v.AmountToNextTier, v.TierMetric, v.NextTierThreshold = cv.AmountToNextTier, cv.TierMetric, cv.NextTierThreshold
	v.ReferralURL = cv.ReferralURL
	if v.Birthday, err = s.memberBirthday(c, shop, id); err != nil {
		return err
	}
	if cv.NextExpiryAt != nil && cv.NextExpiryPoints > 0 {
		v.Expiring = append(v.Expiring, expiringView{Points: cv.NextExpiryPoints, ExpiresAt: *cv.NextExpiryAt})
	}
	return c.JSON(http.StatusOK, v)
}

// rewardView is one entry of GET /proxy/api/v1/rewards.
type rewardView struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	PointsCost    int64  `json:"points_cost"`
	DiscountType  string `json:"discount_type"`
	DiscountValue string `json:"discount_value"`
	Affordable    bool   `json:"affordable"`
}

// handleProxyRewards is GET /proxy/api/v1/rewards: the program's rewards,
// affordable for what the signed-in shopper can spend (never for a guest).
func (s *server) handleProxyRewards(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	settings, _, err := s.st.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	var spendable int64
	if id := shopperOf(c).customerID; id > 0 {
		if spendable, err = s.loyalty.Spendable(ctx, shop.ID, id); err != nil {
			return err
		}
	}
	out := make([]rewardView, 0, len(settings.Rewards))
	for _, r := range settings.Rewards {
		out = append(out, rewardView{ID: r.ID, Name: r.Name, PointsCost: r.PointsCost, DiscountType: string(r.DiscountType),
			DiscountValue: r.Value.String(), Affordable: spendable > 0 && spendable >= r.PointsCost})
	}
	return c.JSON(http.StatusOK, out)
}

// redemptionInput is the body of POST /proxy/api/v1/redemptions.
type redemptionInput struct {
	RewardID  string `json:"reward_id"`
	RequestID string `json:"request_id"`
}

// redemptionView is a redemption as the storefront sees it: pending until
// Shopify has created the code (or credited the store credit), then active
// with the code (store credit has none: discount_type "store_credit" with
// its amount and currency); failed: the points came back, and reason says
// why.
type redemptionView struct {
	ID           int64      `json:"id"`
	Status       string     `json:"status"`
	RewardID     string     `json:"reward_id"`
	PointsSpent  int64      `json:"points_spent"`
	DiscountType string     `json:"discount_type"`
	Code         string     `json:"code,omitempty"`
	Amount       string     `json:"amount,omitempty"`
	Currency     string     `json:"currency,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

func redemptionOf(cp *store.Coupon) redemptionView {
	v := redemptionView{ID: cp.ID, Status: cp.Status, RewardID: cp.RewardID, PointsSpent: cp.PointsSpent,
		DiscountType: cp.DiscountType, ExpiresAt: cp.ExpiresAt}
	switch {
	case cp.DiscountType == store.DiscountTypeStoreCredit:
		v.Amount, v.Currency = cp.DiscountValue, cp.Currency // no code: it is in the shopper's store credit
	case cp.Status == store.CouponActive:
		v.Code = cp.Code // only a code that works in Shopify is shown
	}
	if cp.Status == store.CouponFailed {
		v.Reason = loyalty.RedemptionReason(cp.LastError)
	}
	return v
}

// handleProxyRedeem is POST /proxy/api/v1/redemptions: the signed-in
// shopper spends points on a reward. request_id makes a retried click buy
// one reward: the same request_id answers the same redemption and spends
// nothing more. An unknown reward is 404; too few points 422 (reward_id).
func (s *server) handleProxyRedeem(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	var in redemptionInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	switch {
	case in.RewardID == "":
		return app.FieldError("reward_id", "reward_id is required.")
	case in.RequestID == "":
		return app.FieldError("request_id", "request_id is required.")
	case len(in.RequestID) > maxRequestID:
		return app.FieldError("request_id", "request_id must be at most %d characters.", maxRequestID)
	}
	ctx := c.Request().Context()
	settings, _, err := s.st.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	if _, ok := settings.Reward(in.RewardID); !ok {
		return app.Errorf(app.ENOTFOUND, "No reward %q.", in.RewardID)
	}
	// Request ids are the shopper's own: namespaced by customer, one shopper's
	// id can never answer with another's redemption.
	key := "proxy:" + strconv.FormatInt(id, 10) + ":" + in.RequestID
	cp, err := s.loyalty.RedeemWithKey(ctx, shop.ID, id, in.RewardID, key)
	if err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND {
			// A shopper the app has never seen has no points to spend.
			return app.FieldError("reward_id", "Not enough points for this reward.")
		}
		return withDefaultField(err, "reward_id")
	}
	return c.JSON(http.StatusCreated, redemptionOf(cp))
}

// handleProxyRedemptions is GET /proxy/api/v1/redemptions: the signed-in
// shopper's redemptions that still matter, newest first: codes that work
// and are unused, and those Shopify is still creating.
func (s *server) handleProxyRedemptions(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := []redemptionView{}
	cust, err := s.st.CustomerByShopifyID(ctx, shop.ID, id)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return c.JSON(http.StatusOK, out)
	}
	if err != nil {
		return err
	}
	coupons, err := s.st.CouponsOf(ctx, shop.ID, cust.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for i := range coupons {
		cp := &coupons[i]
		usable := cp.Status == store.CouponPending ||
			(cp.Status == store.CouponActive && cp.RedeemedAt == nil && (cp.ExpiresAt == nil || cp.ExpiresAt.After(now)))
		if usable && len(out) < 20 {
			out = append(out, redemptionOf(cp))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// handleProxyRedemption is GET /proxy/api/v1/redemptions/{id}, for polling
// a pending redemption; another shopper's is 404.
func (s *server) handleProxyRedemption(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	rid, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	cp, err := s.st.Coupon(c.Request().Context(), shop.ID, rid)
	if err != nil {
		return err
	}
	if cp.ShopifyCustomerID != id {
		return app.Errorf(app.ENOTFOUND, "No redemption %d.", rid)
	}
	return c.JSON(http.StatusOK, redemptionOf(cp))
}
