package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/migrations"
)

// shardExempt lists the tables of schema public that carry no shop_id,
// each with the reason. Every other table is distributable by shop
// (docs/scaling.md): a NOT NULL shop_id, every unique index led by it,
// every foreign key to another tenant table carrying it on both sides.
// Tables named river_* are exempt too (riverExempt).
var shardExempt = map[string]string{
	"shops": "the tenants themselves: shops.id is the shop id. Under Citus a " +
		"reference table (a copy on every node, which tenant tables may " +
		"reference); split by database, each database holds its own shops' rows " +
		"and the router holds domain -> database",
	"goose_db_version": "goose's record of applied migrations, one per database",
	"sink_rate_windows": "the sink limiter: keyed by sink account (a Klaviyo or " +
		"CleverTap account, which several shops may share), not by shop; the " +
		"limit holds across every process that sends for that account",
	"sink_pauses": "the sink limiter (see sink_rate_windows): a 429's " +
		"Retry-After holds for the sink account, whichever shop sends",
	"sink_leases": "the sink limiter (see sink_rate_windows): concurrency " +
		"slots per sink account",
}

// riverExempt is the reason for River's own tables (river_job,
// river_queue, ...): River is the job queue library, its schema is its own,
// and its jobs carry the shop id in their args (app/job). Under Citus they
// stay on the coordinator; split by database, each database has its own
// River and its own workers.
const riverExempt = "River's own tables: a queue library whose jobs carry shop ids in their args"

func exemptReason(table string) (string, bool) {
	if strings.HasPrefix(table, "river_") {
		return riverExempt, true
	}
	r, ok := shardExempt[table]
	return r, ok
}

// shardingViolations reads pg_catalog and returns one line per rule broken
// in schema public, each naming the table and the index or constraint, and
// how many tenant (non-exempt) tables it checked.
func shardingViolations(ctx context.Context, pool *pgxpool.Pool) (problems []string, checked int, err error) {
	// 1. Every tenant table has a NOT NULL shop_id.
	rows, err := pool.Query(ctx, `
SELECT c.relname, a.attname IS NOT NULL, coalesce(a.attnotnull, false)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'shop_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname`)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var table string
		var has, notNull bool
		if err := rows.Scan(&table, &has, &notNull); err != nil {
			rows.Close()
			return nil, 0, err
		}
		if _, ok := exemptReason(table); ok {
			continue
		}
		checked++
		switch {
		case !has:
			problems = append(problems, fmt.Sprintf("table %s has no shop_id column", table))
		case !notNull:
			problems = append(problems, fmt.Sprintf("table %s: shop_id is nullable", table))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}

	// 2. Every unique index (primary keys and unique constraints included)
	// of a tenant table has shop_id as its first column.
	rows, err = pool.Query(ctx, `
SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid), coalesce(a.attname, '')
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
WHERE n.nspname = 'public' AND x.indisunique
ORDER BY c.relname, i.relname`)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var table, index, def, first string
		if err := rows.Scan(&table, &index, &def, &first); err != nil {
			rows.Close()
			return nil, 0, err
		}
		if _, ok := exemptReason(table); ok {
			continue
		}
		if first != "shop_id" {
			problems = append(problems, fmt.Sprintf("table %s: unique index %s does not lead with shop_id: %s", table, index, def))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}

	// 3. Every foreign key between tenant tables carries shop_id on both
	// sides, at the same position: (shop_id, x_id) REFERENCES x (shop_id, id).
	// A key to an exempt table (shops, a reference table) needs nothing.
	rows, err = pool.Query(ctx, `
SELECT r.relname, f.relname, c.conname, pg_get_constraintdef(c.oid),
    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, ord)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_class f ON f.oid = c.confrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE n.nspname = 'public' AND c.contype = 'f'
ORDER BY r.relname, c.conname`)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var table, parent, name, def string
		var cols, refs []string
		if err := rows.Scan(&table, &parent, &name, &def, &cols, &refs); err != nil {
			rows.Close()
			return nil, 0, err
		}
		_, childExempt := exemptReason(table)
		_, parentExempt := exemptReason(parent)
		if childExempt || parentExempt {
			continue
		}
		if i := slices.Index(cols, "shop_id"); i < 0 || i >= len(refs) || refs[i] != "shop_id" {
			problems = append(problems, fmt.Sprintf("table %s: foreign key %s to %s does not carry shop_id on both sides: %s", table, name, parent, def))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}

	// The allowlist names tables that exist: an exemption outlives nothing.
	for table := range shardExempt {
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass('public.' || $1) IS NOT NULL", table).Scan(&ok); err != nil {
			return nil, 0, err
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("exempt table %s does not exist: remove it from shardExempt", table))
		}
	}
	return problems, checked, nil
}

