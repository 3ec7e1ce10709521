package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
)

func mustShop(t *testing.T, st *store.Store, domain string) *store.Shop {
	t.Helper()
	sh, err := st.SaveInstall(context.Background(), domain, store.Tokens{Scope: "read_orders", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func TestMigrate_CurrentAndRiverValid(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	cur, latest, pending, err := store.MigrationStatus(ctx, db.SQL)
	if err != nil {
		t.Fatal(err)
	}
	if cur != latest || latest < 4 || pending {
		t.Fatalf("version %d of %d, pending %v", cur, latest, pending)
	}
	// A migration missed below the highest applied one (branches merged out
	// of order) is pending, and Migrate applies it.
	for _, q := range []string{ // 00041 undone, as if it had never run
		"ALTER TABLE order_refunds DROP COLUMN unexplained_minor",
		"ALTER TABLE orders DROP COLUMN paid_base_minor, DROP COLUMN paid_minor",
		"DELETE FROM goose_db_version WHERE version_id = 41",
	} {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, pending, err := store.MigrationStatus(ctx, db.SQL); err != nil || !pending {
		t.Fatalf("a missed migration is not pending: %v %v", pending, err)
	}
	if err := store.Migrate(ctx, db.SQL); err != nil {
		t.Fatalf("applying the missed migration: %v", err)
	}
	if _, _, pending, err := store.MigrationStatus(ctx, db.SQL); err != nil || pending {
		t.Fatalf("still pending after Migrate: %v %v", pending, err)
	}
	if _, err := db.SQL.ExecContext(ctx, "SELECT unexplained_minor FROM order_refunds LIMIT 1"); err != nil {
		t.Fatalf("the missed migration did not run: %v", err)
	}
	// Migrating again is a no-op.
	if err := store.Migrate(ctx, db.SQL); err != nil {
		t.Fatal(err)
	}
	// River agrees its schema is current.
	m, err := rivermigrate.New(riverpgxv5.New(db.Pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("river schema not current: %v", res.Messages)
	}
}

func TestStore_Shops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	sh := mustShop(t, st, "alpha.myshopify.com")
	if sh.State != store.ShopActive || sh.ID == 0 {
		t.Fatalf("installed shop %+v", sh)
	}
	t.Run("InvalidDomainRejected", func(t *testing.T) {
		err := store.New(st.Gorm()).Tx(ctx, func(tx *store.Store) error {
			_, err := tx.SaveInstall(ctx, "evil.com", store.Tokens{})
			return err
		})
		if app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("UninstallForgetsTokensReinstallRestores", func(t *testing.T) {
		if err := st.MarkUninstalled(ctx, sh.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := st.Shop(ctx, sh.ID)
		if got.State != store.ShopUninstalled || got.AccessToken != "" || got.UninstalledAt == nil {
			t.Fatalf("after uninstall %+v", got)
		}
		again, err := st.SaveInstall(ctx, "alpha.myshopify.com", store.Tokens{AccessToken: "new"})
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != sh.ID || again.State != store.ShopActive || again.AccessToken != "new" || again.UninstalledAt != nil {
			t.Fatalf("after reinstall %+v", again)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := st.ShopByDomain(ctx, "nobody.myshopify.com")
		if app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStore_Customers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	a := mustShop(t, st, "cust-a.myshopify.com")
	b := mustShop(t, st, "cust-b.myshopify.com")
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := t1.Add(-time.Hour)
	c, created, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: "gid://shopify/Customer/42", Email: "x@example.com", ShopifyUpdatedAt: &t1})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	t.Run("StaleUpdateIgnored", func(t *testing.T) {
		got, created, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: c.GID, Email: "old@example.com", ShopifyUpdatedAt: &t0})
		if err != nil || created || got.Email != "x@example.com" {
			t.Fatalf("stale update applied: %+v %v %v", got, created, err)
		}
	})
	t.Run("NewerUpdateApplied", func(t *testing.T) {
		t2 := t1.Add(time.Hour)
		got, _, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: c.GID, Email: "new@example.com", Phone: "+15555550100", ShopifyUpdatedAt: &t2})
		if err != nil || got.Email != "new@example.com" || got.Phone != "+15555550100" {
			t.Fatalf("update: %+v %v", got, err)
		}
	})
	t.Run("MetafieldsReadAgainAfterACustomerUpdate", func(t *testing.T) {
		if err := st.SetCustomerMetafields(ctx, a.ID, 42, map[string]string{"loyalty.member_id": "M-1"}); err != nil {
			t.Fatal(err)
		}
		// An order's embedded customer (no updated_at) keeps the cache.
		got, _, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: c.GID, Email: "new@example.com", Phone: "+15555550100"})
		if err != nil || got.MetafieldMap()["loyalty.member_id"] != "M-1" {
			t.Fatalf("order upsert dropped the metafields: %+v %v", got, err)
		}
		// ... and does not forget the last update seen: an older one
		// arriving late is still ignored.
		if got, _, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: c.GID, Email: "older@example.com", ShopifyUpdatedAt: &t0}); err != nil || got.Email != "new@example.com" {
			t.Fatalf("a stale update after an order's upsert was applied: %+v %v", got, err)
		}
		// A newer customers/update drops it: the value may have changed.
		t3 := t1.Add(2 * time.Hour)
		got, _, err = st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: 42, GID: c.GID, Email: "new@example.com", Phone: "+15555550100", ShopifyUpdatedAt: &t3})
		if err != nil || len(got.MetafieldMap()) != 0 {
			t.Fatalf("customers/update kept stale metafields: %s %v", got.Metafields, err)
		}
	})
	t.Run("OtherShopInvisible", func(t *testing.T) {
		if _, err := st.CustomerByShopifyID(ctx, b.ID, 42); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("shop B read shop A's customer: %v", err)
		}
		if got, _ := st.SearchCustomers(ctx, b.ID, "new@example.com", 10); len(got) != 0 {
			t.Fatalf("search leaked %d rows", len(got))
		}
		if n, _ := st.DeleteCustomer(ctx, b.ID, 42); n != 0 {
			t.Fatal("shop B deleted shop A's customer")
		}
		if err := st.SetCustomerMetafields(ctx, b.ID, 42, map[string]string{"x.y": "z"}); err != nil {
			t.Fatal(err)
		}
		got, _ := st.CustomerByShopifyID(ctx, a.ID, 42)
		if len(got.MetafieldMap()) != 0 {
			t.Fatal("shop B wrote shop A's metafields")
		}
	})
	t.Run("Search", func(t *testing.T) {
		for _, q := range []string{"new@example", "+1555", "42"} {
			if got, _ := st.SearchCustomers(ctx, a.ID, q, 10); len(got) != 1 {
				t.Errorf("search %q found %d", q, len(got))
			}
		}
	})
	t.Run("DataRequestsScoped", func(t *testing.T) {
		if err := st.SaveDataRequest(ctx, a.ID, 9999, 42, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveDataRequest(ctx, a.ID, 9999, 42, []byte(`{"x":2}`)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.DataRequests(ctx, a.ID); len(got) != 1 {
			t.Fatalf("shop A has %d exports, want 1", len(got))
		}
		if got, _ := st.DataRequests(ctx, b.ID); len(got) != 0 {
			t.Fatal("shop B sees shop A's exports")
		}
	})
}

func TestStore_WebhooksScoped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	a := mustShop(t, st, "wh-a.myshopify.com")
	b := mustShop(t, st, "wh-b.myshopify.com")
	var id int64
	err := st.Gorm().Raw(`INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status)
VALUES (?, ?, 'w1', 'orders/paid', '\x7b7d'::bytea, 'failed') RETURNING id`, a.ID, a.Domain).Scan(&id).Error
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Webhook(ctx, b.ID, id); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("shop B read shop A's webhook: %v", err)
	}
	if got, _ := st.ListWebhooks(ctx, b.ID, store.WebhookFilter{}); len(got) != 0 {
		t.Fatal("shop B lists shop A's webhooks")
	}
	if err := st.ResetWebhook(ctx, b.ID, id); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("shop B reset shop A's webhook: %v", err)
	}
	if err := st.ResetWebhook(ctx, a.ID, id); err != nil {
		t.Fatal(err)
	}
	if err := st.ResetWebhook(ctx, a.ID, id); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("resetting a pending webhook: %v", err)
	}
}

