package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
)

// Storefront routes the theme app extension needs beyond proxy_api.go
// (DESIGN.md §6), under the same signed app proxy and the same rules: the
// shopper is the signed logged_in_customer_id, answers are private and
// never cached (noStore on the group).

// routeProxyActivity is the name of GET /proxy/api/v1/activity, for
// e.Reverse like the route names in routes.go.
const routeProxyActivity = "proxy.api.activity"

// proxyActivityLimit is how many ledger entries the storefront shows.
const proxyActivityLimit = 20

// reasonManual replaces a manual adjustment's reason on the storefront:
// the merchant's own text is kept in the ledger for staff and "the
// customer does not see it" (the admin's adjust form says so).
const reasonManual = "manual"

// activityView is one entry of GET /proxy/api/v1/activity.
type activityView struct {
	Points    int64     `json:"points"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	OrderName string    `json:"order_name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// handleProxyActivity is GET /proxy/api/v1/activity: the signed-in
// shopper's newest ledger entries (at most proxyActivityLimit, newest
// first), each with the order's name when it came from an order. Entries
// that moved no points are left out; a manual adjustment shows reason
// "manual", never the merchant's note. A shopper the app has not seen yet
// has no activity; a guest is 401.
func (s *server) handleProxyActivity(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := []activityView{}
	cv, err := s.loyalty.Customer(ctx, shop.ID, id)
	switch {
	case app.ErrorCode(err) == app.ENOTFOUND:
		return c.JSON(http.StatusOK, out)
	case err != nil:
		return err
	}
	var lines []loyalty.LedgerLine
	for _, l := range cv.Ledger { // newest first
		if l.Points == 0 {
			continue
		}
		if lines = append(lines, l); len(lines) == proxyActivityLimit {
			break
		}
	}
	names, err := s.orderNames(c, shop.ID, id, lines)
	if err != nil {
		return err
	}
	for _, l := range lines {
		reason := l.Reason
		if l.Kind == string(ledger.KindAdjust) && reason != loyalty.ReasonMerge {
			reason = reasonManual
		}
		out = append(out, activityView{Points: l.Points, Kind: l.Kind, Reason: reason, OrderName: names[l.OrderID], CreatedAt: l.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
}

// orderNames maps the numeric Shopify order ids of lines to the orders'
// names ("#1001"), reading the shopper's orders once, and only when some
// line refers to an order.
func (s *server) orderNames(c echo.Context, shopID app.ShopID, shopifyCustomerID int64, lines []loyalty.LedgerLine) (map[string]string, error) {
	names := map[string]string{}
	need := false
	for _, l := range lines {
		need = need || l.OrderID != ""
	}
	if !need {
		return names, nil
	}
	ctx := c.Request().Context()
	cust, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if err != nil {
		return nil, err
	}
	orders, err := s.st.LoyaltyOrdersOf(ctx, shopID, cust.ID)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		if o.Name != "" {
			names[strconv.FormatInt(o.ShopifyID, 10)] = o.Name
		}
	}
	return names, nil
}
