package web

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/store"
)

// The customer account extension's door to the storefront JSON API
// (extensions/loyalty-account): /account/api/v1/... answers what
// /proxy/api/v1/... answers, with the same handlers, for a shopper signed
// in to new customer accounts. The extension runs on Shopify's extension
// origin and calls with fetch and "Authorization: Bearer <session token>"
// (shopify.sessionToken.get()); verifyAccountToken checks the token and
// puts the shop and the shopper (its sub) in the context, as verifyProxy
// does for the app proxy. Answers are private and never cached.

// Route names of the customer account door.
const (
	routeAccountPreflight   = "account.api.preflight"
	routeAccountMember      = "account.api.member"
	routeAccountRewards     = "account.api.rewards"
	routeAccountRedeem      = "account.api.redeem"
	routeAccountRedemptions = "account.api.redemptions"
	routeAccountRedemption  = "account.api.redemption"
	routeAccountBirthday    = "account.api.birthday"
	routeAccountActivity    = "account.api.activity"
	routeAccountRefer       = "account.api.referrals"
	routeAccountOrder       = "account.api.order"
)

// setAccountCORS lets the extension's origin read the answers. Any origin
// may: the door authenticates with the bearer token only, never a cookie,
// which is what Shopify documents for extension fetches (and what its own
// libraries answer for customer account requests).
func setAccountCORS(h http.Header) {
	h.Set(echo.HeaderAccessControlAllowOrigin, "*")
	h.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
}

// accountCORS sets the CORS headers on every answer of the door, errors
// included (a body over the limit, a refused token), so that the extension
// can read why.
func accountCORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setAccountCORS(c.Response().Header())
		return next(c)
	}
}

// handleAccountPreflight answers the CORS preflight of the extension's
// fetches, before authentication: preflights carry no Authorization.
func (s *server) handleAccountPreflight(c echo.Context) error {
	h := c.Response().Header()
	setAccountCORS(h)
	h.Set(echo.HeaderAccessControlAllowMethods, "GET, POST, PUT, OPTIONS")
	h.Set(echo.HeaderAccessControlMaxAge, "7200")
	return c.NoContent(http.StatusNoContent)
}

// verifyAccountToken admits the customer account extension's requests: a
// valid customer account session token (shopify.App.
// VerifyCustomerAccountToken: signed with the app secret, aud our client
// id, fresh, dest a shop, sub a customer GID when present) whose shop has
// the app installed; anything else is 401. A token without sub is a guest:
// the member routes answer 401, the reward list answers as for a guest.
// The customer id is the token's and nothing else; every read is scoped by
// the token's shop, so a customer id of one shop finds nothing in another.
func (s *server) verifyAccountToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		token, ok := bearerToken(req)
		if !ok || token == "" {
			return app.Errorf(app.EUNAUTHORIZED, "Missing session token.")
		}
		t, err := s.shopify.VerifyCustomerAccountToken(token)
		if err != nil {
			if app.ErrorCode(err) != app.EUNAUTHORIZED {
				err = app.Wrap(app.EUNAUTHORIZED, err, "Invalid session token.")
			}
			return err
		}
		ctx := req.Context()
		sh, err := s.st.ShopByDomain(ctx, t.Shop)
		switch {
		case app.ErrorCode(err) == app.ENOTFOUND:
			return app.Errorf(app.EUNAUTHORIZED, "The app is not installed on this shop.")
		case err != nil:
			return err
		case sh.State != store.ShopActive:
			return app.Errorf(app.EUNAUTHORIZED, "The app is not installed on this shop.")
		}
		ctx = app.WithShop(ctx, app.Shop{ID: sh.ID, Domain: sh.Domain})
		ctx = withShopper(ctx, shopper{customerID: t.CustomerID, address: directAddress(req)})
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// directAddress is the shopper's IP address on a request the shopper's
// browser sent to us directly (the extension's fetch): the last
// X-Forwarded-For entry, which the nearest proxy of our own hosting
// appends, else the connection's peer. The first entries are the client's
// to write, so unlike the app proxy's (shopperAddress) they prove nothing.
// [INFERRED] one proxy of our own in front, as on the usual hosts.
func directAddress(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		entries := strings.Split(xff, ",")
		if ip := net.ParseIP(strings.TrimSpace(entries[len(entries)-1])); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// orderPointsView is GET /account/api/v1/orders/{order_id}: what one order
// did to the signed-in customer's points.
type orderPointsView struct {
	OrderID   string `json:"order_id"`
	OrderName string `json:"order_name"`
	// Status is "awaiting" (the order has not earned yet, e.g. the program
	// credits on fulfilment), "pending" (earned, some points not yet
	// spendable), "earned", or "cancelled".
	Status         string `json:"status"`
	PointsEarned   int64  `json:"points_earned"`
	PointsReversed int64  `json:"points_reversed"`
	// PendingPoints of the order's points are not spendable before
	// AvailableAt (the latest of them).
	PendingPoints int64      `json:"pending_points"`
	AvailableAt   *time.Time `json:"available_at,omitempty"`
}

// handleAccountOrder is GET /account/api/v1/orders/{order_id}, for the
// order status page's block: the points the order earned, took back and
// still holds pending. order_id is Shopify's numeric order id (the digits
// of the order's GID). An order the app has not seen, or another
// customer's, is 404 alike; a guest is 401.
func (s *server) handleAccountOrder(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	oid, err := parseID(c.Param("order_id"), "order_id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	notFound := app.Errorf(app.ENOTFOUND, "No order %d.", oid)
	cust, err := s.st.CustomerByShopifyID(ctx, shop.ID, id)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return notFound
	}
	if err != nil {
		return err
	}
	o, err := s.st.LoyaltyOrderByGID(ctx, shop.ID, "gid://shopify/Order/"+strconv.FormatInt(oid, 10))
	if app.ErrorCode(err) == app.ENOTFOUND {
		return notFound
	}
	if err != nil {
		return err
	}
	if o.CustomerID == nil || *o.CustomerID != cust.ID {
		return notFound
	}
	lots, err := s.st.OrderLots(ctx, shop.ID, cust.ID, o.OrderGID)
	if err != nil {
		return err
	}
	v := orderPointsView{OrderID: strconv.FormatInt(oid, 10), OrderName: o.Name, PointsEarned: o.Earned, PointsReversed: o.Reversed}
	now := s.now()
	for _, l := range lots {
		if l.Remaining > 0 && l.AvailableAt != nil && l.AvailableAt.After(now) {
			v.PendingPoints += l.Remaining
			if v.AvailableAt == nil || l.AvailableAt.After(*v.AvailableAt) {
				at := *l.AvailableAt
				v.AvailableAt = &at
			}
		}
	}
	switch {
	case o.Cancelled:
		v.Status = "cancelled"
	case o.EarnedAt == nil:
		v.Status = "awaiting"
	case v.PendingPoints > 0:
		v.Status = "pending"
	default:
		v.Status = "earned"
	}
	return c.JSON(http.StatusOK, v)
}
