package web

import (
	"crypto/hmac"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// The demo session: in demo mode only, a signed local cookie stands in for
// Shopify's ID tokens so that the admin works outside Shopify and offline.
// Outside demo mode the login route does not exist and the cookie is never
// read.
const (
	demoCookie     = "pb_demo_session"
	demoSessionTTL = 12 * time.Hour
)

// handleDemoLogin signs the browser in to an installed shop's admin.
func (s *server) handleDemoLogin(c echo.Context) error {
	shop, err := shopify.NormalizeShop(c.QueryParam("shop"))
	if err != nil {
		return app.FieldError("shop", "Enter a shop domain such as demo-store.myshopify.com.")
	}
	sh, err := s.st.ShopByDomain(c.Request().Context(), shop)
	if err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND {
			return app.Errorf(app.ENOTFOUND, "That shop has not installed the app.")
		}
		return err
	}
	if sh.State != store.ShopActive {
		return app.Errorf(app.ENOTFOUND, "That shop has not installed the app.")
	}
	exp := s.now().Add(demoSessionTTL)
	c.SetCookie(&http.Cookie{
		Name:     demoCookie,
		Value:    s.signDemo(sh.Domain, exp),
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(demoSessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode, // not sent on cross-site posts: no CSRF on the admin forms
	})
	return c.Redirect(http.StatusSeeOther, s.e.Reverse(routeAppHome))
}

// signDemo returns "{expiry}.{mac}.{domain}", the mac being the HMAC-SHA256
// of the domain and expiry under the app secret.
func (s *server) signDemo(domain string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + s.mac(demoCookie, domain, e) + "." + domain
}

// demoSession returns the shop of a valid demo cookie: well formed,
// signed by us (constant-time compare), not expired, for a shop that is
// installed and active.
func (s *server) demoSession(c echo.Context) (*store.Shop, bool) {
	if !s.cfg.Demo {
		return nil, false
	}
	ck, err := c.Cookie(demoCookie)
	if err != nil {
		return nil, false
	}
	parts := strings.SplitN(ck.Value, ".", 3)
	if len(parts) != 3 {
		return nil, false
	}
	e, mac, domain := parts[0], parts[1], parts[2]
	if !hmac.Equal([]byte(mac), []byte(s.mac(demoCookie, domain, e))) {
		return nil, false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return nil, false
	}
	if d, err := shopify.NormalizeShop(domain); err != nil || d != domain {
		return nil, false
	}
	sh, err := s.st.ShopByDomain(c.Request().Context(), domain)
	if err != nil || sh.State != store.ShopActive {
		return nil, false
	}
	return sh, true
}
