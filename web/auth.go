package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// The OAuth state cookie, as Shopify's Node library sets it (reference
// shopify.md §1.2): a 32-byte hex nonce, signed with the app secret, scoped
// to the callback path and valid for 60 seconds.
const (
	stateCookie = "shopify_app_state"
	stateTTL    = 60 * time.Second
)

// handleEntry is the app URL Shopify opens (reference shopify.md §2, §3.4):
//   - with a valid id_token: install by token exchange if needed and show
//     the home page;
//   - embedded without one (or with a stale one): the bounce page;
//   - not embedded, for a known shop: into the admin; for an unknown shop:
//     OAuth;
//   - anything else: a page explaining how to install.
func (s *server) handleEntry(c echo.Context) error {
	q := c.QueryParams()
	shop, shopErr := shopify.NormalizeShop(q.Get("shop"))
	validShop := shopErr == nil
	allowFraming(c, shop)
	host, validHost := adminHost(q.Get("host"))

	if token := q.Get("id_token"); token != "" {
		sh, idt, err := s.authenticate(c.Request().Context(), token)
		if err == nil {
			return s.handleHome(s.withShop(c, sh, app.Actor("user:"+idt.UserID)))
		}
		if app.ErrorCode(err) == app.EUNAUTHORIZED && validShop && validHost {
			return s.redirectToBounce(c)
		}
		return err
	}
	if q.Get("embedded") == "1" {
		if validShop && validHost {
			return s.redirectToBounce(c)
		}
		if validShop {
			return app.Errorf(app.EBADREQUEST, "The host parameter is missing or invalid. Open the app from Shopify admin.")
		}
		return s.renderLanding(c)
	}
	if !validShop {
		return s.renderLanding(c)
	}
	sh, err := s.st.ShopByDomain(c.Request().Context(), shop)
	if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
		return err
	}
	if err != nil || sh.State != store.ShopActive {
		return c.Redirect(http.StatusFound, s.e.Reverse(routeAuthBegin)+"?"+url.Values{"shop": {shop}}.Encode())
	}
	if validHost {
		return c.Redirect(http.StatusFound, "https://"+host+"/apps/"+url.PathEscape(s.cfg.ShopifyAPIKey))
	}
	return c.Redirect(http.StatusFound, s.adminAppURL(shop))
}

// adminAppURL is the app inside the shop's admin.
func (s *server) adminAppURL(shop string) string {
	return "https://" + shop + "/admin/apps/" + url.PathEscape(s.cfg.ShopifyAPIKey)
}

func (s *server) renderLanding(c echo.Context) error {
	v := templates.LandingView{
		CSSURL:     s.cssURL,
		InstallURL: s.e.Reverse(routeAuthBegin),
		Demo:       s.cfg.Demo,
	}
	if s.cfg.Demo {
		v.DemoLoginURL = s.e.Reverse(routeDemoLogin)
	}
	return render(c, http.StatusOK, templates.LandingPage(v))
}

// handleAuthBegin starts the authorization-code grant: a signed state
// cookie, then the redirect to Shopify's authorize page. Inside the admin
// iframe it first leaves the iframe, since Shopify's authorize page cannot
// be framed.
func (s *server) handleAuthBegin(c echo.Context) error {
	if isBot(c.Request().UserAgent()) {
		return echo.NewHTTPError(http.StatusGone)
	}
	shop, err := shopify.NormalizeShop(c.QueryParam("shop"))
	if err != nil {
		return err
	}
	allowFraming(c, shop)
	begin := s.e.Reverse(routeAuthBegin) + "?" + url.Values{"shop": {shop}}.Encode()
	if c.QueryParam("embedded") == "1" {
		q := url.Values{"shop": {shop}, "exitIframe": {begin}}
		return c.Redirect(http.StatusFound, s.e.Reverse(routeAuthExitIframe)+"?"+q.Encode())
	}
	nonce := randomHex(32)
	target, err := s.shopify.AuthorizeURL(shop, nonce)
	if err != nil {
		return err
	}
	exp := s.now().Add(stateTTL)
	c.SetCookie(&http.Cookie{
		Name:     stateCookie,
		Value:    s.signState(nonce, exp),
		Path:     s.e.Reverse(routeAuthCallback),
		MaxAge:   int(stateTTL / time.Second),
		Expires:  exp,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode, // Lax: the callback is a top-level GET from Shopify
	})
	return c.Redirect(http.StatusFound, target)
}