func TestStore_DeleteShopCascades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	a := mustShop(t, st, "gone.myshopify.com")
	b := mustShop(t, st, "stays.myshopify.com")
	for _, sh := range []*store.Shop{a, b} {
		if _, _, err := st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 1, GID: "gid://shopify/Customer/1"}); err != nil {
			t.Fatal(err)
		}
	}
	// An inbox row recorded while the shop was unknown, under its domain.
	if err := st.Gorm().Exec(`INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status) VALUES ('gone.myshopify.com','u1','orders/paid','\x'::bytea,'ignored')`).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteShop(ctx, a.ID, a.Domain); err != nil {
		t.Fatal(err)
	}
	var n int64
	st.Gorm().Raw("SELECT (SELECT count(*) FROM shops WHERE domain='gone.myshopify.com') + (SELECT count(*) FROM customers WHERE shop_id = ?) + (SELECT count(*) FROM webhooks WHERE shop_domain='gone.myshopify.com')", a.ID).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows of the deleted shop remain", n)
	}
	if _, err := st.CustomerByShopifyID(ctx, b.ID, 1); err != nil {
		t.Fatalf("other shop's customer deleted: %v", err)
	}
}

func TestFormatError_Unavailable(t *testing.T) {
	t.Parallel()
	// Open waits for an unreachable database until ctx ends, then says so.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", 1, nil)
	if err == nil || !store.IsUnavailable(errors.Unwrap(err)) {
		t.Fatalf("refused connection not classified unavailable: %v", err)
	}
}

func TestStore_ShopCountsScoped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	a := mustShop(t, st, "count-a.myshopify.com")
	b := mustShop(t, st, "count-b.myshopify.com")
	for i := range 3 {
		if _, _, err := st.UpsertCustomer(ctx, a.ID, store.CustomerIdentity{ShopifyID: int64(i + 1), GID: fmt.Sprint("gid://shopify/Customer/", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Gorm().Exec(`INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status) VALUES (?, ?, 'c1', 'orders/paid', '\x'::bytea, 'failed')`, a.ID, a.Domain).Error; err != nil {
		t.Fatal(err)
	}
	n, wh, err := st.ShopCounts(ctx, a.ID)
	if err != nil || n != 3 || wh["failed"] != 1 {
		t.Fatalf("shop A: %d customers, %v, %v", n, wh, err)
	}
	n, wh, err = st.ShopCounts(ctx, b.ID)
	if err != nil || n != 0 || len(wh) != 0 {
		t.Fatalf("shop B sees shop A's rows: %d %v %v", n, wh, err)
	}
}
