package faultmatrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/simulate"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/webhooks"
)

// installShop installs domain in the database behind st through token
// exchange with the Shopify fake at origin (as the embedded entry does).
func installShop(t *testing.T, st *store.Store, sf *fake.Shopify, origin, domain string) (*store.Shop, *tenant.Service) {
	t.Helper()
	v, err := vault.New([]byte(encRaw))
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant.New(st, &shopify.App{APIKey: apiKey, APISecret: apiSecret, ShopOrigin: origin + "/{shop}", Version: "2026-10"}, v, slog.New(slog.DiscardHandler))
	sh, err := tn.InstallFromIDToken(context.Background(), domain, sf.MintIDToken(domain, 1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return sh, tn
}

// truthDB is the serial truth's own database.
type truthDB struct {
	db   *store.DB
	st   *store.Store
	proc *webhooks.Processor
	shop *store.Shop
	srv  *httptest.Server
}

// newTruth prepares the serial truth: a database of its own with domain
// installed at installedAt (the run's install time: signup points depend
// on it), and a Shopify fake of its own that knows the round's customers,
// so its look-ups answer as the run's do.
func newTruth(t *testing.T, domain string, installedAt time.Time, tr *traffic) *truthDB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.NewURL(t), 4, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	sf := fake.NewShopify(fake.ShopifyOptions{APIKey: apiKey, APISecret: apiSecret})
	sf.InstallShop(domain)
	for _, c := range tr.customers {
		registerCustomer(sf, domain, c)
	}
	srv := httptest.NewServer(sf)
	t.Cleanup(srv.Close)
	st := store.New(db.Gorm)
	shop, tn := installShop(t, st, sf, srv.URL, domain)
	if err := db.Gorm.Exec("UPDATE shops SET installed_at = ? WHERE id = ?", installedAt, shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	flatTiers(t, st, shop)
	proc := webhooks.NewProcessor(loyalty.New(st, tn, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	return &truthDB{db: db, st: st, proc: proc, shop: shop, srv: srv}
}

// apply applies hooks one at a time, in order, with the loyalty engine
// and the webhook processor the workers use, each in one transaction that
// also marks the inbox row, as the worker does. It may run in its own
// goroutine.
func (tt *truthDB) apply(hooks []hook) error {
	ctx := context.Background()
	for _, h := range hooks {
		wh := store.Webhook{ShopID: &tt.shop.ID, ShopDomain: tt.shop.Domain, WebhookID: h.webhookID, EventID: h.eventID, Topic: h.topic,
			APIVersion: "2026-10", ReceivedAt: time.Now(), Headers: json.RawMessage(`{}`), Body: h.body, Status: store.WebhookPending}
		if err := tt.db.Gorm.Create(&wh).Error; err != nil {
			return err
		}
		err := tt.st.Tx(ctx, func(tx *store.Store) error {
			row, err := tx.LockWebhook(ctx, wh.ID)
			if err != nil {
				return err
			}
			subject, err := tt.proc.Dispatch(ctx, tx, row)
			var ig *job.IgnoredError
			switch {
			case errors.As(err, &ig):
				return tx.MarkWebhookIgnored(ctx, wh.ID, ig.Reason, subject)
			case err != nil:
				return err
			}
			return tx.MarkWebhookProcessed(ctx, wh.ID, subject)
		})
		if err != nil {
			return fmt.Errorf("serial truth: %s %s: %w", h.topic, h.webhookID, err)
		}
	}
	return nil
}

// flatTiers sets every tier's earning multiplier to 1. Tiers are still
// evaluated (and their events forwarded), but what an order earns no
// longer depends on the tier the customer has when it is processed, which
// depends on the processing order of their other orders: with it, the
// balances the truth predicts hold whatever order the run took.
func flatTiers(t *testing.T, st *store.Store, shop *store.Shop) {
	t.Helper()
	ctx := context.Background()
	settings, _, err := st.ProgramSettings(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range settings.Tiers.Levels {
		settings.Tiers.Levels[i].Multiplier = decimal.NewFromInt(1)
	}
	if err := st.SaveProgramSettings(ctx, shop.ID, settings); err != nil {
		t.Fatal(err)
	}
}

func registerCustomer(sf *fake.Shopify, domain string, c simulate.Customer) {
	sf.AddCustomer(domain, fake.ShopifyCustomer{ID: c.ID, Email: c.Email, Phone: c.Phone, FirstName: c.FirstName, LastName: c.LastName})
}

// account is a loyalty account's derived state that does not depend on
// the order in which its webhooks were processed: the balance, the debt,
// the points earned net of reversals, and the amount spent. (The lifetime
// credits and the tier do depend on it by design: a refund processed
// before its order makes the order earn its net amount, with no credit
// and reversal pair, and a tier reached on the way is kept for its
// period. They are reported, not compared.)
type account struct {
	Balance, Debt, Earned, Spent int64
}

// state is what the witnesses compare: per customer the account, every
// ledger effect by its idempotency key, every loyalty event by its cause,
// the points waiting for guests, and each Shopify event's inbox outcome.
type state struct {
	accounts map[int64]account
	tiers    map[int64]string
	ledger   map[string]string // idempotency key → "kind points"
	events   map[string]int    // "key source_key" → count
	guests   map[string]string // order gid → "points claimed expired"
	outcomes map[string]string // Shopify event id → best inbox status
}

func snapshot(t *testing.T, pool *pgxpool.Pool, domain string) *state {
	t.Helper()
	ctx := context.Background()
	s := &state{accounts: map[int64]account{}, tiers: map[int64]string{}, ledger: map[string]string{}, events: map[string]int{}, guests: map[string]string{}, outcomes: map[string]string{}}
	shopID := int64(0)
	if err := pool.QueryRow(ctx, "SELECT id FROM shops WHERE domain = $1", domain).Scan(&shopID); err != nil {
		t.Fatalf("snapshot %s: %v", domain, err)
	}
	q := func(sql string, scan func(func(...any) error) error) {
		rows, err := pool.Query(ctx, sql, shopID)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	q(`SELECT shopify_customer_id, points_balance, points_debt, points_earned, amount_spent_minor, tier_key
	   FROM loyalty_accounts WHERE shop_id = $1`, func(scan func(...any) error) error {
		var id int64
		var a account
		var tier string
		err := scan(&id, &a.Balance, &a.Debt, &a.Earned, &a.Spent, &tier)
		s.accounts[id] = a
		s.tiers[id] = tier
		return err
	})
	dupKeys := 0
	q(`SELECT idempotency_key, kind, points FROM ledger_entries WHERE shop_id = $1`, func(scan func(...any) error) error {
		var key, kind string
		var pts int64
		err := scan(&key, &kind, &pts)
		if _, ok := s.ledger[key]; ok {
			dupKeys++
		}
		s.ledger[key] = fmt.Sprintf("%s %d", kind, pts)
		return err
	})
	if dupKeys > 0 {
		t.Errorf("%d ledger idempotency keys appear twice", dupKeys)
	}
	q(`SELECT key, source_key FROM loyalty_events WHERE shop_id = $1`, func(scan func(...any) error) error {
		var key, src string
		err := scan(&key, &src)
		s.events[key+" "+src]++
		return err
	})
	// Points waiting for guests, by order: a holding of 0 points is no
	// holding (a cancellation processed before its order leaves none).
	q(`SELECT order_gid, points, claimed_at IS NOT NULL FROM guest_points WHERE shop_id = $1 AND points > 0`, func(scan func(...any) error) error {
		var gid string
		var pts int64
		var claimed bool
		err := scan(&gid, &pts, &claimed)
		s.guests[gid] = fmt.Sprintf("%d points, claimed %v", pts, claimed)
		return err
	})
	rank := map[string]int{store.WebhookProcessed: 4, store.WebhookIgnored: 3, store.WebhookFailed: 2, store.WebhookPending: 1}
	q(`SELECT event_id, status FROM webhooks WHERE shop_id = $1`, func(scan func(...any) error) error {
		var ev, status string
		err := scan(&ev, &status)
		if rank[status] > rank[s.outcomes[ev]] {
			s.outcomes[ev] = status
		}
		return err
	})
	return s
}

// diff compares a run's state with the truth: lost counts what the truth
// has and the run lacks (an account, balance, earning or spending short, a
// guest holding, a Shopify event not settled), doubled what the run has
// more of; problems lists the first differences for people. Ledger
// entries and loyalty events are compared through what they sum to: their
// number depends on the processing order (see account). Each ledger
// idempotency key appears once (snapshot checks it), so no effect is
// applied twice under one key.
func diff(truth, run *state) (lost, doubled int, problems []string) {
	add := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for id, a := range truth.accounts {
		b, ok := run.accounts[id]
		switch {
		case !ok:
			lost++
			add("account of customer %d missing", id)
		case b.Balance > a.Balance || b.Earned > a.Earned || b.Spent > a.Spent:
			doubled++
			add("customer %d: run %+v, truth %+v", id, b, a)
		case b != a:
			lost++
			add("customer %d: run %+v, truth %+v", id, b, a)
		}
	}
	for id := range run.accounts {
		if _, ok := truth.accounts[id]; !ok {
			doubled++
			add("account of customer %d is not in the truth", id)
		}
	}
	for k, v := range truth.guests {
		if w := run.guests[k]; w != v {
			lost++
			add("guest points of %s: run %q, truth %q", k, w, v)
		}
	}
	for k, v := range run.guests {
		if _, ok := truth.guests[k]; !ok {
			doubled++
			add("guest points of %s: run %q, not in the truth", k, v)
		}
	}
	for ev, st := range truth.outcomes {
		if got := run.outcomes[ev]; got != store.WebhookProcessed && got != store.WebhookIgnored {
			lost++
			add("Shopify event %s: run %q, truth %q", ev, got, st)
		}
	}
	sort.Strings(problems)
	return lost, doubled, problems
}

// tierDifferences counts the customers whose tier differs from the truth's
// (reported: a tier depends on the processing order, see account).
func tierDifferences(truth, run *state) int {
	n := 0
	for id, t := range truth.tiers {
		if run.tiers[id] != t {
			n++
		}
	}
	return n
}

func (s *state) summary() string {
	var total int64
	for _, a := range s.accounts {
		total += a.Balance
	}
	return strings.TrimSpace(fmt.Sprintf("%d accounts, %d points in balances, %d ledger effects, %d loyalty events, %d guest holdings",
		len(s.accounts), total, len(s.ledger), len(s.events), len(s.guests)))
}
