package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/inbox"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
	"github.com/perkbridge/perkbridge/webhooks"
)

const secret = "test-webhook-secret"

type bundle struct {
	dbURL   string
	db      *store.DB
	st      *store.Store
	srv     *httptest.Server
	writer  *inbox.Writer
	handler *webhooks.Handler
	log     *slog.Logger
}

// setup runs the intake (handler + group-commit writer) against a fresh
// database. Workers are started separately, so tests can decide when
// processing happens.
func setup(t testing.TB) *bundle {
	t.Helper()
	dbURL := pgtest.NewURL(t)
	db, err := store.Open(context.Background(), dbURL, 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := inbox.NewWriter(db.Pool, inbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h := webhooks.NewHandler(&shopify.App{APIKey: "k", APISecret: secret}, w, log, prometheus.NewRegistry())
	e := echo.New()
	e.POST("/webhooks", h.Serve)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &bundle{dbURL: dbURL, db: db, st: store.New(db.Gorm), srv: srv, writer: w, handler: h, log: log}
}

// startWorker runs an inbox claimer applying webhooks through l until the
// returned stop is called (or the test ends). stop cancels the claimer;
// a batch in progress then gets a millisecond before it is rolled back
// and its rows released (cancelRunning is kept for the callers' intent).
func (b *bundle) startWorker(t testing.TB, l webhooks.Loyalty, id string) (stop func(cancelRunning bool)) {
	t.Helper()
	return b.startClaimer(t, webhooks.NewProcessor(l, b.log).Dispatch, worker.ClaimerOptions{ID: id, Yield: b.writer.Busy})
}

// startClaimer runs a claimer with dispatch and opts (ShutdownGrace 1 ms
// unless set) until stop is called or the test ends.
func (b *bundle) startClaimer(t testing.TB, dispatch worker.Dispatcher, opts worker.ClaimerOptions) (stop func(cancelRunning bool)) {
	t.Helper()
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = time.Millisecond
	}
	c := worker.NewClaimer(b.db, dispatch, b.log, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var once sync.Once
	stop = func(bool) { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(func() { stop(false) })
	return stop
}

type delivery struct {
	topic, shop, id string
	body            []byte
	hmac            *string // nil: sign correctly
}

func (b *bundle) send(t *testing.T, d delivery) *http.Response {
	t.Helper()
	if d.id == "" {
		d.id = uuid.NewString()
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks", bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", d.topic)
	req.Header.Set("X-Shopify-Shop-Domain", d.shop)
	req.Header.Set("X-Shopify-Webhook-Id", d.id)
	req.Header.Set("X-Shopify-Event-Id", "evt-"+d.id)
	req.Header.Set("X-Shopify-API-Version", "2026-10")
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	// Signed by the fake's own signer, so a mistake in our verifier cannot
	// be mirrored by the test.
	sig := fake.SignShopifyWebhook(secret, d.body)
	if d.hmac != nil {
		sig = *d.hmac
	}
	if sig != "" {
		req.Header.Set("X-Shopify-Hmac-Sha256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (b *bundle) installShop(t testing.TB, domain string) *store.Shop {
	t.Helper()
	sh, err := b.st.SaveInstall(context.Background(), domain, store.Tokens{AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func (b *bundle) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (b *bundle) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sample(t testing.TB, topic string) []byte {
	t.Helper()
	b, err := webhooks.Sample(topic)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func customerBody(id int64, email, updated string) []byte {
	return []byte(fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%q,"phone":null,"first_name":"Ada","last_name":"Lovelace","state":"enabled","updated_at":%q}`, id, id, email, updated))
}

func TestIntake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const shop = "intake.myshopify.com"
	b.installShop(t, shop)
	// No worker runs in this test: rows stay as intake left them, and no
	// River job is ever inserted for a webhook.
	noJobs := func() {
		t.Helper()
		if n := b.count(t, "SELECT count(*) FROM river_job"); n != 0 {
			t.Fatalf("%d River jobs; the inbox rows are the queue", n)
		}
	}
	t.Run("ValidStoredOncePendingWithItsOrder", func(t *testing.T) {
		resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-valid", body: sample(t, "orders/paid")})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'w-valid' AND status = 'pending' AND shop_id <> 0 AND next_attempt_at <= now() AND lease_holder IS NULL"); n != 1 {
			t.Fatalf("%d rows", n)
		}
		// The order key serialises the order's webhooks (the sample's
		// numeric id, as its refunds name it).
		var key string
		b.db.Pool.QueryRow(context.Background(), "SELECT order_key FROM webhooks WHERE webhook_id = 'w-valid'").Scan(&key)
		if key != "820982911946154500" {
			t.Fatalf("order key %q", key)
		}
		noJobs()
		var headers string
		b.db.Pool.QueryRow(context.Background(), "SELECT headers::text FROM webhooks WHERE webhook_id = 'w-valid'").Scan(&headers)
		if !strings.Contains(headers, "x-shopify-event-id") || strings.Contains(strings.ToLower(headers), "hmac") {
			t.Fatalf("stored headers %s", headers)
		}
	})
	t.Run("DuplicateIsNoOp", func(t *testing.T) {
		resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-valid", body: sample(t, "orders/paid")})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'w-valid'"); n != 1 {
			t.Fatalf("%d rows after duplicate", n)
		}
	})
	t.Run("ForgedOrMissingHMAC", func(t *testing.T) {
		forged := fake.SignShopifyWebhook("not-the-secret", []byte(`{}`))
		empty := ""
		notBase64 := "!!!"
		for name, h := range map[string]*string{"Forged": &forged, "Missing": &empty, "Garbage": &notBase64} {
			resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-forged-" + name, body: sample(t, "orders/paid"), hmac: h})
			if resp.StatusCode != 401 {
				t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
			}
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id LIKE 'w-forged-%'"); n != 0 {
			t.Fatalf("%d forged rows stored", n)
		}
	})
	t.Run("TamperedBody", func(t *testing.T) {
		sig := fake.SignShopifyWebhook(secret, sample(t, "orders/paid"))
		body := bytes.Replace(sample(t, "orders/paid"), []byte(`"paid"`), []byte(`"pending"`), 1)
		if resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-tampered", body: body, hmac: &sig}); resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("LargeOrder600LineItems", func(t *testing.T) {
		body := bigOrder(t, 600)
		if len(body) < 2<<20 {
			t.Fatalf("test order is only %d bytes", len(body))
		}
		resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-big", body: body})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'w-big' AND length(body) = $1", len(body)); n != 1 {
			t.Fatal("large order not stored whole")
		}
	})
	t.Run("Over8MiB", func(t *testing.T) {
		body := bytes.Repeat([]byte("x"), 9<<20)
		resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-huge", body: body})
		if resp.StatusCode != 413 {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
		// Without a Content-Length the cap still holds.
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks", io.NopCloser(bytes.NewReader(body)))
		req.ContentLength = -1
		req.Header.Set("X-Shopify-Hmac-Sha256", fake.SignShopifyWebhook(secret, body))
		req.Header.Set("X-Shopify-Topic", "orders/paid")
		req.Header.Set("X-Shopify-Shop-Domain", shop)
		req.Header.Set("X-Shopify-Webhook-Id", "w-huge-chunked")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("chunked: status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("MalformedJSONStoredFailed", func(t *testing.T) {
		resp := b.send(t, delivery{topic: "orders/paid", shop: shop, id: "w-malformed", body: []byte(`{"id": 1, "line_items": [`)})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var status, reason string
		b.db.Pool.QueryRow(context.Background(), "SELECT status, last_error FROM webhooks WHERE webhook_id = 'w-malformed'").Scan(&status, &reason)
		if status != "failed" || !strings.HasPrefix(reason, "malformed JSON") {
			t.Fatalf("status %q reason %q", status, reason)
		}
		noJobs()
	})
	t.Run("UnknownShopRecordedNoEffect", func(t *testing.T) {
		resp := b.send(t, delivery{topic: "orders/paid", shop: "stranger.myshopify.com", id: "w-stranger", body: sample(t, "orders/paid")})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var status, reason string
		var shopID int64 = -1
		b.db.Pool.QueryRow(context.Background(), "SELECT status, last_error, shop_id FROM webhooks WHERE webhook_id = 'w-stranger'").Scan(&status, &reason, &shopID)
		if status != "ignored" || shopID != 0 || !strings.Contains(reason, "unknown shop") { // 0: no shop row
			t.Fatalf("status %q reason %q shop %v", status, reason, shopID)
		}
	})
	t.Run("MissingHeadersAndBadDomain", func(t *testing.T) {
		if resp := b.send(t, delivery{topic: "", shop: shop, id: "w-notopic", body: []byte(`{}`)}); resp.StatusCode != 400 {
			t.Errorf("no topic: %d", resp.StatusCode)
		}
		if resp := b.send(t, delivery{topic: "orders/paid", shop: "evil.com", id: "w-evil", body: []byte(`{}`)}); resp.StatusCode != 400 {
			t.Errorf("bad domain: %d", resp.StatusCode)
		}
	})
	t.Run("LowercaseHeaderFamily", func(t *testing.T) {
		body := []byte(`{"id":1}`)
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks", bytes.NewReader(body))
		req.Header.Set("shopify-hmac-sha256", fake.SignShopifyWebhook(secret, body))
		req.Header.Set("shopify-topic", "orders/updated")
		req.Header.Set("shopify-shop-domain", shop)
		req.Header.Set("shopify-webhook-id", "w-events-family")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'w-events-family'") != 1 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestIntake_ConcurrentDuplicates sends the same delivery many times at
// once: exactly one row.
func TestIntake_ConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.installShop(t, "dupes.myshopify.com")
	body := customerBody(5, "d@example.com", "2026-01-01T00:00:00Z")
	var ok atomic.Int64
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			if b.send(t, delivery{topic: "customers/create", shop: "dupes.myshopify.com", id: "same-id", body: body}).StatusCode == 200 {
				ok.Add(1)
			}
		}()
	}
	for range 20 {
		<-done
	}
	if ok.Load() != 20 {
		t.Fatalf("%d of 20 answered 200", ok.Load())
	}
	if n := b.count(t, "SELECT count(*) FROM webhooks"); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

// TestUnnotifiedRowFoundByPoll: a pending row committed without a
// notification (written by an older process, or whose notification the
// listener missed while reconnecting) is processed by the claimers' poll,
// exactly once.
func TestUnnotifiedRowFoundByPoll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.installShop(t, "orphan.myshopify.com")
	if err := b.st.Gorm().Exec(`INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status, received_at)
VALUES (?, ?, 'orphan', 'customers/create', ?, 'pending', now() - interval '1 minute')`, sh.ID, sh.Domain, customerBody(77, "o@example.com", "2026-01-01T00:00:00Z")).Error; err != nil {
		t.Fatal(err)
	}
	b.startClaimer(t, webhooks.NewProcessor(webhooks.NoLoyalty{}, b.log).Dispatch, worker.ClaimerOptions{ID: "poller", PollInterval: 100 * time.Millisecond})
	b.waitFor(t, "the poll to process the orphan", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'orphan' AND status = 'processed' AND attempts = 1") == 1
	})
	if _, err := b.st.CustomerByShopifyID(context.Background(), sh.ID, 77); err != nil {
		t.Fatal(err)
	}
}

// effects is a Loyalty that records, inside the processing transaction,
// one row per customer event it applies: committed effects are counted
// exactly, rolled-back ones vanish.
type effects struct {
	webhooks.NoLoyalty
	block atomic.Bool // when set, hang until the job's context is cancelled
}

func (e *effects) CustomerUpserted(ctx context.Context, tx *store.Store, shop *store.Shop, c *store.Customer, created bool, row int64) error {
	if e.block.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return tx.Gorm().Exec("INSERT INTO test_effects (webhook_row) VALUES (?)", row).Error
}

// TestCrashBetweenAckAndProcessing stores webhooks with no worker, starts a
// worker that dies (its context cancelled mid-transaction) while holding a
// batch, then starts a fresh worker: every stored webhook is processed
// exactly once. (A worker killed outright, its leases left held, is
// app/worker's TestClaimer_KilledClaimersRowsTakenOver.)
func TestCrashBetweenAckAndProcessing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const shop = "crash.myshopify.com"
	b.installShop(t, shop)
	if _, err := b.db.Pool.Exec(context.Background(), "CREATE TABLE test_effects (webhook_row bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if resp := b.send(t, delivery{topic: "customers/create", shop: shop, id: fmt.Sprintf("c-%d", i), body: customerBody(int64(1000+i), fmt.Sprintf("c%d@example.com", i), "2026-01-01T00:00:00Z")}); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Acknowledged, durable, not processed.
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'pending'"); got != n {
		t.Fatalf("%d pending rows, want %d", got, n)
	}
	eff := &effects{}
	eff.block.Store(true)
	stop := b.startWorker(t, eff, "doomed")
	b.waitFor(t, "the doomed worker to hold rows", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE lease_holder LIKE 'doomed:%' AND lease_until > now()") > 0
	})
	stop(true) // the crash: running transactions roll back, nothing commits
	if got := b.count(t, "SELECT count(*) FROM test_effects"); got != 0 {
		t.Fatalf("%d effects committed by the crashed worker", got)
	}
	eff.block.Store(false)
	b.startWorker(t, eff, "survivor")
	b.waitFor(t, "every webhook processed", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE status = 'processed'") == n
	})
	if got := b.count(t, "SELECT count(*) FROM test_effects"); got != n {
		t.Fatalf("%d effects, want exactly %d", got, n)
	}
	if got := b.count(t, "SELECT count(DISTINCT webhook_row) FROM test_effects"); got != n {
		t.Fatalf("%d distinct effects, want %d", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM customers"); got != n {
		t.Fatalf("%d customers", got)
	}
}

// failing is a Loyalty whose order handling always fails, to prove failures
// are visible with their reason and can be reprocessed.
type failing struct {
	webhooks.NoLoyalty
	fail atomic.Bool
}

func (f *failing) Order(ctx context.Context, tx *store.Store, shop *store.Shop, topic string, o *shopify.Order, row int64) error {
	if f.fail.Load() {
		return fmt.Errorf("loyalty: order %s: rule evaluation failed", o.Name)
	}
	return nil
}

func TestProcessing_FailureVisibleAndReprocess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.installShop(t, "flaky.myshopify.com")
	// A permanently broken body for its topic: valid JSON, wrong shape.
	if resp := b.send(t, delivery{topic: "orders/paid", shop: sh.Domain, id: "bad-shape", body: []byte(`{"id":"not-a-number"}`)}); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	l := &failing{}
	l.fail.Store(true)
	b.startWorker(t, l, "w")
	b.waitFor(t, "the bad payload to fail permanently", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'bad-shape' AND status = 'failed'") == 1
	})
	var reason string
	b.db.Pool.QueryRow(context.Background(), "SELECT last_error FROM webhooks WHERE webhook_id = 'bad-shape'").Scan(&reason)
	if !strings.Contains(reason, "schema") {
		t.Fatalf("reason %q", reason)
	}
	// A transient handler failure is retried, counted and visible.
	if resp := b.send(t, delivery{topic: "orders/paid", shop: sh.Domain, id: "flaky", body: sample(t, "orders/paid")}); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	b.waitFor(t, "a recorded attempt", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'flaky' AND attempts >= 1 AND last_error LIKE '%rule evaluation failed%'") == 1
	})
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'flaky' AND status = 'pending'"); got != 1 {
		t.Fatal("a transient failure must stay pending for retry")
	}
	// Reprocess the permanent failure after the bug is fixed.
	l.fail.Store(false)
	var id int64
	b.db.Pool.QueryRow(context.Background(), "SELECT id FROM webhooks WHERE webhook_id = 'flaky'").Scan(&id)
	if _, err := b.db.Pool.Exec(context.Background(), "UPDATE webhooks SET status = 'failed' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	if err := b.st.ResetWebhook(context.Background(), sh.ID, id); err != nil {
		t.Fatal(err)
	}
	if err := b.st.NotifyWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the reprocessed webhook", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE id = $1 AND status = 'processed'", id) == 1
	})
}

func TestCompliance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.installShop(t, "privacy.myshopify.com")
	other := b.installShop(t, "neighbour.myshopify.com")
	b.startWorker(t, webhooks.NoLoyalty{}, "w")
	ctx := context.Background()
	processed := func(id string) func() bool {
		return func() bool {
			return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = $1 AND status IN ('processed','ignored')", id) == 1
		}
	}
	for _, s := range []*store.Shop{sh, other} {
		if resp := b.send(t, delivery{topic: "customers/create", shop: s.Domain, id: "create-" + s.Domain, body: customerBody(191167, "john@example.com", "2026-01-01T00:00:00Z")}); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		b.waitFor(t, "customer stored", processed("create-"+s.Domain))
	}
	compliance := func(topic string, s *store.Shop) []byte {
		return bytes.ReplaceAll(sample(t, topic), []byte("{shop}.myshopify.com"), []byte(s.Domain))
	}
	// In each shop a member invited john@example.com through a referral
	// link: the referral row holds the email.
	for _, s := range []*store.Shop{sh, other} {
		referrer, err := b.st.EnsureCustomer(ctx, s.ID, store.CustomerIdentity{ShopifyID: 5550001, GID: "gid://shopify/Customer/5550001", Email: "ref@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.st.Gorm().Exec(`INSERT INTO referrals (shop_id, referrer_customer_id, referral_code, friend_email, coupon_code, discount_type, discount_value, created_at, updated_at)
VALUES (?, ?, 'REFCODE1', 'john@example.com', 'PBF-TEST-0001', 'percentage', '10', now(), now())`, s.ID, referrer).Error; err != nil {
			t.Fatal(err)
		}
	}

	t.Run("DataRequestExports", func(t *testing.T) {
		b.send(t, delivery{topic: "customers/data_request", shop: sh.Domain, id: "dr", body: compliance("customers/data_request", sh)})
		b.waitFor(t, "data request", processed("dr"))
		reqs, err := b.st.DataRequests(ctx, sh.ID)
		if err != nil || len(reqs) != 1 {
			t.Fatalf("%d exports, %v", len(reqs), err)
		}
		var export map[string]any
		json.Unmarshal(reqs[0].Export, &export)
		cust, _ := export["customer"].(map[string]any)
		if cust["email"] != "john@example.com" || export["data_request_id"].(float64) != 9999 {
			t.Fatalf("export %s", reqs[0].Export)
		}
		if wh, _ := export["webhooks_received"].([]any); len(wh) == 0 {
			t.Fatalf("export lists no stored webhooks: %s", reqs[0].Export)
		}
		if ref, _ := export["referred_as_friend"].(map[string]any); ref["coupon_code"] != "PBF-TEST-0001" || ref["friend_email"] != "john@example.com" {
			t.Fatalf("export lacks the referral that holds the email: %s", reqs[0].Export)
		}
	})
	t.Run("CustomerRedactDeletesEverywhere", func(t *testing.T) {
		b.send(t, delivery{topic: "customers/redact", shop: sh.Domain, id: "redact", body: compliance("customers/redact", sh)})
		b.waitFor(t, "redact", processed("redact"))
		if _, err := b.st.CustomerByShopifyID(ctx, sh.ID, 191167); err == nil {
			t.Fatal("customer row survived redaction")
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND position('john@example.com' in convert_from(body, 'UTF8')) > 0", sh.ID); n != 0 {
			t.Fatalf("%d stored payloads still carry the email", n)
		}
		if reqs, _ := b.st.DataRequests(ctx, sh.ID); len(reqs) != 0 {
			t.Fatal("data request export survived redaction")
		}
		if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1 AND friend_email = 'john@example.com'", sh.ID); n != 0 {
			t.Fatal("the referral holding the friend's email survived redaction")
		}
		if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1", other.ID); n != 1 {
			t.Fatal("redaction reached the other shop's referral")
		}
		// The rows stay for deduplication: a redelivery has no second effect.
		if resp := b.send(t, delivery{topic: "customers/create", shop: sh.Domain, id: "create-" + sh.Domain, body: customerBody(191167, "john@example.com", "2026-01-01T00:00:00Z")}); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		if _, err := b.st.CustomerByShopifyID(ctx, sh.ID, 191167); err == nil {
			t.Fatal("a redelivered webhook re-created the redacted customer")
		}
		// The neighbour's customer is untouched.
		if _, err := b.st.CustomerByShopifyID(ctx, other.ID, 191167); err != nil {
			t.Fatalf("other shop's customer touched: %v", err)
		}
	})
	t.Run("ShopRedactOfAnInstalledShopDeletesNothing", func(t *testing.T) {
		// The app is installed: a shop/redact (late, or for an earlier
		// installation) is recorded as ignored with the reason.
		b.send(t, delivery{topic: "shop/redact", shop: sh.Domain, id: "shop-redact-early", body: compliance("shop/redact", sh)})
		b.waitFor(t, "the early redact to be settled", func() bool {
			return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'shop-redact-early' AND status = 'ignored' AND last_error LIKE '%installed again%'") == 1
		})
		if n := b.count(t, "SELECT count(*) FROM customers WHERE shop_id = $1", sh.ID); n == 0 {
			t.Fatal("shop/redact of an installed shop deleted its customers")
		}
	})
	t.Run("ShopRedactDeletesEveryRow", func(t *testing.T) {
		b.send(t, delivery{topic: "app/uninstalled", shop: sh.Domain, id: "shop-uninstall", body: sample(t, "app/uninstalled")})
		b.waitFor(t, "uninstall", func() bool {
			got, _ := b.st.Shop(ctx, sh.ID)
			return got.State == store.ShopUninstalled
		})
		b.send(t, delivery{topic: "shop/redact", shop: sh.Domain, id: "shop-redact", body: compliance("shop/redact", sh)})
		b.waitFor(t, "shop deleted", func() bool {
			return b.count(t, "SELECT count(*) FROM shops WHERE id = $1", sh.ID) == 0
		})
		for _, table := range []string{"webhooks", "customers", "data_requests", "referrals"} {
			if n := b.count(t, "SELECT count(*) FROM "+table+" WHERE shop_id = $1", sh.ID); n != 0 {
				t.Errorf("%d %s rows remain", n, table)
			}
		}
		if n := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_domain = $1", sh.Domain); n != 0 {
			t.Errorf("%d inbox rows remain under the domain", n)
		}
		if n := b.count(t, "SELECT count(*) FROM customers WHERE shop_id = $1", other.ID); n != 2 { // john and the referrer
			t.Errorf("other shop lost its customers")
		}
	})
}

func TestUninstallAndReinstall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sh := b.installShop(t, "leaver.myshopify.com")
	b.startWorker(t, webhooks.NoLoyalty{}, "w")
	b.send(t, delivery{topic: "app/uninstalled", shop: sh.Domain, id: "bye", body: sample(t, "app/uninstalled")})
	b.waitFor(t, "uninstall", func() bool {
		got, _ := b.st.Shop(ctx, sh.ID)
		return got.State == store.ShopUninstalled
	})
	got, _ := b.st.Shop(ctx, sh.ID)
	if got.AccessToken != "" || got.RefreshToken != "" {
		t.Fatal("tokens kept after uninstall")
	}
	// Later webhooks of the uninstalled shop have no effect.
	b.send(t, delivery{topic: "customers/create", shop: sh.Domain, id: "after", body: customerBody(7, "a@example.com", "2026-01-01T00:00:00Z")})
	var status string
	b.db.Pool.QueryRow(ctx, "SELECT status FROM webhooks WHERE webhook_id = 'after'").Scan(&status)
	if status != "ignored" {
		t.Fatalf("status %q for an uninstalled shop", status)
	}
	// Reinstall brings it back, with its data, and webhooks work again.
	if _, err := b.st.SaveInstall(ctx, sh.Domain, store.Tokens{AccessToken: "sealed-again"}); err != nil {
		t.Fatal(err)
	}
	// The old uninstall, redelivered late under a new id, must not uninstall the new installation.
	old := time.Now().Add(-time.Hour)
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks", bytes.NewReader(sample(t, "app/uninstalled")))
	req.Header.Set("X-Shopify-Hmac-Sha256", fake.SignShopifyWebhook(secret, sample(t, "app/uninstalled")))
	req.Header.Set("X-Shopify-Topic", "app/uninstalled")
	req.Header.Set("X-Shopify-Shop-Domain", sh.Domain)
	req.Header.Set("X-Shopify-Webhook-Id", "late-bye")
	req.Header.Set("X-Shopify-Triggered-At", old.UTC().Format(time.RFC3339))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b.send(t, delivery{topic: "customers/create", shop: sh.Domain, id: "back", body: customerBody(8, "b@example.com", "2026-01-01T00:00:00Z")})
	b.waitFor(t, "processing after reinstall", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id IN ('back','late-bye') AND status IN ('processed','ignored')") == 2
	})
	got, _ = b.st.Shop(ctx, sh.ID)
	if got.State != store.ShopActive {
		t.Fatal("a late uninstall from the earlier installation uninstalled the shop")
	}
	if _, err := b.st.CustomerByShopifyID(ctx, sh.ID, 8); err != nil {
		t.Fatalf("customer after reinstall: %v", err)
	}
}

// TestIntake_DatabaseDown: with the database unreachable nothing is
// acknowledged: the answer is 503 and Shopify will retry.
func TestIntake_DatabaseDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.installShop(t, "down.myshopify.com")
	b.db.Pool.Close()
	resp := b.send(t, delivery{topic: "orders/paid", shop: "down.myshopify.com", body: sample(t, "orders/paid")})
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

// bigOrder builds an orders/paid body with n line items of ~3.5 KB each,
// like a real order with long custom properties.
func bigOrder(t *testing.T, n int) []byte {
	t.Helper()
	var order map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(sample(t, "orders/paid")))
	dec.UseNumber()
	if err := dec.Decode(&order); err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	json.Unmarshal(order["line_items"], &items)
	out := make([]json.RawMessage, n)
	for i := range out {
		item := map[string]any{}
		d := json.NewDecoder(bytes.NewReader(items[i%len(items)]))
		d.UseNumber()
		d.Decode(&item)
		item["id"] = json.Number(fmt.Sprint(9000000000 + i))
		item["properties"] = []map[string]string{{"name": "engraving", "value": strings.Repeat("personalised message ", 170)}}
		out[i], _ = json.Marshal(item)
	}
	order["line_items"], _ = json.Marshal(out)
	b, _ := json.Marshal(order)
	return b
}
