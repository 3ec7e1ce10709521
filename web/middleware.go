package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Headers of Shopify's embedded-app protocol (reference shopify.md §3.4).
const (
	// headerRetryInvalidSession on a 401 tells App Bridge to fetch a fresh
	// ID token and retry the request once.
	headerRetryInvalidSession = "X-Shopify-Retry-Invalid-Session-Request"
	headerReauthorizeURL      = "X-Shopify-API-Request-Failure-Reauthorize-Url"
)

// useMiddleware installs the stack every request goes through, outermost
// first. Logging sits outside Recover so that a panic is logged as the 500
// it becomes; the security headers sit inside, so that they are set on
// error pages too. Per-group middleware (body limits, sessions, the proxy
// signature) is in routes.go.
func (s *server) useMiddleware(e *echo.Echo) {
	e.Pre(middleware.RemoveTrailingSlash())
	e.Use(
		s.requestID,
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc:        s.logPanic,
			DisableErrorHandler: true, // the error goes up to logRequests, which hands it to handleError
		}),
		s.securityHeaders,
	)
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes X-Request-Id from a proxy when it is a plain token, or
// makes one, echoes it on the response and puts it in the context for logs.
func (s *server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !requestIDRe.MatchString(id) {
			id = randomHex(16)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(c.Request().WithContext(app.WithRequestID(c.Request().Context(), id)))
		return next(c)
	}
}

// logRequests logs one line per request and records the HTTP metrics. It
// logs the path without its query, because the query of embedded loads
// carries the ID token, and it never logs headers or bodies.
func (s *server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err) // write the error response now, so the status below is final
		}
		req, res := c.Request(), c.Response()
		d := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(req.Method, route, res.Status, d)
		level := slog.LevelInfo
		switch {
		case route == "/healthz", route == "/readyz", route == "/metrics", route == "/static/*":
			level = slog.LevelDebug
		case s.cfg.Demo && res.Status < 500:
			// The demo's terminal is for people: the simulator's steady
			// traffic would bury what matters (LOG_LEVEL=debug shows it).
			level = slog.LevelDebug
		}
		ctx := req.Context()
		shop, _ := app.ShopFrom(ctx)
		s.log.LogAttrs(ctx, level, "http request",
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("shop", shop.Domain),
			slog.String("request_id", app.RequestIDFrom(ctx)),
		)
		return nil
	}
}

func (s *server) logPanic(c echo.Context, err error, stack []byte) error {
	ctx := c.Request().Context()
	s.log.ErrorContext(ctx, "panic", "err", err, "path", c.Request().URL.Path,
		"request_id", app.RequestIDFrom(ctx), "stack", string(stack))
	return app.Wrap(app.EINTERNAL, err, "An internal error has occurred.")
}

// frame is the per-request state of the security headers: the CSP nonce
// and the shop allowed to frame the response.
type frame struct {
	nonce string
	shop  string // validated myshopify domain, or ""
}

type frameKey struct{}

// securityHeaders sets the headers every response gets and, on HTML
// responses, a Content-Security-Policy with a fresh script nonce (templ
// stamps it on scripts through templ.WithNonce) and frame-ancestors naming
// the request's shop, decided when the response is committed: the shop is
// only known once the session middleware or the handler has validated it.
func (s *server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		f := &frame{nonce: randomNonce()}
		ctx := templ.WithNonce(c.Request().Context(), f.nonce)
		ctx = context.WithValue(ctx, frameKey{}, f)
		c.SetRequest(c.Request().WithContext(ctx))
		c.Response().Before(func() {
			h := c.Response().Header()
			h.Set(echo.HeaderXContentTypeOptions, "nosniff")
			// Embedded URLs carry the ID token: never send them to other origins.
			h.Set(echo.HeaderReferrerPolicy, "strict-origin-when-cross-origin")
			if s.secure {
				h.Set(echo.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains")
			}
			if strings.HasPrefix(h.Get(echo.HeaderContentType), echo.MIMETextHTML) {
				shop := f.shop
				if sh, ok := app.ShopFrom(c.Request().Context()); ok {
					shop = sh.Domain
				}
				h.Set(echo.HeaderContentSecurityPolicy, contentSecurityPolicy(shop, f.nonce))
			}
		})
		return next(c)
	}
}

// contentSecurityPolicy returns the policy of an HTML response. Only the
// shop's own admin may frame it (reference shopify.md §3.5); with no
// validated shop, nobody may. Scripts need the nonce or come from Shopify's
// CDN (App Bridge loads its own modules from there).
func contentSecurityPolicy(shop, nonce string) string {
	ancestors := "frame-ancestors 'none';"
	if shop != "" {
		ancestors = "frame-ancestors https://" + shop + " https://admin.shopify.com;"
	}
	return ancestors + " script-src 'nonce-" + nonce + "' https://cdn.shopify.com; object-src 'none'; base-uri 'self'"
}

