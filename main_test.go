package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
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
	base, out, stop := startRun(t, args, env)
	t.Cleanup(stop)
	return base, out
}

// startRun is mustRun that leaves the stopping to the caller: stop cancels
// run's context, as Ctrl-C does, and checks it returns cleanly and soon.
func startRun(t *testing.T, args []string, env map[string]string) (base string, out *syncBuffer, stop func()) {
	t.Helper()
	port := freePort(t)
	env["PORT"] = strconv.Itoa(port)
	if env["METRICS_ADDR"] == "" {
		// The internal metrics listener, on a port of this test's own.
		env["METRICS_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failed start still stops run
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out, out) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
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
	}
	base = "http://127.0.0.1:" + env["PORT"]
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, out, stop
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
	env := map[string]string{
		"DATABASE_URL": dbURL, "SHOPIFY_API_KEY": key, "SHOPIFY_API_SECRET": secret,
		"APP_URL": "http://localhost", "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHOPIFY_SHOP_ORIGIN": fs.URL + "/{shop}", "LOG_FORMAT": "text",
	}
	base, out := mustRun(t, []string{"serve"}, env)

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
	// /metrics is not on the public port without a METRICS_TOKEN; the
	// internal METRICS_ADDR listener serves it.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("public /metrics: %v %v", resp.Status, err)
	}
	for _, url := range []string{base + "/readyz", "http://" + env["METRICS_ADDR"] + "/metrics"} {
		path := url[strings.LastIndex(url, "/"):]
		resp, err := http.Get(url)
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
		// The inbox claimer runs in serve (counted before its commit).
		if path == "/metrics" && !strings.Contains(string(b), "perkbridge_inbox_claimed_total 1\n") {
			t.Fatalf("metrics lack the inbox claimer's count:\n%s", b)
		}
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

// TestWebhookCommand_FreshIDs: every send of an order or refund sample is a
// new order or refund (and a new webhook id), so "send more" earns more;
// -id sends the sample exactly as it is, for deduplication tests.
func TestWebhookCommand_FreshIDs(t *testing.T) {
	t.Parallel()
	type got struct {
		webhookID string
		body      map[string]any
	}
	var mu sync.Mutex
	var seen []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		seen = append(seen, got{r.Header.Get("X-Shopify-Webhook-Id"), m})
		mu.Unlock()
	}))
	defer srv.Close()
	send := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		args = append([]string{"webhook", "-url", srv.URL, "-secret", "s"}, args...)
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("%v: %v %s", args, err, out.String())
		}
	}
	send("-topic", "orders/paid")
	send("-topic", "orders/paid")
	send("-topic", "refunds/create")
	send("-topic", "refunds/create")
	send("-topic", "orders/paid", "-id", "same")
	send("-topic", "orders/paid", "-id", "same")
	if len(seen) != 6 {
		t.Fatalf("%d sends arrived", len(seen))
	}
	distinct := func(a, b got, what string) {
		t.Helper()
		if a.webhookID == b.webhookID || a.body["id"] == b.body["id"] || a.body["admin_graphql_api_id"] == b.body["admin_graphql_api_id"] {
			t.Errorf("two %s sends share ids: %v/%v %v/%v", what, a.webhookID, a.body["id"], b.webhookID, b.body["id"])
		}
		if id, ok := a.body["id"].(json.Number); !ok || !strings.HasSuffix(a.body["admin_graphql_api_id"].(string), "/"+id.String()) {
			t.Errorf("%s id %v does not match its GraphQL id %v", what, a.body["id"], a.body["admin_graphql_api_id"])
		}
	}
	distinct(seen[0], seen[1], "orders/paid")
	distinct(seen[2], seen[3], "refunds/create")
	if seen[0].body["name"] == seen[1].body["name"] {
		t.Errorf("two orders named %v", seen[0].body["name"])
	}
	sample, _ := webhooks.Sample("orders/paid")
	var want map[string]any
	dec := json.NewDecoder(bytes.NewReader(sample))
	dec.UseNumber()
	dec.Decode(&want)
	for _, g := range seen[4:] {
		if g.webhookID != "same" || g.body["id"] != want["id"] || g.body["name"] != want["name"] {
			t.Errorf("-id send changed the sample: %v %v %v", g.webhookID, g.body["id"], g.body["name"])
		}
	}
}

// TestWorker_ProcessesWhatWebOnlyServeStored: a web-only serve
// (WORKERS=0) stores webhooks, a separate `worker` process (with its lease
// from INBOX_LEASE) processes them, and stops cleanly on Ctrl-C.
func TestWorker_ProcessesWhatWebOnlyServeStored(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	const key, secret = "split-api-key", "split-api-secret"
	shopify := fake.NewShopify(fake.ShopifyOptions{APIKey: key, APISecret: secret})
	env := map[string]string{
		"DATABASE_URL": dbURL, "SHOPIFY_API_KEY": key, "SHOPIFY_API_SECRET": secret,
		"APP_URL": "http://localhost", "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"LOG_FORMAT": "text", "WORKERS": "0",
	}
	base, out := mustRun(t, []string{"serve"}, env)
	// A compliance topic for a shop that never installed: stored pending,
	// settled (ignored, with the reason) by whichever process works.
	wr, err := shopify.SendWebhookWithID(context.Background(), base+"/webhooks", "gone.myshopify.com", "customers/redact", "split-1", []byte(`{"shop_domain":"gone.myshopify.com","customer":{"id":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	wr.Body.Close()
	if wr.StatusCode != 200 {
		t.Fatalf("webhook status %d\n%s", wr.StatusCode, out.String())
	}
	workerEnv := map[string]string{}
	for k, v := range env {
		workerEnv[k] = v
	}
	workerEnv["METRICS_ADDR"], workerEnv["INBOX_LEASE"] = "off", "2s"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wout := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker"}, func(k string) string { return workerEnv[k] }, wout, wout)
	}()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, "the worker process to settle the webhook", func() bool {
		var status, reason string
		conn.QueryRow(context.Background(), "SELECT status, last_error FROM webhooks WHERE webhook_id = 'split-1'").Scan(&status, &reason)
		return status == "ignored" && strings.Contains(reason, "unknown shop")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker returned %v\n%s", err, wout.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not stop within 30s\n%s", wout.String())
	}
}
