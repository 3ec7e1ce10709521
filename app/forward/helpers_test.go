package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

const (
	testShop     = "forward-test.myshopify.com"
	klaviyoKey   = "pk_test_0123456789abcdef0123"
	ctAccount    = "TEST-ACC-0001"
	ctPasscode   = "PASS-CODE-0001"
	ctRegion     = "in1"
	shopifyKey   = "0123456789abcdef0123456789abcdef"
	shopifySecrt = "forward-test-secret"
)

// statusCounter wraps a fake (it is not a fake itself) and counts the
// statuses it answered, so tests can assert "no 429 at all".
type statusCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[int]int
}

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	s.h.ServeHTTP(rec, r)
	s.mu.Lock()
	s.n[rec.status]++
	s.mu.Unlock()
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// bundle is what a forwarding test works with (River's test bundle idea).
type bundle struct {
	t       testing.TB
	db      *store.DB
	st      *store.Store
	vault   *vault.Vault
	svc     *forward.Service
	kl      *fake.Klaviyo
	klCount *statusCounter
	ct      *fake.CleverTap
	ctCount *statusCounter
	sh      *fake.Shopify
	shop    *store.Shop
	logs    *syncBuffer
}

type setupOpts struct {
	httpTimeout time.Duration
	klaviyo     fake.KlaviyoOptions
	clevertap   fake.CleverTapOptions
}

// shopClients gives the runner GraphQL clients of the fake Shopify with a
// valid token, as tenant.Service would.
type shopClients struct {
	app *shopify.App
	f   *fake.Shopify
}

func (c shopClients) Client(sh *store.Shop) *shopify.Client {
	return c.app.NewClient(sh.Domain, fakeToken{c.f, sh.Domain})
}

type fakeToken struct {
	f    *fake.Shopify
	shop string
}

func (t fakeToken) AccessToken(context.Context, bool) (string, error) {
	return t.f.ValidAccessToken(t.shop), nil
}

