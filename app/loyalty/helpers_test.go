package loyalty_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

// The engine must satisfy the interface the webhook processor calls.
var _ webhooks.Loyalty = (*loyalty.Service)(nil)

// t0 is the tests' "now": a Monday afternoon in March.
var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// clock is the Service's clock; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type bundle struct {
	db    *store.DB
	st    *store.Store
	svc   *loyalty.Service
	clock *clock
	proc  *webhooks.Processor
	log   *slog.Logger
	shop  *store.Shop
}

var shopSeq atomic.Int64

// setup gives a test its own database, a Service on a movable clock and an
// installed shop (USD, New York time).
func setup(t testing.TB) *bundle {
	t.Helper()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &clock{t: t0}
	svc := loyalty.New(st, nil, nil, log, loyalty.WithClock(c.Now))
	b := &bundle{db: db, st: st, svc: svc, clock: c, proc: webhooks.NewProcessor(svc, log), log: log}
	b.shop = b.newShop(t, "America/New_York")
	return b
}

func (b *bundle) newShop(t testing.TB, tz string) *store.Shop {
	t.Helper()
	ctx := context.Background()
	domain := fmt.Sprintf("loyal-%d.myshopify.com", shopSeq.Add(1))
	sh, err := b.st.SaveInstall(ctx, domain, store.Tokens{AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.UpdateShopInfo(ctx, sh.ID, "Loyal", "owner@example.com", "USD", tz); err != nil {
		t.Fatal(err)
	}
	sh, err = b.st.Shop(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// program saves settings changed by edit from the defaults.
func (b *bundle) program(t testing.TB, shop *store.Shop, edit func(*program.Settings)) program.Settings {
	t.Helper()
	s := program.Defaults()
	if edit != nil {
		edit(&s)
	}
	if err := b.svc.SaveProgram(context.Background(), shop.ID, s); err != nil {
		t.Fatalf("save program: %v", err)
	}
	return s
}

// deliver stores a webhook row and processes it exactly like the River
// worker does: in one transaction, lock the row, dispatch it through the
// real webhooks.Processor to the Service, mark it processed or ignored. It
// returns the stored status and reason; a processing error fails the test.
func (b *bundle) deliver(t testing.TB, shop *store.Shop, topic string, body []byte) (status, reason string) {
	t.Helper()
	status, reason, err := b.tryDeliver(shop, topic, body)
	if err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	return status, reason
}

func (b *bundle) tryDeliver(shop *store.Shop, topic string, body []byte) (status, reason string, err error) {
	ctx := context.Background()
	var id int64
	err = b.db.Pool.QueryRow(ctx, `INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status)
VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id`, shop.ID, shop.Domain, uuid.NewString(), topic, body).Scan(&id)
	if err != nil {
		return "", "", err
	}
	err = b.st.Tx(ctx, func(tx *store.Store) error {
		wh, err := tx.LockWebhook(ctx, id)
		if err != nil {
			return err
		}
		subject, err := b.proc.Dispatch(ctx, tx, wh)
		var ig *job.IgnoredError
		if errors.As(err, &ig) {
			status, reason = store.WebhookIgnored, ig.Reason
			return tx.MarkWebhookIgnored(ctx, id, ig.Reason, subject)
		}
		if err != nil {
			return err
		}
		status = store.WebhookProcessed
		return tx.MarkWebhookProcessed(ctx, id, subject)
	})
	return status, reason, err
}

// direct applies a webhook body straight through the Service (no inbox row,
// no processor), committing like the worker: an Ignore is not a rollback.
func (b *bundle) direct(t testing.TB, shop *store.Shop, topic string, body []byte) string {
	t.Helper()
	ctx := context.Background()
	ignored := ""
	err := b.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		switch {
		case topic == "refunds/create":
			var r shopify.Refund
			if err := json.Unmarshal(body, &r); err != nil {
				return err
			}
			err = b.svc.Refund(ctx, tx, shop, &r, 0)
		case strings.HasPrefix(topic, "orders/"):
			var o shopify.Order
			if err := json.Unmarshal(body, &o); err != nil {
				return err
			}
			err = b.svc.Order(ctx, tx, shop, topic, &o, 0)
		default:
			return fmt.Errorf("direct: topic %s", topic)
		}
		var ig *job.IgnoredError
		if errors.As(err, &ig) {
			ignored = ig.Reason
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	return ignored
}

func (b *bundle) customerRow(t testing.TB, shop *store.Shop, shopifyID int64) *store.Customer {
	t.Helper()
	c, err := b.st.CustomerByShopifyID(context.Background(), shop.ID, shopifyID)
	if err != nil {
		t.Fatalf("customer %d: %v", shopifyID, err)
	}
	return c
}

func (b *bundle) account(t testing.TB, shop *store.Shop, shopifyID int64) *store.LoyaltyAccount {
	t.Helper()
	a, err := b.st.LoyaltyAccount(context.Background(), shop.ID, b.customerRow(t, shop, shopifyID).ID)
	if err != nil {
		t.Fatalf("account %d: %v", shopifyID, err)
	}
	return a
}

func (b *bundle) balance(t testing.TB, shop *store.Shop, shopifyID int64) int64 {
	t.Helper()
	return b.account(t, shop, shopifyID).PointsBalance
}

func (b *bundle) entries(t testing.TB, shop *store.Shop, shopifyID int64) []ledger.Entry {
	t.Helper()
	rows, err := b.st.LedgerEntries(context.Background(), shop.ID, b.customerRow(t, shop, shopifyID).ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]ledger.Entry, len(rows))
	for i, r := range rows {
		out[i] = r.Entry()
	}
	return out
}

// reconcile checks the ledger invariants of a customer: the account's
// balance and debt equal what the entries say, and lots agree with the
// entries (ledger.Reconcile).
func (b *bundle) reconcile(t testing.TB, shop *store.Shop, shopifyID int64) {
	t.Helper()
	ctx := context.Background()
	c := b.customerRow(t, shop, shopifyID)
	es := b.entries(t, shop, shopifyID)
	lots, err := b.st.Lots(ctx, shop.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.Reconcile(es, lots); err != nil {
		t.Fatalf("customer %d: %v", shopifyID, err)
	}
	a := b.account(t, shop, shopifyID)
	if a.PointsBalance != ledger.Balance(es) || a.PointsDebt != ledger.Debt(es) {
		t.Fatalf("customer %d: account balance %d debt %d, ledger says %d and %d", shopifyID, a.PointsBalance, a.PointsDebt, ledger.Balance(es), ledger.Debt(es))
	}
}

// events returns the shop's loyalty events with key (all when "").
func (b *bundle) events(t testing.TB, shop *store.Shop, key string) []store.LoyaltyEvent {
	t.Helper()
	evs, err := b.st.LoyaltyEvents(context.Background(), shop.ID, store.LoyaltyEventFilter{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func props(t testing.TB, e store.LoyaltyEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Properties, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (b *bundle) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// ledgerKey is one entry as the property tests compare them.
type ledgerKey struct {
	Customer int64
	Kind     string
	Points   int64
	Key      string
}

// shopLedger returns the shop's ledger as a sorted multiset.
func (b *bundle) shopLedger(t testing.TB, shop *store.Shop) []ledgerKey {
	t.Helper()
	rows, err := b.st.ShopLedger(context.Background(), shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]ledgerKey, len(rows))
	for i, r := range rows {
		out[i] = ledgerKey{r.ShopifyCustomerID, r.Kind, r.Points, r.IdempotencyKey}
	}
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.Customer != c.Customer {
			return a.Customer < c.Customer
		}
		if a.Key != c.Key {
			return a.Key < c.Key
		}
		if a.Kind != c.Kind {
			return a.Kind < c.Kind
		}
		return a.Points < c.Points
	})
	return out
}

// balances returns every account's balance of the shop by Shopify id.
func (b *bundle) balances(t testing.TB, shop *store.Shop) map[int64]int64 {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(), "SELECT shopify_customer_id, points_balance FROM loyalty_accounts WHERE shop_id = $1", shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			t.Fatal(err)
		}
		out[id] = bal
	}
	return out
}

// balancesMatchLedger checks that every account of the shop holds exactly
// the sum of its entries.
func (b *bundle) balancesMatchLedger(t testing.TB, shop *store.Shop) {
	t.Helper()
	n := b.count(t, `SELECT count(*) FROM loyalty_accounts a WHERE a.shop_id = $1 AND a.points_balance <>
    (SELECT coalesce(sum(points), 0) FROM ledger_entries e WHERE e.customer_id = a.customer_id)`, shop.ID)
	if n != 0 {
		t.Fatalf("%d accounts whose balance differs from their ledger", n)
	}
}

// --- payloads -----------------------------------------------------------

const sampleCustomerID int64 = 115310627314723954 // exact: the gid's id, not the rounded "id"

func sample(t testing.TB, topic string) []byte {
	t.Helper()
	b, err := webhooks.Sample(topic)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(t testing.TB, body []byte, path string, v any) []byte {
	t.Helper()
	out, err := sjson.SetBytes(body, path, v)
	if err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
	return out
}

func setRaw(t testing.TB, body []byte, path, raw string) []byte {
	t.Helper()
	out, err := sjson.SetRawBytes(body, path, []byte(raw))
	if err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
	return out
}

func setMoney(t testing.TB, body []byte, field, amount string) []byte {
	t.Helper()
	body = set(t, body, field, amount)
	body = set(t, body, field+"_set.shop_money.amount", amount)
	return set(t, body, field+"_set.presentment_money.amount", amount)
}

// order describes an order payload built from the orders/paid sample.
type order struct {
	ID            int64 // exact, above 2^53
	Customer      int64 // 0: a guest order
	Subtotal      string
	Tax           string
	Shipping      string
	TaxesIncluded bool
	Test          bool
	Source        string
	Codes         []string
}

// body edits the sample's JSON text, so every other field (and every
// large id) stays as Shopify sent it.
func (o order) body(t testing.TB) []byte {
	t.Helper()
	b := sample(t, "orders/paid")
	b = set(t, b, "id", o.ID)
	b = set(t, b, "admin_graphql_api_id", fmt.Sprintf("gid://shopify/Order/%d", o.ID))
	b = set(t, b, "name", fmt.Sprintf("#%d", o.ID%100000))
	if o.Customer == 0 {
		b = setRaw(t, b, "customer", "null")
	} else {
		b = set(t, b, "customer.id", o.Customer)
		b = set(t, b, "customer.admin_graphql_api_id", fmt.Sprintf("gid://shopify/Customer/%d", o.Customer))
		// A member's order: the sample's record is not an account
		// ("disabled"), whose points would wait (guests_test.go).
		b = set(t, b, "customer.state", "enabled")
	}
	if o.Subtotal != "" {
		b = setMoney(t, b, "subtotal_price", o.Subtotal)
	}
	tax := o.Tax
	if tax == "" {
		tax = "0.00"
	}
	b = setMoney(t, b, "total_tax", tax)
	ship := o.Shipping
	if ship == "" {
		ship = "0.00"
	}
	b = set(t, b, "shipping_lines.0.discounted_price", ship)
	b = set(t, b, "shipping_lines.0.discounted_price_set.shop_money.amount", ship)
	b = set(t, b, "taxes_included", o.TaxesIncluded)
	b = set(t, b, "test", o.Test)
	if o.Source != "" {
		b = set(t, b, "source_name", o.Source)
	}
	codes := make([]map[string]string, len(o.Codes))
	for i, c := range o.Codes {
		codes[i] = map[string]string{"code": c, "amount": "5.00", "type": "fixed_amount"}
	}
	raw, _ := json.Marshal(codes)
	return setRaw(t, b, "discount_codes", string(raw))
}

// refund describes a refunds/create payload built from the sample.
type refund struct {
	ID       int64
	Order    int64
	Lines    []string // refunded line subtotals
	Shipping string
}

func (r refund) body(t testing.TB) []byte {
	t.Helper()
	b := sample(t, "refunds/create")
	b = set(t, b, "id", r.ID)
	b = set(t, b, "admin_graphql_api_id", fmt.Sprintf("gid://shopify/Refund/%d", r.ID))
	// The sample's order_id is JavaScript-rounded; a live payload's is exact.
	b = set(t, b, "order_id", r.Order)
	tmpl := gjson.GetBytes(b, "refund_line_items.0").Raw
	items := make([]string, len(r.Lines))
	for i, amount := range r.Lines {
		item := []byte(tmpl)
		item = set(t, item, "subtotal", json.Number(amount))
		item = set(t, item, "subtotal_set.shop_money.amount", amount)
		item = set(t, item, "subtotal_set.presentment_money.amount", amount)
		items[i] = string(item)
	}
	b = setRaw(t, b, "refund_line_items", "["+strings.Join(items, ",")+"]")
	if r.Shipping != "" {
		b = setRaw(t, b, "refund_shipping_lines", fmt.Sprintf(`[{"id":1,"shipping_line_id":2,"full_refund":true,"subtotal_amount_set":{"shop_money":{"amount":%q,"currency_code":"USD"},"presentment_money":{"amount":%q,"currency_code":"USD"}}}]`, r.Shipping, r.Shipping))
	}
	return b
}

func customerBody(id int64, email string) []byte {
	return fmt.Appendf(nil, `{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%q,"phone":null,"first_name":"Ada","last_name":"Lovelace","state":"enabled","updated_at":"2026-01-01T00:00:00Z"}`, id, id, email)
}

func mergeBody(kept, gone int64) []byte {
	return fmt.Appendf(nil, `{"admin_graphql_api_customer_kept_id":"gid://shopify/Customer/%d","admin_graphql_api_customer_deleted_id":"gid://shopify/Customer/%d","admin_graphql_api_job_id":null,"status":"completed","errors":[]}`, kept, gone)
}

func ctxAs(actor string) context.Context {
	return app.WithActor(context.Background(), app.Actor(actor))
}

func keys(es []ledger.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s %+d %s", e.Kind, e.Points, e.IdempotencyKey)
	}
	return out
}

func countKind(es []ledger.Entry, k ledger.Kind) int {
	return len(slices.DeleteFunc(slices.Clone(es), func(e ledger.Entry) bool { return e.Kind != k }))
}
