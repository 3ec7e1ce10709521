-- Plan past one database (issue 14 item 5): every tenant table is
-- distributable by shop. shop_id is the distribution column (Citus) or the
-- routing key (one database per group of shops); see docs/scaling.md. After
-- this migration, and enforced by app/store/schema_test.go:
--   * every table but shops, goose's and River's, and the sink limiter's
--     (keyed by sink account, shared across shops) has a NOT NULL shop_id;
--   * every primary key and unique constraint leads with shop_id, since a
--     distributed table can only enforce uniqueness within one shop;
--   * every foreign key between tenant tables names shop_id on both sides,
--     (shop_id, x_id) REFERENCES x (shop_id, id), so a row and its parent
--     always live in the same shard (and the parent is the same shop's).
--
-- webhooks: deliveries for a domain without a shop row (unknown shops; the
-- compliance topics are still processed for them) used to carry a null
-- shop_id. They now carry shop_id 0, which no shop has, and 0 is the
-- column's default as null was (a row stored without a shop id is an
-- unknown shop's, as before). The foreign key to shops goes (no key can
-- hold 0); it deleted nothing store.DeleteShop does not delete itself
-- (shop/redact deletes the rows of the shop's id and of 0 under its
-- domain, through the unique index below). A stored generated column
-- NULLIF(shop_id, 0) could carry the key, but its cascade would scan the
-- whole inbox on every shop deletion (no index leads with it), past the
-- 30 s statement timeout on a large inbox. What the key also did: an
-- intake racing a shop's deletion failed its batch (Shopify retried, and
-- the retry was stored as an unknown shop's); now the row is stored under
-- the deleted id, and fails in the worker (no shop). docs/scaling.md.
-- Dedup is on (shop_id, shop_domain, webhook_id): a retry is deduplicated
-- as before unless the shop was installed or deleted between the two
-- attempts, when it is stored once more (and processed as the shop now is).
--
-- Ids stay globally unique (one sequence per table), so a lookup by id alone
-- still finds one row; those lookups keep a plain index on id (tables
-- whose rows are never addressed by id alone do without). Under Citus such a
-- lookup goes to every shard: the path to distribution gives each one a
-- shop_id (docs/scaling.md lists them), then the id indexes go.

-- +goose Up
-- 0. The inbox: shop_id NOT NULL (0 for an unknown shop).
ALTER TABLE webhooks DROP CONSTRAINT webhooks_shop_id_fkey;
UPDATE webhooks SET shop_id = 0 WHERE shop_id IS NULL;
ALTER TABLE webhooks ALTER COLUMN shop_id SET DEFAULT 0, ALTER COLUMN shop_id SET NOT NULL;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_shop_domain_webhook_id_key,
    ADD CONSTRAINT webhooks_shop_id_shop_domain_webhook_id_key UNIQUE (shop_id, shop_domain, webhook_id);

-- 1. Foreign keys between tenant tables are dropped, to come back with shop_id.
ALTER TABLE loyalty_accounts DROP CONSTRAINT loyalty_accounts_customer_id_fkey;
ALTER TABLE point_lots DROP CONSTRAINT point_lots_customer_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_customer_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_lot_id_fkey;
ALTER TABLE tier_activities DROP CONSTRAINT tier_activities_customer_id_fkey;
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_customer_id_fkey;
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_lot_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE order_refunds DROP CONSTRAINT order_refunds_order_id_fkey;
ALTER TABLE coupons DROP CONSTRAINT coupons_customer_id_fkey;
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_customer_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_customer_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE profile_syncs DROP CONSTRAINT profile_syncs_customer_id_fkey;
ALTER TABLE referral_codes DROP CONSTRAINT referral_codes_customer_id_fkey;
ALTER TABLE referrals DROP CONSTRAINT referrals_friend_customer_id_fkey;
ALTER TABLE referrals DROP CONSTRAINT referrals_referrer_customer_id_fkey;
ALTER TABLE order_products DROP CONSTRAINT order_products_order_id_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_customer_id_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_order_id_fkey;
ALTER TABLE order_edits DROP CONSTRAINT order_edits_order_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_claimed_by_customer_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_customer_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_order_id_fkey;