// handleAuthCallback completes the authorization-code grant: the state
// must match the signed cookie of this browser (constant time), the query
// must carry Shopify's hmac with a fresh timestamp, and the code is then
// exchanged for an expiring offline token.
func (s *server) handleAuthCallback(c echo.Context) error {
	q := c.QueryParams()
	ck, cookieErr := c.Cookie(stateCookie)
	// Single use: the cookie goes whatever happens next.
	c.SetCookie(&http.Cookie{
		Name: stateCookie, Value: "", Path: s.e.Reverse(routeAuthCallback), MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	if cookieErr != nil || !s.stateMatches(ck.Value, q.Get("state")) {
		return app.Errorf(app.EBADREQUEST, "This install link has expired or was opened in another browser. Start the install again from Shopify.")
	}
	shop, err := s.shopify.VerifyCallback(q)
	if err != nil {
		return err
	}
	allowFraming(c, shop)
	code := q.Get("code")
	if code == "" {
		return app.FieldError("code", "The authorization code is missing.")
	}
	if _, err := s.tenant.CompleteOAuth(c.Request().Context(), shop, code); err != nil {
		var oe *shopify.OAuthError
		if errors.As(err, &oe) {
			return app.Wrap(app.EBADREQUEST, err, "Shopify did not accept the authorization. Start the install again from Shopify.")
		}
		return err
	}
	return c.Redirect(http.StatusFound, s.adminAppURL(shop))
}

// signState returns the state cookie value "{nonce}.{expiry}.{mac}".
func (s *server) signState(nonce string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return nonce + "." + e + "." + s.mac(stateCookie, nonce, e)
}

// stateMatches checks the cookie's signature and expiry, then compares its
// nonce with the state Shopify sent back, in constant time.
func (s *server) stateMatches(cookie, state string) bool {
	parts := strings.Split(cookie, ".")
	if len(parts) != 3 || state == "" {
		return false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.mac(stateCookie, parts[0], parts[1]))) {
		return false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(parts[0]), []byte(state)) == 1
}

// mac is the hex HMAC-SHA256, keyed with the app secret, of a purpose and
// its fields. The purpose keeps a signature made for one cookie from
// being accepted as another.
func (s *server) mac(purpose string, fields ...string) string {
	h := hmac.New(sha256.New, []byte(s.cfg.ShopifyAPISecret))
	h.Write([]byte(purpose))
	for _, f := range fields {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// handleAuthSessionToken is the bounce page (reference shopify.md §3.4).
func (s *server) handleAuthSessionToken(c echo.Context) error {
	allowFraming(c, c.QueryParam("shop"))
	return render(c, http.StatusOK, templates.BouncePage(templates.BounceView{APIKey: s.cfg.ShopifyAPIKey}))
}

// handleAuthExitIframe leaves the admin iframe for a URL of this app.
func (s *server) handleAuthExitIframe(c echo.Context) error {
	allowFraming(c, c.QueryParam("shop"))
	target, ok := s.ownURL(c.QueryParam("exitIframe"))
	if !ok {
		return app.FieldError("exitIframe", "The redirect target must be a page of this app.")
	}
	return render(c, http.StatusOK, templates.ExitIframePage(templates.ExitIframeView{
		APIKey: s.cfg.ShopifyAPIKey,
		URL:    target,
	}))
}

// ownURL returns raw as an absolute URL of this app, refusing any other
// origin so the exit page is not an open redirect.
func (s *server) ownURL(raw string) (string, bool) {
	if raw == "" || strings.ContainsAny(raw, "\\\r\n\t") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return "", false
	}
	base, err := url.Parse(s.cfg.AppURL)
	if err != nil {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(raw, "//") {
			return "", false
		}
		return base.Scheme + "://" + base.Host + u.RequestURI(), true
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return "", false
	}
	return u.String(), true
}
