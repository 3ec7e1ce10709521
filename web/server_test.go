package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
	"github.com/perkbridge/perkbridge/web"
)

func TestNewServer_RequiresEveryDependency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, mutate := range map[string]func(d *web.Deps){
		"Logger":         func(d *web.Deps) { d.Logger = nil },
		"DB":             func(d *web.Deps) { d.DB = nil },
		"Store":          func(d *web.Deps) { d.Store = nil },
		"Shopify":        func(d *web.Deps) { d.Shopify = nil },
		"Tenant":         func(d *web.Deps) { d.Tenant = nil },
		"Vault":          func(d *web.Deps) { d.Vault = nil },
		"Metrics":        func(d *web.Deps) { d.Metrics = nil },
		"WebhookHandler": func(d *web.Deps) { d.WebhookHandler = nil },
		"Reprocess":      func(d *web.Deps) { d.Reprocess = nil },
		"AppURL":         func(d *web.Deps) { d.Config.AppURL = "" },
		"APISecret":      func(d *web.Deps) { d.Config.ShopifyAPISecret = "" },
	} {
		d := b.deps
		mutate(&d)
		if _, err := web.NewServer(d); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: err = %v", name, err)
		}
	}
	if _, err := web.NewServer(b.deps); err != nil {
		t.Errorf("complete deps on a shared registry: %v", err)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()

	t.Run("Live", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/healthz")
		requireStatus(t, rec, http.StatusOK)
		if rec.Body.String() != "ok" {
			t.Errorf("body = %q", rec.Body.String())
		}
	})

	t.Run("ReadyOnAMigratedDatabase", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/readyz")
		requireStatus(t, rec, http.StatusOK)
		got := decodeJSON[map[string]any](t, rec)
		if got["status"] != "ok" || len(got) != 1 {
			t.Errorf("readyz = %v, want only the status", got)
		}
	})

	t.Run("NotReadyWhenThePoolIsClosed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		closed, err := store.Open(context.Background(), pgtest.NewURL(t), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		d := b.deps
		d.DB = closed
		e, err := web.NewServer(d)
		if err != nil {
			t.Fatal(err)
		}
		rec := httpDo(e, http.MethodGet, "/readyz")
		requireStatus(t, rec, http.StatusServiceUnavailable)
		got := decodeJSON[map[string]string](t, rec)
		if got["status"] != "unavailable" || len(got) != 1 {
			t.Errorf("readyz = %v, want only the status", got)
		}
	})

	t.Run("NotReadyWithPendingMigrations", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if err := b.db.Gorm.Exec("DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)").Error; err != nil {
			t.Fatal(err)
		}
		rec := b.get("/readyz")
		requireStatus(t, rec, http.StatusServiceUnavailable)
		if got := decodeJSON[map[string]string](t, rec); got["status"] != "unavailable" || len(got) != 1 {
			t.Errorf("readyz = %v, want only the status", got)
		}
		// The operator finds the reason in the log.
		if !strings.Contains(b.logs.String(), "migrations pending") {
			t.Errorf("the log lacks the reason:\n%s", b.logs.String())
		}
	})
}

func TestMetrics_CountRequestsByRoute(t *testing.T) {
	t.Parallel()
	const token = "metrics-token-0123456789"
	b := setup(t, func(o *setupOpts) { o.env = map[string]string{"METRICS_TOKEN": token} })
	requireStatus(t, b.get("/healthz"), http.StatusOK)
	requireStatus(t, b.get("/api/v1/customers/5"), http.StatusUnauthorized)
	// On the public port only with the token (compared in constant time).
	requireStatus(t, b.get("/metrics"), http.StatusUnauthorized)
	requireStatus(t, b.get("/metrics", "Authorization", "Bearer wrong-token-0123456789"), http.StatusUnauthorized)
	rec := b.get("/metrics", "Authorization", "Bearer "+token)
	requireStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		`perkbridge_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`perkbridge_http_requests_total{method="GET",route="/api/v1/customers/:shopify_customer_id",status="401"} 1`,
		`perkbridge_http_request_duration_seconds_count{method="GET",route="/healthz"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `route="/api/v1/customers/5"`) {
		t.Error("raw path used as a label")
	}
	// Without a configured token the public port does not serve it at all.
	requireStatus(t, setup(t).get("/metrics"), http.StatusNotFound)
}

