package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/config"
	"github.com/perkbridge/perkbridge/app/engagement"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/web"
)

const (
	testAPIKey    = "test-api-key"
	testAPISecret = "test-api-secret"
	testAppURL    = "https://perkbridge.example.com"
)

// testClock is the one clock of a test: the server's, the Shopify app's
// and the fake's, so tokens and signed queries can be aged on purpose.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects the server's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testBundle struct {
	e      *echo.Echo
	deps   web.Deps
	cfg    config.Config
	db     *store.DB
	st     *store.Store
	fake   *fake.Shopify
	app    *shopify.App
	tenant *tenant.Service
	// loyalty and forward are the real services over the test database.
	loyalty *loyalty.Service
	forward *forward.Service
	clock   *testClock
	logs    *syncBuffer
	reg     *prometheus.Registry

	// engagement is the real service; "Refresh now" runs it at once.
	engagement *engagement.Service

	mu          sync.Mutex
	reprocessed []int64
	refreshes   []app.ShopID
	webhookHits int
	webhookBody int64
}

type setupOpts struct {
	demo bool
	env  map[string]string // extra config environment (api_helpers_test.go)
}

func withDemo(o *setupOpts) { o.demo = true }

// setup builds a server over a fresh migrated database and a fake Shopify
// served through httptest.
func setup(t *testing.T, opts ...func(*setupOpts)) *testBundle {
	t.Helper()
	var o setupOpts
	for _, f := range opts {
		f(&o)
	}
	b := &testBundle{clock: &testClock{t: time.Now().UTC().Truncate(time.Second)}, logs: &syncBuffer{}}
	b.fake = fake.NewShopify(fake.ShopifyOptions{APIKey: testAPIKey, APISecret: testAPISecret, Now: b.clock.Now})
	fakeSrv := httptest.NewServer(b.fake)
	t.Cleanup(fakeSrv.Close)

	env := map[string]string{
		"SHOPIFY_API_KEY":     testAPIKey,
		"SHOPIFY_API_SECRET":  testAPISecret,
		"APP_URL":             testAppURL,
		"ENCRYPTION_KEY":      base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"SHOPIFY_SHOP_ORIGIN": fakeSrv.URL + "/{shop}",
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, o.demo)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	b.cfg = cfg
	logger := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.db = pgtest.NewDB(t)
	b.st = store.New(b.db.Gorm)
	v, err := vault.New(cfg.EncryptionKey)
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	b.app = &shopify.App{
		APIKey:      cfg.ShopifyAPIKey,
		APISecret:   cfg.ShopifyAPISecret,
		Scopes:      cfg.Scopes,
		RedirectURL: cfg.AppURL + "/auth/callback",
		Version:     cfg.APIVersion,
		ShopOrigin:  cfg.ShopOrigin,
		HTTPClient:  fakeSrv.Client(),
		Now:         b.clock.Now,
	}
	b.tenant = tenant.New(b.st, b.app, v, logger)
	b.loyalty = loyalty.New(b.st, b.tenant, nil, logger, loyalty.WithClock(b.clock.Now))
	b.forward = forward.New(b.st, v, b.tenant, logger, forward.Options{KlaviyoOrigin: cfg.KlaviyoOrigin, CleverTapOrigin: cfg.CleverTapRegionOrigin})
	b.engagement = engagement.New(b.st, b.forward, logger, engagement.Options{Now: b.clock.Now})
	b.reg = prometheus.NewRegistry()
	b.deps = web.Deps{
		Logger:  logger,
		Config:  cfg,
		DB:      b.db,
		Store:   b.st,
		Shopify: b.app,
		Tenant:  b.tenant,
		Vault:   v,
		Metrics: b.reg,
		WebhookHandler: func(c echo.Context) error {
			n, err := io.Copy(io.Discard, c.Request().Body)
			if err != nil {
				return err
			}
			b.mu.Lock()
			b.webhookHits++
			b.webhookBody = n
			b.mu.Unlock()
			return c.String(http.StatusOK, "received "+strconv.FormatInt(n, 10))
		},
		Reprocess: func(ctx context.Context, id int64) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.reprocessed = append(b.reprocessed, id)
			return nil
		},
		Loyalty: b.loyalty,
		Forward: b.forward,

		Engagement: b.engagement,
		RefreshEngagement: func(ctx context.Context, shopID app.ShopID) error {
			b.mu.Lock()
			b.refreshes = append(b.refreshes, shopID)
			b.mu.Unlock()
			_, err := b.engagement.Refresh(ctx, shopID, true)
			return err
		},
	}
	b.e, err = web.NewServer(b.deps)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return b
}

