-- Birthdays that fire (DESIGN.md §3 birthday_reward).
--
-- loyalty_accounts.birthday_set_at and birthday_set_by: when and by whom
-- (shopper, staff) the birthday was last set, so a shopper can change it
-- once a year and a support agent can always correct it.
--
-- customers.facts_checked_at: when Shopify's standard customer metafield
-- facts.birth_date was last read into customers.metafields; null means
-- "read it": a new customer, or customers/create|update said it changed.
-- The periodic loyalty work reads the stale ones in batches, so no webhook
-- waits for the Admin API.

-- +goose Up
ALTER TABLE loyalty_accounts ADD COLUMN birthday_set_at timestamptz,
    ADD COLUMN birthday_set_by text NOT NULL DEFAULT '' CHECK (birthday_set_by IN ('', 'shopper', 'staff'));
ALTER TABLE customers ADD COLUMN facts_checked_at timestamptz;
CREATE INDEX customers_facts_stale_idx ON customers (shop_id, id) WHERE facts_checked_at IS NULL;

-- +goose Down
DROP INDEX customers_facts_stale_idx;
ALTER TABLE customers DROP COLUMN facts_checked_at;
ALTER TABLE loyalty_accounts DROP COLUMN birthday_set_by, DROP COLUMN birthday_set_at;