// allowFraming lets shop's admin frame this response. shop is validated
// here, so a value straight from the query can never reach the header.
func allowFraming(c echo.Context, shop string) {
	d, err := shopify.NormalizeShop(shop)
	if err != nil {
		return
	}
	if f, ok := c.Request().Context().Value(frameKey{}).(*frame); ok {
		f.shop = d
	}
}

// sessionMode says how a group authenticates and how it answers failure.
type sessionMode int

const (
	// apiSession: the JSON API. Authorization: Bearer <ID token>; failures
	// are 401 JSON with the retry header.
	apiSession sessionMode = iota
	// pageSession: the admin pages. Fetches carry the bearer header like
	// the API; document loads carry the token in the id_token query
	// parameter and go to the bounce page when it is missing or stale.
	pageSession
)

// requireSession authenticates the admin as Shopify's own framework does
// (reference shopify.md §3.4): verify the ID token, then make sure the
// token's shop is installed with a usable offline token, exchanging this
// ID token for one when it is not (first load, reinstall). The shop and the
// staff user go into the context. In demo mode a signed local cookie is
// accepted as well when no token is sent.
func (s *server) requireSession(mode sessionMode) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			token, hasBearer := bearerToken(req)
			document := mode == pageSession && !hasBearer && isDocumentRequest(c)
			if !document {
				setCORS(c.Response().Header())
			}
			if document {
				token = c.QueryParam("id_token")
			}
			if token == "" {
				if s.cfg.Demo {
					if sh, ok := s.demoSession(c); ok {
						return next(s.withShop(c, sh, "user:demo"))
					}
					if document {
						return c.Redirect(http.StatusSeeOther, s.e.Reverse(routeEntry))
					}
				}
				if document {
					return s.redirectToBounce(c)
				}
				return invalidSession(c, app.Errorf(app.EUNAUTHORIZED, "Missing session token."))
			}
			sh, idt, err := s.authenticate(req.Context(), token)
			if err != nil {
				if app.ErrorCode(err) != app.EUNAUTHORIZED {
					return err
				}
				if document {
					// A stale token in the URL: App Bridge gets a fresh one.
					return s.redirectToBounce(c)
				}
				return invalidSession(c, err)
			}
			return next(s.withShop(c, sh, app.Actor("user:"+idt.UserID)))
		}
	}
}

// authenticate verifies an ID token and returns its shop, installed and
// active. A shop that is missing, uninstalled or without a usable token is
// installed by token exchange. Every failure that a fresh token could fix
// is EUNAUTHORIZED.
func (s *server) authenticate(ctx context.Context, token string) (*store.Shop, *shopify.IDToken, error) {
	idt, err := s.shopify.VerifyIDToken(token)
	if err != nil {
		return nil, nil, err
	}
	sh, err := s.tenant.InstallFromIDToken(ctx, idt.Shop, token)
	if err != nil {
		var oe *shopify.OAuthError
		if errors.As(err, &oe) {
			return nil, nil, app.Wrap(app.EUNAUTHORIZED, err, "Shopify did not accept the session token. Reload the app from Shopify admin.")
		}
		return nil, nil, err
	}
	if sh.State != store.ShopActive {
		return nil, nil, app.Errorf(app.EUNAUTHORIZED, "The app is not installed on this shop.")
	}
	return sh, idt, nil
}

// withShop puts the authenticated shop and actor in the request context.
func (s *server) withShop(c echo.Context, sh *store.Shop, actor app.Actor) echo.Context {
	ctx := app.WithShop(c.Request().Context(), app.Shop{ID: sh.ID, Domain: sh.Domain})
	ctx = app.WithActor(ctx, actor)
	c.SetRequest(c.Request().WithContext(ctx))
	return c
}

// invalidSession answers 401 with the header that makes App Bridge retry
// once with a fresh ID token.
func invalidSession(c echo.Context, err error) error {
	c.Response().Header().Set(headerRetryInvalidSession, "1")
	if app.ErrorCode(err) != app.EUNAUTHORIZED {
		err = app.Wrap(app.EUNAUTHORIZED, err, "Invalid session token.")
	}
	return err
}

// setCORS sets the CORS headers Shopify's framework puts on responses to
// authenticated fetches. The API authenticates with a bearer token, never
// an ambient cookie, so any origin may read what its token allows (the demo
// cookie is SameSite=Lax and is not sent cross-site).
func setCORS(h http.Header) {
	h.Set(echo.HeaderAccessControlAllowOrigin, "*")
	h.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, "+headerIdempotencyKey)
	h.Set(echo.HeaderAccessControlExposeHeaders, headerReauthorizeURL+", "+headerRetryInvalidSession)
}

