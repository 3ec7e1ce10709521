package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/webhooks"
)

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mustRun starts run() with env in the background, waits for /healthz and
// stops it at cleanup (wtf's MustRunMain with a readiness wait).
func mustRun(t *testing.T, args []string, env map[string]string) (base string, out *syncBuffer) {
	t.Helper()
	port := freePort(t)
	env["PORT"] = strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30s")
		}
	})
	base = "http://127.0.0.1:" + env["PORT"]
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, out
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 60s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe_EndToEnd runs the real program against a fake Shopify: a shop
// installs through token exchange (an ID token on the embedded entry), a
// signed customers/create webhook is stored and processed, /readyz and
// /metrics report, and the JSON API answers for that shop only.
func TestServe_EndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	const key, secret, shop = "e2e-api-key", "e2e-api-secret", "e2e-shop.myshopify.com"
	shopify := fake.NewShopify(fake.ShopifyOptions{APIKey: key, APISecret: secret})
	shopify.InstallShop(shop)
	fs := httptest.NewServer(shopify)
	t.Cleanup(fs.Close)
	base, out := mustRun(t, []string{"serve"}, map[string]string{
		"DATABASE_URL": dbURL, "SHOPIFY_API_KEY": key, "SHOPIFY_API_SECRET": secret,
		"APP_URL": "http://localhost", "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHOPIFY_SHOP_ORIGIN": fs.URL + "/{shop}", "LOG_FORMAT": "text",
	})

	// Embedded entry: the ID token installs the shop (token exchange).
	resp, err := http.Get(base + "/?embedded=1&shop=" + shop + "&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZTJlLXNob3A&id_token=" + shopify.MintIDToken(shop, 1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="shopify-api-key"`) {
		t.Fatalf("embedded entry: %d\n%s\n%s", resp.StatusCode, page, out.String())
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://"+shop+" https://admin.shopify.com") {
		t.Fatalf("CSP %q", csp)
	}

	// A signed webhook is acknowledged and processed by the workers.
	body := []byte(`{"id":4242,"admin_graphql_api_id":"gid://shopify/Customer/4242","email":"e2e@example.com","phone":"+14155550142","first_name":"End","last_name":"ToEnd","updated_at":"2026-01-01T00:00:00Z"}`)
	wr, err := shopify.SendWebhookWithID(context.Background(), base+"/webhooks", shop, "customers/create", "e2e-1", body)
	if err != nil {
		t.Fatal(err)
	}
	wr.Body.Close()
	if wr.StatusCode != 200 {
		t.Fatalf("webhook status %d", wr.StatusCode)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, "the webhook processed", func() bool {
		var status string
		conn.QueryRow(context.Background(), "SELECT status FROM webhooks WHERE webhook_id = 'e2e-1'").Scan(&status)
		return status == "processed"
	})

	// The JSON API, authenticated with an ID token, sees the customer.
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, got := get("/api/v1/customers/4242", shopify.MintIDToken(shop, 1, time.Minute))
	if code != 200 || !strings.Contains(got, "e2e@example.com") {
		t.Fatalf("customer API: %d %s", code, got)
	}
	code, _ = get("/api/v1/customers/4242", "not-a-token")
	if code != 401 {
		t.Fatalf("bad token: %d", code)
	}
	for _, path := range []string{"/readyz", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if path == "/metrics" && !strings.Contains(string(b), `perkbridge_webhooks_received_total{outcome="accepted",topic="customers/create"} 1`) {
			t.Fatalf("metrics lack the webhook counter:\n%s", b)
		}
	}
}

// TestDemo_Starts runs `demo` as a merchant would: it installs the demo shop
// through token exchange with its sandbox, seeds customers through signed
// webhooks and lets the admin in with a local session.
func TestDemo_Starts(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	base, out := mustRun(t, []string{"demo"}, map[string]string{"DATABASE_URL": dbURL})
	// /healthz answers before the seed finishes; the admin URL is printed after.
	waitFor(t, "the demo's admin URL", func() bool {
		return strings.Contains(out.String(), "/demo/login?shop="+demoShop)
	})
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, "demo customers", func() bool {
		var n int
		conn.QueryRow(context.Background(), "SELECT count(*) FROM customers WHERE shopify_id BETWEEN 7001 AND 7004").Scan(&n)
		return n == len(demoCustomers)
	})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(base + "/demo/login?shop=" + demoShop)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Perkbridge") {
		t.Fatalf("demo admin: %d %s", resp.StatusCode, page)
	}
	// The webhook command sends a correctly signed sample to the demo.
	var cmdOut bytes.Buffer
	err = run(context.Background(), []string{"webhook", "-topic", "orders/paid", "-url", base + "/webhooks", "-shop", demoShop, "-secret", "demo-api-secret", "-id", "cli-1"},
		func(string) string { return "" }, &cmdOut, &cmdOut)
	if err != nil || !strings.Contains(cmdOut.String(), "200 OK") {
		t.Fatalf("webhook command: %v %s", err, cmdOut.String())
	}
}

func TestWebhookCommand_Errors(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	env := func(string) string { return "" }
	if err := run(context.Background(), []string{"webhook", "-url", "http://127.0.0.1:1/webhooks"}, env, &out, &out); err == nil || !strings.Contains(err.Error(), "-topic is required") {
		t.Fatalf("missing topic: %v", err)
	}
	if err := run(context.Background(), []string{"webhook", "-topic", "orders/paid"}, env, &out, &out); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Fatalf("missing secret: %v", err)
	}
	if err := run(context.Background(), []string{"webhook", "-topic", "nope/nope", "-secret", "s"}, env, &out, &out); err == nil || !strings.Contains(err.Error(), "no sample") {
		t.Fatalf("unknown topic: %v", err)
	}
	if err := run(context.Background(), []string{"bogus"}, env, &out, &out); err == nil {
		t.Fatal("unknown command accepted")
	}
	if _, err := webhooks.Sample("orders/paid"); err != nil {
		t.Fatal(err)
	}
}

func TestServe_ConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		return map[string]string{"SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s", "APP_URL": "https://x.example", "ENCRYPTION_KEY": "short"}[k]
	}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEY") {
		t.Fatalf("err = %v", err)
	}
}