-- 2. Primary keys on id alone become (shop_id, id). A plain index on id
-- stays where rows are still addressed by id alone (see the header).
ALTER TABLE coupons DROP CONSTRAINT coupons_pkey, ADD CONSTRAINT coupons_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX coupons_id_idx ON coupons (id);
ALTER TABLE customers DROP CONSTRAINT customers_pkey, ADD CONSTRAINT customers_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX customers_id_idx ON customers (id);
ALTER TABLE data_requests DROP CONSTRAINT data_requests_pkey, ADD CONSTRAINT data_requests_pkey PRIMARY KEY (shop_id, id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey, ADD CONSTRAINT deliveries_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX deliveries_id_idx ON deliveries (id);
ALTER TABLE event_definitions DROP CONSTRAINT event_definitions_pkey, ADD CONSTRAINT event_definitions_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX event_definitions_id_idx ON event_definitions (id);
ALTER TABLE guest_points DROP CONSTRAINT guest_points_pkey, ADD CONSTRAINT guest_points_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX guest_points_id_idx ON guest_points (id);
ALTER TABLE integrations DROP CONSTRAINT integrations_pkey, ADD CONSTRAINT integrations_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX integrations_id_idx ON integrations (id);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_pkey, ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (shop_id, id);
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_pkey, ADD CONSTRAINT loyalty_events_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX loyalty_events_id_idx ON loyalty_events (id);
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_pkey, ADD CONSTRAINT loyalty_notices_pkey PRIMARY KEY (shop_id, id);
ALTER TABLE order_edits DROP CONSTRAINT order_edits_pkey, ADD CONSTRAINT order_edits_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX order_edits_id_idx ON order_edits (id);
ALTER TABLE order_refunds DROP CONSTRAINT order_refunds_pkey, ADD CONSTRAINT order_refunds_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX order_refunds_id_idx ON order_refunds (id);
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD CONSTRAINT orders_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX orders_id_idx ON orders (id);
ALTER TABLE point_lots DROP CONSTRAINT point_lots_pkey, ADD CONSTRAINT point_lots_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX point_lots_id_idx ON point_lots (id);
ALTER TABLE referrals DROP CONSTRAINT referrals_pkey, ADD CONSTRAINT referrals_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX referrals_id_idx ON referrals (id);
ALTER TABLE reviews DROP CONSTRAINT reviews_pkey, ADD CONSTRAINT reviews_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX reviews_id_idx ON reviews (id);
ALTER TABLE tier_activities DROP CONSTRAINT tier_activities_pkey, ADD CONSTRAINT tier_activities_pkey PRIMARY KEY (shop_id, id);
ALTER TABLE webhooks DROP CONSTRAINT webhooks_pkey, ADD CONSTRAINT webhooks_pkey PRIMARY KEY (shop_id, id);
CREATE INDEX webhooks_id_idx ON webhooks (id);

-- 3. Other primary keys and unique constraints lead with shop_id.
ALTER TABLE loyalty_accounts DROP CONSTRAINT loyalty_accounts_pkey, ADD CONSTRAINT loyalty_accounts_pkey PRIMARY KEY (shop_id, customer_id);
ALTER TABLE order_products DROP CONSTRAINT order_products_pkey, ADD CONSTRAINT order_products_pkey PRIMARY KEY (shop_id, order_id, product_id);
ALTER TABLE profile_syncs DROP CONSTRAINT profile_syncs_pkey, ADD CONSTRAINT profile_syncs_pkey PRIMARY KEY (shop_id, integration_id, customer_id);
ALTER TABLE referral_codes DROP CONSTRAINT referral_codes_pkey, ADD CONSTRAINT referral_codes_pkey PRIMARY KEY (shop_id, customer_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_integration_id_key, ADD CONSTRAINT deliveries_shop_id_event_id_integration_id_key UNIQUE (shop_id, event_id, integration_id);
ALTER TABLE event_definitions DROP CONSTRAINT event_definitions_integration_id_event_key, ADD CONSTRAINT event_definitions_shop_id_integration_id_event_key UNIQUE (shop_id, integration_id, event);
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_seq_key, ADD CONSTRAINT loyalty_events_shop_id_seq_key UNIQUE (shop_id, seq);
-- loyalty_events_shop_seq_idx (shop_id, seq) is now the unique constraint's index.
DROP INDEX loyalty_events_shop_seq_idx;
-- Rows still found by their old key alone (joins on customer_id or order_id)
-- keep a plain index on it, as the id indexes above.
CREATE INDEX loyalty_accounts_customer_idx ON loyalty_accounts (customer_id);
CREATE INDEX referral_codes_customer_idx ON referral_codes (customer_id);
CREATE INDEX order_products_order_idx ON order_products (order_id);

-- 4. Foreign keys between tenant tables carry shop_id on both sides.
ALTER TABLE loyalty_accounts ADD CONSTRAINT loyalty_accounts_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE point_lots ADD CONSTRAINT point_lots_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_lot_id_fkey FOREIGN KEY (shop_id, lot_id) REFERENCES point_lots (shop_id, id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE tier_activities ADD CONSTRAINT tier_activities_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE loyalty_notices ADD CONSTRAINT loyalty_notices_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE loyalty_notices ADD CONSTRAINT loyalty_notices_lot_id_fkey FOREIGN KEY (shop_id, lot_id) REFERENCES point_lots (shop_id, id) ON DELETE CASCADE;
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE order_refunds ADD CONSTRAINT order_refunds_order_id_fkey FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE CASCADE;
ALTER TABLE coupons ADD CONSTRAINT coupons_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE loyalty_events ADD CONSTRAINT loyalty_events_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (shop_id, event_id) REFERENCES loyalty_events (shop_id, id) ON DELETE CASCADE;
ALTER TABLE profile_syncs ADD CONSTRAINT profile_syncs_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE referral_codes ADD CONSTRAINT referral_codes_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE referrals ADD CONSTRAINT referrals_friend_customer_id_fkey FOREIGN KEY (shop_id, friend_customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE referrals ADD CONSTRAINT referrals_referrer_customer_id_fkey FOREIGN KEY (shop_id, referrer_customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE order_products ADD CONSTRAINT order_products_order_id_fkey FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE CASCADE;
ALTER TABLE reviews ADD CONSTRAINT reviews_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE reviews ADD CONSTRAINT reviews_order_id_fkey FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE SET NULL (order_id);
ALTER TABLE order_edits ADD CONSTRAINT order_edits_order_id_fkey FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_claimed_by_customer_id_fkey FOREIGN KEY (shop_id, claimed_by_customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_customer_id_fkey FOREIGN KEY (shop_id, customer_id) REFERENCES customers (shop_id, id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_order_id_fkey FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE loyalty_accounts DROP CONSTRAINT loyalty_accounts_customer_id_fkey;
ALTER TABLE point_lots DROP CONSTRAINT point_lots_customer_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_customer_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_lot_id_fkey;
ALTER TABLE tier_activities DROP CONSTRAINT tier_activities_customer_id_fkey;
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_customer_id_fkey;
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_lot_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE order_refunds DROP CONSTRAINT order_refunds_order_id_fkey;
ALTER TABLE coupons DROP CONSTRAINT coupons_customer_id_fkey;
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_customer_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_customer_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE profile_syncs DROP CONSTRAINT profile_syncs_customer_id_fkey;
ALTER TABLE referral_codes DROP CONSTRAINT referral_codes_customer_id_fkey;
ALTER TABLE referrals DROP CONSTRAINT referrals_friend_customer_id_fkey;
ALTER TABLE referrals DROP CONSTRAINT referrals_referrer_customer_id_fkey;
ALTER TABLE order_products DROP CONSTRAINT order_products_order_id_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_customer_id_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_order_id_fkey;
ALTER TABLE order_edits DROP CONSTRAINT order_edits_order_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_claimed_by_customer_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_customer_id_fkey;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_order_id_fkey;
DROP INDEX loyalty_accounts_customer_idx, referral_codes_customer_idx, order_products_order_idx;
CREATE INDEX loyalty_events_shop_seq_idx ON loyalty_events (shop_id, seq);
ALTER TABLE loyalty_accounts DROP CONSTRAINT loyalty_accounts_pkey, ADD CONSTRAINT loyalty_accounts_pkey PRIMARY KEY (customer_id);
ALTER TABLE order_products DROP CONSTRAINT order_products_pkey, ADD CONSTRAINT order_products_pkey PRIMARY KEY (order_id, product_id);
ALTER TABLE profile_syncs DROP CONSTRAINT profile_syncs_pkey, ADD CONSTRAINT profile_syncs_pkey PRIMARY KEY (integration_id, customer_id);
ALTER TABLE referral_codes DROP CONSTRAINT referral_codes_pkey, ADD CONSTRAINT referral_codes_pkey PRIMARY KEY (customer_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_shop_id_event_id_integration_id_key, ADD CONSTRAINT deliveries_event_id_integration_id_key UNIQUE (event_id, integration_id);
ALTER TABLE event_definitions DROP CONSTRAINT event_definitions_shop_id_integration_id_event_key, ADD CONSTRAINT event_definitions_integration_id_event_key UNIQUE (integration_id, event);
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_shop_id_seq_key, ADD CONSTRAINT loyalty_events_seq_key UNIQUE (seq);
DROP INDEX coupons_id_idx;
ALTER TABLE coupons DROP CONSTRAINT coupons_pkey, ADD CONSTRAINT coupons_pkey PRIMARY KEY (id);
DROP INDEX customers_id_idx;
ALTER TABLE customers DROP CONSTRAINT customers_pkey, ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
ALTER TABLE data_requests DROP CONSTRAINT data_requests_pkey, ADD CONSTRAINT data_requests_pkey PRIMARY KEY (id);
DROP INDEX deliveries_id_idx;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey, ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);
DROP INDEX event_definitions_id_idx;
ALTER TABLE event_definitions DROP CONSTRAINT event_definitions_pkey, ADD CONSTRAINT event_definitions_pkey PRIMARY KEY (id);
DROP INDEX guest_points_id_idx;
ALTER TABLE guest_points DROP CONSTRAINT guest_points_pkey, ADD CONSTRAINT guest_points_pkey PRIMARY KEY (id);
DROP INDEX integrations_id_idx;
ALTER TABLE integrations DROP CONSTRAINT integrations_pkey, ADD CONSTRAINT integrations_pkey PRIMARY KEY (id);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_pkey, ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (id);
DROP INDEX loyalty_events_id_idx;
ALTER TABLE loyalty_events DROP CONSTRAINT loyalty_events_pkey, ADD CONSTRAINT loyalty_events_pkey PRIMARY KEY (id);
ALTER TABLE loyalty_notices DROP CONSTRAINT loyalty_notices_pkey, ADD CONSTRAINT loyalty_notices_pkey PRIMARY KEY (id);
DROP INDEX order_edits_id_idx;
ALTER TABLE order_edits DROP CONSTRAINT order_edits_pkey, ADD CONSTRAINT order_edits_pkey PRIMARY KEY (id);
DROP INDEX order_refunds_id_idx;
ALTER TABLE order_refunds DROP CONSTRAINT order_refunds_pkey, ADD CONSTRAINT order_refunds_pkey PRIMARY KEY (id);
DROP INDEX orders_id_idx;
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
DROP INDEX point_lots_id_idx;
ALTER TABLE point_lots DROP CONSTRAINT point_lots_pkey, ADD CONSTRAINT point_lots_pkey PRIMARY KEY (id);
DROP INDEX referrals_id_idx;
ALTER TABLE referrals DROP CONSTRAINT referrals_pkey, ADD CONSTRAINT referrals_pkey PRIMARY KEY (id);
DROP INDEX reviews_id_idx;
ALTER TABLE reviews DROP CONSTRAINT reviews_pkey, ADD CONSTRAINT reviews_pkey PRIMARY KEY (id);
ALTER TABLE tier_activities DROP CONSTRAINT tier_activities_pkey, ADD CONSTRAINT tier_activities_pkey PRIMARY KEY (id);
DROP INDEX webhooks_id_idx;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_pkey, ADD CONSTRAINT webhooks_pkey PRIMARY KEY (id);
ALTER TABLE loyalty_accounts ADD CONSTRAINT loyalty_accounts_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE point_lots ADD CONSTRAINT point_lots_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES point_lots (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE tier_activities ADD CONSTRAINT tier_activities_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE loyalty_notices ADD CONSTRAINT loyalty_notices_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE loyalty_notices ADD CONSTRAINT loyalty_notices_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES point_lots (id) ON DELETE CASCADE;
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE order_refunds ADD CONSTRAINT order_refunds_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE coupons ADD CONSTRAINT coupons_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE loyalty_events ADD CONSTRAINT loyalty_events_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES loyalty_events (id) ON DELETE CASCADE;
ALTER TABLE profile_syncs ADD CONSTRAINT profile_syncs_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE referral_codes ADD CONSTRAINT referral_codes_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE referrals ADD CONSTRAINT referrals_friend_customer_id_fkey FOREIGN KEY (friend_customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE referrals ADD CONSTRAINT referrals_referrer_customer_id_fkey FOREIGN KEY (referrer_customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE order_products ADD CONSTRAINT order_products_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE reviews ADD CONSTRAINT reviews_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE reviews ADD CONSTRAINT reviews_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE SET NULL;
ALTER TABLE order_edits ADD CONSTRAINT order_edits_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_claimed_by_customer_id_fkey FOREIGN KEY (claimed_by_customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE guest_points ADD CONSTRAINT guest_points_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
-- The inbox, last: shop_id is part of its primary key until here.
ALTER TABLE webhooks DROP CONSTRAINT webhooks_shop_id_shop_domain_webhook_id_key;
ALTER TABLE webhooks ALTER COLUMN shop_id DROP NOT NULL, ALTER COLUMN shop_id DROP DEFAULT;
-- Rows of shops deleted meanwhile (see the header) become unknown shops'.
UPDATE webhooks w SET shop_id = NULL WHERE shop_id = 0 OR NOT EXISTS (SELECT 1 FROM shops s WHERE s.id = w.shop_id);
ALTER TABLE webhooks ADD CONSTRAINT webhooks_shop_domain_webhook_id_key UNIQUE (shop_domain, webhook_id);
ALTER TABLE webhooks ADD CONSTRAINT webhooks_shop_id_fkey FOREIGN KEY (shop_id) REFERENCES shops (id) ON DELETE CASCADE;