func TestStatic(t *testing.T) {
	t.Parallel()
	b := setup(t, withDemo)
	d := doc(t, b.get("/"))
	href, _ := d.Find(`link[rel="stylesheet"]`).Attr("href")
	if !strings.HasPrefix(href, "/static/app.css?v=") {
		t.Fatalf("stylesheet = %q", href)
	}
	rec := b.get(href)
	requireStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("content type = %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("versioned cache control = %q", cc)
	}
	if !strings.Contains(rec.Body.String(), ".badge") {
		t.Error("not the app's stylesheet")
	}
	if cc := b.get("/static/app.css").Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("unversioned cache control = %q", cc)
	}
	for _, p := range []string{"/static/", "/static/nope.css", "/static/../server.go", "/static/%2e%2e/server.go"} {
		if rec := b.get(p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", p, rec.Code)
		}
	}
}

func TestWebhooks_MountedBare(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Larger than the API's 1 MiB limit: nothing in front of the handler
	// caps or consumes the body, and no session is needed.
	body := bytes.Repeat([]byte("x"), 9<<20)
	rec := b.send(http.MethodPost, "/webhooks", bytes.NewReader(body), "Content-Type", "application/json")
	requireStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "received 9437184" {
		t.Errorf("handler saw %q", rec.Body.String())
	}
	if strings.Contains(b.logs.String(), "xxxxxxxx") {
		t.Error("webhook body logged")
	}
}

func TestMiddleware_RequestIDLogsAndHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")

	rec := b.get("/healthz", "X-Request-Id", "abc-123")
	if got := rec.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("request id = %q", got)
	}
	rec = b.get("/healthz", "X-Request-Id", "bad id\nwith newline")
	if got := rec.Header().Get("X-Request-Id"); len(got) != 32 || strings.Contains(got, " ") {
		t.Errorf("generated request id = %q", got)
	}

	q := embeddedQuery(sh.Domain)
	idToken := b.token(sh.Domain)
	q.Set("id_token", idToken)
	rec = b.get("/app?"+q.Encode(), "X-Request-Id", "req-page")
	requireStatus(t, rec, http.StatusOK)
	bearer := b.token(sh.Domain)
	requireStatus(t, b.api(http.MethodGet, "/api/v1/integrations", bearer), http.StatusOK)

	logs := b.logs.String()
	for _, secret := range []string{idToken, bearer, "id_token", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", truncate(secret, 20))
		}
	}
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"request_id":"req-page"`) && strings.Contains(l, `"msg":"http request"`) {
			line = l
		}
	}
	for _, want := range []string{`"method":"GET"`, `"path":"/app"`, `"status":200`, `"shop":"shop-a.myshopify.com"`, `"duration_ms":`} {
		if !strings.Contains(line, want) {
			t.Errorf("request log %q lacks %s", line, want)
		}
	}

	h := rec.Header()
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Strict-Transport-Security") == "" || h.Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
		t.Errorf("security headers = %v", h)
	}
	if h.Get("X-Frame-Options") != "" {
		t.Error("X-Frame-Options would stop the admin from framing the app")
	}
}

func TestRoutes_NavResolves(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, item := range templates.AppNav() {
		if b.e.Reverse(item.Route) == "" {
			t.Errorf("nav route %q has no path", item.Route)
		}
	}
	names := map[string]bool{}
	for _, r := range b.e.Routes() {
		if r.Name != "" && !strings.Contains(r.Name, "/") && !strings.Contains(r.Name, "func") {
			names[r.Name] = true
		}
	}
	for _, want := range []string{"health.live", "health.ready", "metrics", "webhooks.receive", "entry", "auth.begin", "auth.callback",
		"auth.session_token", "auth.exit_iframe", "app.home", "app.webhooks", "app.webhooks.reprocess",
		"api.integrations.list", "api.customers.show", "api.webhooks.list", "api.webhooks.reprocess", "api.data_requests.list", "proxy.ping"} {
		if !names[want] {
			t.Errorf("route %q missing", want)
		}
	}
	if names["demo.login"] {
		t.Error("demo route outside demo mode")
	}
}

func httpDo(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}