// TestSchema_DistributableByShop holds the schema, after every migration,
// to what distributing it by shop needs (docs/scaling.md): Citus with
// shop_id as the distribution column, or shops split across databases.
func TestSchema_DistributableByShop(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	problems, checked, err := shardingViolations(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if checked < 25 {
		t.Fatalf("only %d tenant tables checked: is the schema migrated?", checked)
	}

	// The check is not vacuous: tables that break each rule, created in this
	// test's own database, are each named.
	for _, q := range []string{
		`CREATE TABLE schema_bad_no_shop (id bigserial PRIMARY KEY, name text)`,
		`CREATE TABLE schema_bad_nullable (id bigserial, shop_id bigint REFERENCES shops (id), PRIMARY KEY (id))`,
		`CREATE TABLE schema_bad_parent (shop_id bigint NOT NULL, id bigserial, code text NOT NULL,
            PRIMARY KEY (shop_id, id), UNIQUE (code, shop_id))`,
		`CREATE UNIQUE INDEX schema_bad_parent_lower_code_idx ON schema_bad_parent (lower(code))`,
		`CREATE UNIQUE INDEX schema_bad_parent_id_idx ON schema_bad_parent (id)`,
		`CREATE TABLE schema_bad_child (shop_id bigint NOT NULL, id bigserial, parent_id bigint NOT NULL,
            other_shop bigint NOT NULL, PRIMARY KEY (shop_id, id),
            CONSTRAINT schema_bad_child_parent_fkey FOREIGN KEY (parent_id) REFERENCES schema_bad_parent (id),
            CONSTRAINT schema_bad_child_cross_fkey FOREIGN KEY (other_shop, parent_id) REFERENCES schema_bad_parent (shop_id, id),
            CONSTRAINT schema_bad_child_good_fkey FOREIGN KEY (shop_id, parent_id) REFERENCES schema_bad_parent (shop_id, id))`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	bad, _, err := shardingViolations(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"table schema_bad_no_shop has no shop_id column",
		"table schema_bad_nullable: shop_id is nullable",
		"table schema_bad_no_shop: unique index schema_bad_no_shop_pkey does not lead with shop_id",
		"table schema_bad_nullable: unique index schema_bad_nullable_pkey does not lead with shop_id",
		"table schema_bad_parent: unique index schema_bad_parent_code_shop_id_key does not lead with shop_id",
		"table schema_bad_parent: unique index schema_bad_parent_lower_code_idx does not lead with shop_id",
		"table schema_bad_parent: unique index schema_bad_parent_id_idx does not lead with shop_id",
		"table schema_bad_child: foreign key schema_bad_child_parent_fkey to schema_bad_parent does not carry shop_id",
		"table schema_bad_child: foreign key schema_bad_child_cross_fkey to schema_bad_parent does not carry shop_id",
	}
	for _, w := range want {
		if !slices.ContainsFunc(bad, func(p string) bool { return strings.HasPrefix(p, w) }) {
			t.Errorf("no violation reported for %q; got:\n%s", w, strings.Join(bad, "\n"))
		}
	}
	if n := len(bad) - len(problems); n != len(want) {
		t.Errorf("%d violations for the bad tables, want %d (schema_bad_child_good_fkey and the good primary keys pass):\n%s", n, len(want), strings.Join(bad, "\n"))
	}
}

// TestSchema_ShopDistributionDownAndUp runs migration 00068's Down and Up
// sections on a database holding rows of a shop and of an unknown shop:
// Down gives the unknown shop's inbox row its null back and the keys on id
// alone, Up makes it shop 0 again with every row kept, and the schema
// passes the distribution check after the round trip.
func TestSchema_ShopDistributionDownAndUp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	src, err := migrations.FS.ReadFile("00068_shop_distribution.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00068 has no Down section")
	}
	_, up, ok = strings.Cut(up, "-- +goose Up")
	if !ok {
		t.Fatal("00068 has no Up section")
	}
	st := store.New(db.Gorm)
	shop := mustShop(t, st, "round-trip.myshopify.com")
	for _, q := range []string{
		`INSERT INTO customers (shop_id, shopify_id, gid) VALUES ($1, 7, 'gid://shopify/Customer/7')`,
		`INSERT INTO loyalty_accounts (customer_id, shop_id, shopify_customer_id, created_at, updated_at)
            SELECT id, shop_id, 7, now(), now() FROM customers WHERE shop_id = $1`,
		`INSERT INTO point_lots (shop_id, customer_id, points, remaining, source_key, created_at)
            SELECT shop_id, id, 10, 10, 'k1', now() FROM customers WHERE shop_id = $1`,
		`INSERT INTO ledger_entries (shop_id, customer_id, shopify_customer_id, kind, points, idempotency_key, lot_id, actor, created_at)
            SELECT l.shop_id, l.customer_id, 7, 'earn', 10, 'k1', l.id, 'system', now() FROM point_lots l WHERE l.shop_id = $1`,
		`INSERT INTO webhooks (shop_id, shop_domain, webhook_id, topic, body, status) VALUES ($1, 'round-trip.myshopify.com', 'w1', 'orders/paid', '\x', 'processed')`,
	} {
		if _, err := db.Pool.Exec(ctx, q, shop.ID); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Stored without a shop id, as the intake stores an unknown shop's.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status) VALUES ('stranger.myshopify.com', 'w2', 'orders/paid', '\x', 'ignored')`); err != nil {
		t.Fatal(err)
	}
	counts := func() string {
		var s string
		if err := db.Pool.QueryRow(ctx, `SELECT concat_ws(',', (SELECT count(*) FROM customers), (SELECT count(*) FROM loyalty_accounts),
            (SELECT count(*) FROM point_lots), (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM webhooks))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	unknownShop := func() *int64 {
		var id *int64
		if err := db.Pool.QueryRow(ctx, `SELECT shop_id FROM webhooks WHERE webhook_id = 'w2'`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := counts()
	if id := unknownShop(); id == nil || *id != 0 {
		t.Fatalf("an unknown shop's inbox row has shop id %v, want 0", id)
	}
	if _, err := db.SQL.ExecContext(ctx, down); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if id := unknownShop(); id != nil {
		t.Fatalf("after Down the unknown shop's row has shop id %d, want null", *id)
	}
	var pk string
	if err := db.Pool.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'customers_pkey'`).Scan(&pk); err != nil || pk != "PRIMARY KEY (id)" {
		t.Fatalf("after Down customers_pkey is %q (%v)", pk, err)
	}
	if _, err := db.SQL.ExecContext(ctx, up); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if id := unknownShop(); id == nil || *id != 0 {
		t.Fatalf("after Up the unknown shop's row has shop id %v, want 0", id)
	}
	if after := counts(); after != before {
		t.Fatalf("rows before %s, after Down and Up %s", before, after)
	}
	problems, _, err := shardingViolations(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