// handlePreflight answers CORS preflights of the JSON API.
func (s *server) handlePreflight(c echo.Context) error {
	setCORS(c.Response().Header())
	c.Response().Header().Set(echo.HeaderAccessControlAllowMethods, "GET, POST, PUT, PATCH, DELETE, OPTIONS")
	c.Response().Header().Set(echo.HeaderAccessControlMaxAge, "7200")
	return c.NoContent(http.StatusNoContent)
}

// redirectToBounce sends a document request without a usable ID token to
// the bounce page, which reloads it through App Bridge with a fresh one:
// /auth/session-token?{query without id_token}&shopify-reload={app url}{path}?{query without id_token}.
func (s *server) redirectToBounce(c echo.Context) error {
	req := c.Request()
	q := req.URL.Query()
	q.Del("id_token")
	q.Del("shopify-reload")
	reload := s.cfg.AppURL + req.URL.Path
	if enc := q.Encode(); enc != "" {
		reload += "?" + enc
	}
	q.Set("shopify-reload", reload)
	return c.Redirect(http.StatusFound, s.e.Reverse(routeAuthSessionToken)+"?"+q.Encode())
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get(echo.HeaderAuthorization)
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

// isDocumentRequest reports whether the browser is loading a page, as
// opposed to a script fetching data: a GET that does not ask for JSON.
func isDocumentRequest(c echo.Context) bool {
	m := c.Request().Method
	return (m == http.MethodGet || m == http.MethodHead) && !acceptsJSON(c.Request())
}

func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Get(echo.HeaderAccept)
	return strings.Contains(accept, echo.MIMEApplicationJSON) && !strings.Contains(accept, echo.MIMETextHTML)
}

// wantsJSON reports whether an answer, an error in particular, should be
// JSON: the API, authenticated fetches and anything asking for JSON.
func wantsJSON(c echo.Context) bool {
	r := c.Request()
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/proxy/api/") ||
		strings.HasPrefix(r.URL.Path, "/account/api/") {
		return true
	}
	if _, ok := bearerToken(r); ok {
		return true
	}
	return acceptsJSON(r)
}

// carry returns the query parameters that in-app links and forms keep so
// that a navigation inside the admin iframe can still be framed and
// bounced: the authenticated shop, a valid host and embedded=1.
func (s *server) carry(c echo.Context) url.Values {
	v := url.Values{}
	shop, ok := app.ShopFrom(c.Request().Context())
	if !ok {
		return v
	}
	q := c.Request().URL.Query()
	if d, err := shopify.NormalizeShop(q.Get("shop")); err == nil && d == shop.Domain {
		v.Set("shop", d)
	}
	if _, ok := adminHost(q.Get("host")); ok {
		v.Set("host", q.Get("host"))
	}
	if q.Get("embedded") == "1" {
		v.Set("embedded", "1")
	}
	return v
}

// appLink returns path with the carried parameters and extra ones.
func (s *server) appLink(c echo.Context, path string, extra url.Values) string {
	q := s.carry(c)
	for k, vs := range extra {
		for _, v := range vs {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

var hostParamRe = regexp.MustCompile(`^[0-9a-zA-Z+/]+={0,2}$`)

// adminHost decodes the base64 host parameter of an admin load and returns
// it when it is a Shopify admin: admin.shopify.com/store/{handle} or
// {handle}.myshopify.com/admin (reference shopify.md §1.4). Anything else
// is refused, so a redirect built from it stays inside Shopify's admin.
func adminHost(param string) (string, bool) {
	if !hostParamRe.MatchString(param) {
		return "", false
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(param, "="))
	if err != nil {
		return "", false
	}
	host := string(raw)
	if handle, ok := strings.CutPrefix(host, "admin.shopify.com/store/"); ok {
		if d, err := shopify.NormalizeShop(handle + ".myshopify.com"); err == nil && d == handle+".myshopify.com" {
			return host, true
		}
		return "", false
	}
	if shop, ok := strings.CutSuffix(host, "/admin"); ok {
		if d, err := shopify.NormalizeShop(shop); err == nil && d == shop {
			return host, true
		}
	}
	return "", false
}

// isBot reports a crawler by its User-Agent; Shopify's library refuses
// them on OAuth begin.
func isBot(ua string) bool {
	ua = strings.ToLower(ua)
	return strings.Contains(ua, "bot") || strings.Contains(ua, "crawler") || strings.Contains(ua, "spider")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// shopFrom returns the authenticated shop of the request. Handlers behind
// a session or proxy middleware always have one; the error is a guard.
func shopFrom(c echo.Context) (app.Shop, error) {
	sh, ok := app.ShopFrom(c.Request().Context())
	if !ok {
		return app.Shop{}, app.Errorf(app.EUNAUTHORIZED, "Not signed in.")
	}
	return sh, nil
}

// parseID parses a positive int64 path parameter, naming the field when it
// is not one.
func parseID(raw, field string) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, app.FieldError(field, "Must be a positive integer.")
	}
	return n, nil
}
