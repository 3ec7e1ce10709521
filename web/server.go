// Package web is Perkbridge's HTTP surface on echo: the embedded admin
// (ID-token sessions, CSP per shop, App Bridge bounce), OAuth install, the
// JSON admin API, the app proxy, health, metrics and static assets. Every
// route is listed in routes.go and the middleware stack in middleware.go.
// Handlers parse, call the store or a service, and render; they return
// errors to the one error handler in errors.go. A handler takes its shop
// only from app.ShopFrom(ctx), which the session middleware fills from a
// verified token, never from a request parameter.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/config"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/templates"
)

// staticFS holds the app's own assets, served at /static/.
//
//go:embed static
var staticFS embed.FS

// Deps are the dependencies of the server. All of them are required:
// NewServer refuses a missing one instead of failing on first use.
type Deps struct {
	Logger  *slog.Logger
	Config  config.Config
	DB      *store.DB // readiness: ping and migration status
	Store   *store.Store
	Shopify *shopify.App
	Tenant  *tenant.Service
	// Vault seals secrets at rest; the integration settings pages use it.
	Vault   *vault.Vault
	Metrics *prometheus.Registry // the server registers its HTTP metrics here and serves it at /metrics
	// WebhookHandler serves POST /webhooks (package webhooks). It is mounted
	// behind nothing but request ids, logging and panic recovery: it must
	// read the raw, unlimited body to verify Shopify's HMAC itself.
	WebhookHandler echo.HandlerFunc
	// Reprocess wakes the inbox claimers to process a webhook delivery
	// again. It is called after the delivery is durably back in pending, so
	// a failed wake-up only waits for the claimers' poll.
	Reprocess func(ctx context.Context, webhookID int64) error
	// Loyalty runs the program: settings, customers, adjustments, rewards.
	Loyalty *loyalty.Service
	// Forward manages integrations, event definitions, deliveries and stats.
	Forward *forward.Service
	// DemoSinks, in demo mode only, tells what the sandbox Klaviyo
	// ("klaviyo") or CleverTap ("clevertap") received, newest first; false
	// for another kind. Nil outside the demo.
	DemoSinks func(kind string) (templates.DemoSinksView, bool)
}

func (d Deps) validate() error {
	var missing []string
	check := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	check(d.Logger != nil, "Logger")
	check(d.DB != nil && d.DB.Pool != nil && d.DB.SQL != nil, "DB")
	check(d.Store != nil, "Store")
	check(d.Shopify != nil, "Shopify")
	check(d.Tenant != nil, "Tenant")
	check(d.Vault != nil, "Vault")
	check(d.Metrics != nil, "Metrics")
	check(d.WebhookHandler != nil, "WebhookHandler")
	check(d.Reprocess != nil, "Reprocess")
	check(d.Loyalty != nil, "Loyalty")
	check(d.Forward != nil, "Forward")
	if len(missing) > 0 {
		return fmt.Errorf("web: missing dependencies: %s", strings.Join(missing, ", "))
	}
	var problems []string
	if d.Config.ShopifyAPIKey == "" {
		problems = append(problems, "Config.ShopifyAPIKey is empty")
	}
	if d.Config.ShopifyAPISecret == "" {
		problems = append(problems, "Config.ShopifyAPISecret is empty")
	}
	if u, err := url.Parse(d.Config.AppURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		problems = append(problems, fmt.Sprintf("Config.AppURL %q is not an absolute http(s) URL", d.Config.AppURL))
	}
	if d.Shopify.APIKey != d.Config.ShopifyAPIKey || d.Shopify.APISecret != d.Config.ShopifyAPISecret {
		problems = append(problems, "Shopify app credentials differ from Config")
	}
	if d.Shopify.RedirectURL == "" {
		problems = append(problems, "Shopify.RedirectURL is empty")
	}
	if len(problems) > 0 {
		return errors.New("web: " + strings.Join(problems, "; "))
	}
	return nil
}

// server carries the dependencies of every handler.
type server struct {
	e         *echo.Echo
	log       *slog.Logger
	cfg       config.Config
	db        *store.DB
	st        *store.Store
	shopify   *shopify.App
	tenant    *tenant.Service
	vault     *vault.Vault
	registry  *prometheus.Registry
	metrics   *httpMetrics
	webhook   echo.HandlerFunc
	reprocess func(ctx context.Context, webhookID int64) error
	loyalty   *loyalty.Service
	forward   *forward.Service
	demoSinks func(kind string) (templates.DemoSinksView, bool)

	secure       bool   // APP_URL is https: cookies are Secure and HSTS is sent
	static       fs.FS  // web/static
	assetVersion string // content hash of the static files, for cache busting
	cssURL       string
}

// NewServer returns the echo server with every route, the middleware stack
// and the error handler installed. It does not listen; main serves it.
func NewServer(deps Deps) (*echo.Echo, error) {
	if err := deps.validate(); err != nil {
		return nil, err
	}
	metrics, err := newHTTPMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	version, err := assetVersion(static)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &server{
		e:            e,
		log:          deps.Logger,
		cfg:          deps.Config,
		db:           deps.DB,
		st:           deps.Store,
		shopify:      deps.Shopify,
		tenant:       deps.Tenant,
		vault:        deps.Vault,
		registry:     deps.Metrics,
		metrics:      metrics,
		webhook:      deps.WebhookHandler,
		reprocess:    deps.Reprocess,
		loyalty:      deps.Loyalty,
		forward:      deps.Forward,
		demoSinks:    deps.DemoSinks,
		secure:       strings.HasPrefix(deps.Config.AppURL, "https://"),
		static:       static,
		assetVersion: version,
	}
	s.cssURL = "/static/app.css?v=" + version
	e.HTTPErrorHandler = s.handleError
	s.useMiddleware(e)
	addRoutes(e, s)
	return e, nil
}

// now is the server's clock: the Shopify app's, so that ID tokens, signed
// queries and the server's own cookies agree on the time (and tests can
// move it).
func (s *server) now() time.Time {
	if s.shopify.Now != nil {
		return s.shopify.Now()
	}
	return time.Now()
}

// assetVersion hashes every static file, so that asset URLs change with
// their content and can be cached for a year.
func assetVersion(static fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("web: hash static files: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