// install installs shop the way an embedded first load does: the fake
// knows the shop, and an ID token is exchanged for an offline token.
func (b *testBundle) install(t *testing.T, shop string) *store.Shop {
	t.Helper()
	b.fake.InstallShop(shop)
	sh, err := b.tenant.InstallFromIDToken(context.Background(), shop, b.fake.MintIDToken(shop, 1, time.Minute))
	if err != nil {
		t.Fatalf("install %s: %v", shop, err)
	}
	return sh
}

func (b *testBundle) token(shop string) string {
	return b.fake.MintIDToken(shop, 42, time.Minute)
}

func (b *testBundle) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.e.ServeHTTP(rec, req)
	return rec
}

// get sends a GET with header pairs ("Name", "value", ...).
func (b *testBundle) get(target string, headers ...string) *httptest.ResponseRecorder {
	return b.send(http.MethodGet, target, nil, headers...)
}

func (b *testBundle) send(method, target string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return b.do(req)
}

// api sends an authenticated JSON API request.
func (b *testBundle) api(method, target, token string) *httptest.ResponseRecorder {
	return b.send(method, target, nil, "Authorization", "Bearer "+token, "Accept", "application/json")
}

func (b *testBundle) reprocessCalls() []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int64(nil), b.reprocessed...)
}

// addWebhook stores an inbox row for the shop directly.
func (b *testBundle) addWebhook(t *testing.T, sh *store.Shop, topic, status, lastError string) int64 {
	t.Helper()
	var id int64
	err := b.db.Gorm.Raw(`INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, sh.ID, sh.Domain, "wh-"+strconv.FormatInt(time.Now().UnixNano(), 36), topic, []byte(`{"secret_body":true}`), status, lastError).Scan(&id).Error
	if err != nil {
		t.Fatalf("insert webhook: %v", err)
	}
	return id
}

func (b *testBundle) webhookStatus(t *testing.T, id int64) string {
	t.Helper()
	var status string
	if err := b.db.Gorm.Raw("SELECT status FROM webhooks WHERE id = ?", id).Scan(&status).Error; err != nil {
		t.Fatalf("webhook status: %v", err)
	}
	return status
}

func (b *testBundle) shopCount(t *testing.T, domain string) int64 {
	t.Helper()
	var n int64
	if err := b.db.Gorm.Raw("SELECT count(*) FROM shops WHERE domain = ?", domain).Scan(&n).Error; err != nil {
		t.Fatalf("count shops: %v", err)
	}
	return n
}

// apiError is the JSON error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	return v
}

func requireStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, want, truncate(rec.Body.String(), 600))
	}
}

// requireInvalidSession checks the 401 that makes App Bridge retry with a
// fresh token (DESIGN.md §8, reference shopify.md §3.4).
func requireInvalidSession(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	requireStatus(t, rec, http.StatusUnauthorized)
	if got := rec.Header().Get("X-Shopify-Retry-Invalid-Session-Request"); got != "1" {
		t.Errorf("X-Shopify-Retry-Invalid-Session-Request = %q, want 1", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") || !strings.Contains(got, "Idempotency-Key") {
		t.Errorf("Access-Control-Allow-Headers = %q, want Authorization and Idempotency-Key in it", got)
	}
	if got := rec.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Shopify-API-Request-Failure-Reauthorize-Url") {
		t.Errorf("Access-Control-Expose-Headers = %q", got)
	}
	e := decodeJSON[apiError](t, rec)
	if e.Error.Code != "unauthorized" || e.Error.Message == "" {
		t.Errorf("error body = %+v, want code unauthorized and a message", e)
	}
}

func doc(t *testing.T, rec *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return d
}

var (
	frameAncestorsRe = regexp.MustCompile(`frame-ancestors ([^;]*);`)
	nonceRe          = regexp.MustCompile(`'nonce-([^']+)'`)
)

// frameAncestors returns the sources of the CSP frame-ancestors directive.
func frameAncestors(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	csp := rec.Header().Get("Content-Security-Policy")
	m := frameAncestorsRe.FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("no frame-ancestors in CSP %q", csp)
	}
	return strings.Fields(m[1])
}

func cspNonce(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	csp := rec.Header().Get("Content-Security-Policy")
	m := nonceRe.FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("no nonce in CSP %q", csp)
	}
	return m[1]
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func location(t *testing.T, rec *httptest.ResponseRecorder) *url.URL {
	t.Helper()
	if rec.Code != http.StatusFound && rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want a redirect; body: %s", rec.Code, truncate(rec.Body.String(), 400))
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return u
}

// embeddedQuery is the query Shopify puts on an embedded load of shop.
func embeddedQuery(shop string) url.Values {
	handle := strings.TrimSuffix(shop, ".myshopify.com")
	return url.Values{
		"shop":     {shop},
		"host":     {base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/" + handle))},
		"embedded": {"1"},
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func urlParse(s string) (*url.URL, error) { return url.Parse(s) }
