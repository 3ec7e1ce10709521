package web

import (
	"context"
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/referral"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

type proxyKey struct{}

// defaultProxyPrefix is the storefront prefix of the app proxy in
// shopify.app.toml, used when the signed path_prefix is not a plain path.
const defaultProxyPrefix = referral.ProxyPath

var proxyPrefixRe = regexp.MustCompile(`^/[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)

// proxyRequest returns what verifyProxy verified about the request.
func proxyRequest(c echo.Context) shopify.ProxyRequest {
	pr, _ := c.Request().Context().Value(proxyKey{}).(shopify.ProxyRequest)
	return pr
}

// storefrontPath returns the storefront path of a proxy page: the signed
// path prefix (/apps/loyalty) and suffix. Forms post there, so that Shopify
// forwards and signs the POST like the page.
func storefrontPath(pr shopify.ProxyRequest, suffix string) string {
	prefix := pr.PathPrefix
	if !proxyPrefixRe.MatchString(prefix) {
		prefix = defaultProxyPrefix
	}
	return prefix + suffix
}

// loggedInCustomer returns the storefront customer of a verified proxy
// request; false for a guest.
func loggedInCustomer(pr shopify.ProxyRequest) (int64, bool) {
	id, err := strconv.ParseInt(pr.LoggedInCustomerID, 10, 64)
	return id, err == nil && id > 0
}

// verifyProxy admits app-proxy requests (reference shopify.md §6): the
// query must carry Shopify's signature with a fresh timestamp, and the shop
// must have the app installed. The shop goes into the context like a
// session's; logged_in_customer_id is trusted only because the signature
// covered it.
func (s *server) verifyProxy(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		pr, err := s.shopify.VerifyProxy(c.QueryParams())
		if err != nil {
			if app.ErrorCode(err) != app.EUNAUTHORIZED {
				err = app.Wrap(app.EUNAUTHORIZED, err, "Invalid request signature.")
			}
			return err
		}
		ctx := c.Request().Context()
		sh, err := s.st.ShopByDomain(ctx, pr.Shop)
		if err != nil {
			return err
		}
		if sh.State != store.ShopActive {
			return app.Errorf(app.ENOTFOUND, "The app is not installed on this shop.")
		}
		if sh.WidgetSeenAt == nil {
			// The launch checklist's "a shopper loaded the widget": the
			// first signed call only (the row says so afterwards).
			if _, err := s.st.MarkWidgetSeen(ctx, sh.ID, s.now()); err != nil {
				s.log.WarnContext(ctx, "recording the first storefront call failed", "shop", sh.Domain, "err", err)
			}
		}
		ctx = app.WithShop(ctx, app.Shop{ID: sh.ID, Domain: sh.Domain})
		ctx = context.WithValue(ctx, proxyKey{}, pr)
		customer, _ := loggedInCustomer(pr)
		ctx = withShopper(ctx, shopper{customerID: customer, address: shopperAddress(c.Request())})
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// handleProxyPing is GET /proxy/ping: who is asking, for checking the
// proxy set-up from the storefront.
func (s *server) handleProxyPing(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	pr := proxyRequest(c)
	return c.JSON(http.StatusOK, map[string]string{
		"shop":                  shop.Domain,
		"logged_in_customer_id": pr.LoggedInCustomerID,
	})
}