// syncBuffer collects logs for the "credentials are never logged" checks.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t testing.TB, opts ...setupOpts) *bundle {
	t.Helper()
	var o setupOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.httpTimeout == 0 {
		o.httpTimeout = 5 * time.Second
	}
	b := &bundle{t: t, logs: &syncBuffer{}}
	if o.klaviyo.Keys == nil {
		o.klaviyo.Keys = []fake.KlaviyoKey{{Key: klaviyoKey}}
	}
	b.kl = fake.NewKlaviyo(o.klaviyo)
	b.klCount = &statusCounter{h: b.kl, n: map[int]int{}}
	klSrv := httptest.NewServer(b.klCount)
	t.Cleanup(klSrv.Close)
	b.ct = fake.NewCleverTap(o.clevertap)
	b.ct.AddAccount(ctAccount, ctPasscode, ctRegion)
	b.ctCount = &statusCounter{h: b.ct, n: map[int]int{}}
	ctSrv := httptest.NewServer(b.ctCount)
	t.Cleanup(ctSrv.Close)
	b.sh = fake.NewShopify(fake.ShopifyOptions{APIKey: shopifyKey, APISecret: shopifySecrt})
	shSrv := httptest.NewServer(b.sh)
	t.Cleanup(shSrv.Close)

	b.db = pgtest.NewDB(t)
	b.st = store.New(b.db.Gorm)
	v, err := vault.New([]byte("forward-test-key-0123456789abcde"))
	if err != nil {
		t.Fatal(err)
	}
	b.vault = v
	log := slog.New(slog.NewTextHandler(io.MultiWriter(b.logs, testLogWriter()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.svc = forward.New(b.st, v, shopClients{app: &shopify.App{APIKey: shopifyKey, APISecret: shopifySecrt, ShopOrigin: shSrv.URL + "/{shop}"}, f: b.sh}, log,
		forward.Options{
			KlaviyoOrigin:   klSrv.URL,
			CleverTapOrigin: func(region string) string { return ctSrv.URL + "/" + region },
			HTTPTimeout:     o.httpTimeout,
		})
	b.sh.InstallShop(testShop)
	b.shop, err = b.st.SaveInstall(context.Background(), testShop, store.Tokens{Scope: "read_customers", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogWriter shows the service's logs with -v when FORWARD_TEST_LOGS is
// set.
func testLogWriter() io.Writer {
	if os.Getenv("FORWARD_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

func (b *bundle) connectKlaviyo(prop string) forward.IntegrationView {
	b.t.Helper()
	v, err := b.svc.ConnectKlaviyo(context.Background(), b.shop.ID, forward.KlaviyoInput{CommonProperty: prop, PrivateAPIKey: klaviyoKey})
	if err != nil || v.Status != "active" {
		b.t.Fatalf("connect klaviyo: %+v, %v", v, err)
	}
	return v
}

func (b *bundle) connectCleverTap(prop string) forward.IntegrationView {
	b.t.Helper()
	v, err := b.svc.ConnectCleverTap(context.Background(), b.shop.ID, forward.CleverTapInput{CommonProperty: prop, AccountID: ctAccount, Passcode: ctPasscode, Region: ctRegion})
	if err != nil || v.Status != "active" {
		b.t.Fatalf("connect clevertap: %+v, %v", v, err)
	}
	return v
}

func (b *bundle) define(kind, ev, name string, channels ...string) forward.DefinitionView {
	b.t.Helper()
	d, err := b.svc.CreateDefinition(context.Background(), b.shop.ID, kind, forward.DefinitionInput{Event: ev, Name: name, Channels: channels})
	if err != nil {
		b.t.Fatalf("define %s %s: %v", kind, ev, err)
	}
	return d
}

// customer is a customer row of the test shop.
type customer struct {
	id        int64 // row id
	shopifyID int64
}

func (b *bundle) customer(shopifyID int64, email, phone string) customer {
	b.t.Helper()
	c, _, err := b.st.UpsertCustomer(context.Background(), b.shop.ID, store.CustomerIdentity{
		ShopifyID: shopifyID, GID: "gid://shopify/Customer/" + strconv.FormatInt(shopifyID, 10), Email: email, Phone: phone,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return customer{id: c.ID, shopifyID: shopifyID}
}

// loyalty gives a customer a loyalty account and an open lot expiring at
// expires, for profile sync.
func (b *bundle) loyalty(c customer, balance int64, tier string, expiring int64, expires time.Time) {
	b.t.Helper()
	err := b.st.Gorm().Exec(`INSERT INTO loyalty_accounts (customer_id, shop_id, shopify_customer_id, points_balance, tier_key, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, now(), now())
ON CONFLICT (shop_id, customer_id) DO UPDATE SET points_balance = EXCLUDED.points_balance, tier_key = EXCLUDED.tier_key`,
		c.id, b.shop.ID, c.shopifyID, balance, tier).Error
	if err == nil && expiring > 0 {
		err = b.st.Gorm().Exec(`INSERT INTO point_lots (shop_id, customer_id, points, remaining, source_key, created_at, expires_at)
VALUES (?, ?, ?, ?, 'test', now(), ?)`, b.shop.ID, c.id, expiring, expiring, expires).Error
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// ev is a loyalty event to insert.
type ev struct {
	key        string
	channel    string
	props      map[string]any
	occurredAt time.Time
	balance    int64
	tier       string
}

// events inserts loyalty events of c and routes them in the same
// transaction, as the loyalty engine does (RouteEvents right after the
// insert). It returns the event ids.
func (b *bundle) events(c customer, evs ...ev) []uuid.UUID {
	b.t.Helper()
	ids := make([]uuid.UUID, len(evs))
	err := b.st.Tx(context.Background(), func(tx *store.Store) error {
		for i, e := range evs {
			ids[i] = uuid.New()
			if e.occurredAt.IsZero() {
				e.occurredAt = time.Now().Add(-time.Second).UTC()
			}
			if e.props == nil {
				e.props = map[string]any{"points": 10, "reason": "order", "order_id": "5544332211", "order_name": "#1001"}
			}
			if e.tier == "" {
				e.tier = "silver"
			}
			props, _ := json.Marshal(e.props)
			if err := tx.Gorm().Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'USD', ?)`,
				ids[i].String(), b.shop.ID, c.id, c.shopifyID, e.key, e.channel, e.occurredAt, string(props), e.balance, e.tier, "test:"+ids[i].String()).Error; err != nil {
				return err
			}
		}
		return forward.RouteHook(context.Background(), tx, b.shop.ID, ids)
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return ids
}

// rewarded returns n wallet_points_rewarded events.
func rewarded(n int, channel string) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{key: "wallet_points_rewarded", channel: channel, balance: int64(100 + i)}
	}
	return out
}

// quietProfiles marks the shop's profile syncs done, so a fault injected
// into a fake is met by event traffic, not by a profile update.
func (b *bundle) quietProfiles() {
	b.t.Helper()
	if err := b.st.Gorm().Exec("UPDATE profile_syncs SET synced_version = version WHERE shop_id = ?", b.shop.ID).Error; err != nil {
		b.t.Fatal(err)
	}
}

// run starts a runner that stops at cleanup.
func (b *bundle) run(opts forward.RunnerOptions) *forward.Runner {
	b.t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration { return time.Duration(n) * 30 * time.Millisecond }
	}
	r := forward.NewRunner(b.db, b.svc, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			b.t.Errorf("runner: %v", err)
		}
	}()
	b.t.Cleanup(func() { cancel(); <-done })
	return r
}

// counts returns the shop's deliveries per status.
func (b *bundle) counts() map[string]int {
	b.t.Helper()
	var rows []struct {
		Status string
		N      int
	}
	if err := b.st.Gorm().Raw("SELECT status, count(*) AS n FROM deliveries WHERE shop_id = ? GROUP BY 1", b.shop.ID).Scan(&rows).Error; err != nil {
		b.t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes (never a sleep
// as an assertion).
func (b *bundle) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus waits until the shop's deliveries are exactly want.
func (b *bundle) waitStatus(timeout time.Duration, want map[string]int) {
	b.t.Helper()
	b.waitFor(timeout, fmt.Sprint("deliveries ", want), func() (bool, string) {
		got := b.counts()
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})
}

func (b *bundle) deliveries(f forward.DeliveryFilter) []forward.DeliveryView {
	b.t.Helper()
	if f.Limit == 0 {
		f.Limit = 500
	}
	out, err := b.svc.ListDeliveries(context.Background(), b.shop.ID, f)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func (b *bundle) delivery(eventID uuid.UUID) forward.DeliveryView {
	b.t.Helper()
	for _, d := range b.deliveries(forward.DeliveryFilter{}) {
		if d.EventID == eventID.String() {
			return d
		}
	}
	b.t.Fatalf("no delivery of event %s", eventID)
	return forward.DeliveryView{}
}

// distinctKlaviyo counts distinct unique ids the fake recorded.
func distinctKlaviyo(evs []fake.KlaviyoEvent) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.UniqueID]++
	}
	return out
}

// cleverTapCopies counts how many times each event id reached CleverTap.
func cleverTapCopies(evs []fake.CleverTapEvent) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		id, _ := e.Data["event_id"].(string)
		out[id]++
	}
	return out
}

func fieldOf(err error) string { return app.ErrorField(err) }

var counter atomic.Int64

// uniqueShopifyID returns a fresh Shopify customer id.
func uniqueShopifyID() int64 { return 7_000_000_000 + counter.Add(1) }

func (b *bundle) shopTokens() store.Tokens {
	return store.Tokens{Scope: "read_customers", AccessToken: "sealed"}
}

// RouteHook is the loyalty engine's events hook: this fails to compile if
// the two drift apart.
var _ = loyalty.WithEventsHook(forward.RouteHook)
