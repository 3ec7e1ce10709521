-- The points ledger. ledger_entries is append-only: every credit opens a
-- point lot, every debit names the lots it drew from (allocations). The
-- per-customer loyalty_accounts row holds what is derived from the ledger
-- (balance, debt, tier metrics, tier) and is updated in the same
-- transaction as the entries, under a row lock on the account, so it never
-- drifts from them. Idempotency keys (app/ledger key.go) are unique per
-- shop: a replayed webhook or a retried job inserts nothing the second time.
--
-- Every customer-scoped row references customers(id) ON DELETE CASCADE, so
-- customers/delete and customers/redact remove the customer's loyalty data
-- with the customer row.

-- +goose Up
CREATE TABLE loyalty_accounts (
    customer_id         bigint PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    -- Sum of the customer's ledger entries; negative while the customer owes
    -- points after a reversal of points already spent.
    points_balance      bigint NOT NULL DEFAULT 0,
    -- Shortfalls of reversals not yet paid back by later credits.
    points_debt         bigint NOT NULL DEFAULT 0 CHECK (points_debt >= 0),
    -- Every point ever credited (any kind, adjustments included).
    lifetime_points     bigint NOT NULL DEFAULT 0,
    -- Lifetime tier metrics: points credited by earning kinds minus points
    -- reversed, and the net earning base of the customer's orders (minor
    -- units of the shop currency). Rolling windows use tier_activities.
    points_earned       bigint NOT NULL DEFAULT 0,
    amount_spent_minor  bigint NOT NULL DEFAULT 0,
    tier_key            text NOT NULL DEFAULT '',
    tier_since          timestamptz,
    -- The birthday set through the API; when null the customer metafield
    -- facts.birth_date (cached on customers.metafields) is used.
    birth_month         smallint CHECK (birth_month BETWEEN 1 AND 12),
    birth_day           smallint CHECK (birth_day BETWEEN 1 AND 31),
    last_redeemed_at    timestamptz,
    last_nudged_at      timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (shop_id, shopify_customer_id)
);
CREATE INDEX loyalty_accounts_tier_idx ON loyalty_accounts (shop_id, tier_since) WHERE tier_key <> '';
CREATE INDEX loyalty_accounts_birthday_idx ON loyalty_accounts (shop_id, birth_month, birth_day) WHERE birth_month IS NOT NULL;
CREATE INDEX loyalty_accounts_balance_idx ON loyalty_accounts (shop_id, points_balance) WHERE points_balance > 0;

CREATE TABLE point_lots (
    id           bigserial PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    points       bigint NOT NULL CHECK (points >= 0),
    remaining    bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    -- Idempotency key of the credit that opened the lot.
    source_key   text NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz,
    expires_at   timestamptz
);
CREATE INDEX point_lots_customer_idx ON point_lots (customer_id) WHERE remaining > 0;
CREATE INDEX point_lots_expiry_idx ON point_lots (shop_id, expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE ledger_entries (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('earn', 'signup', 'birthday', 'review', 'referral', 'adjust', 'redeem', 'reverse', 'expire')),
    points              bigint NOT NULL,
    reason              text NOT NULL DEFAULT '',
    order_gid           text NOT NULL DEFAULT '',
    refund_gid          text NOT NULL DEFAULT '',
    base_minor          bigint NOT NULL DEFAULT 0,
    idempotency_key     text NOT NULL CHECK (idempotency_key <> ''),
    -- The lot a credit opened (its id is drawn from point_lots_id_seq by the
    -- entry's own INSERT, so the entry is never updated afterwards).
    lot_id              bigint REFERENCES point_lots (id) DEFERRABLE INITIALLY DEFERRED,
    allocations         jsonb NOT NULL DEFAULT '[]',
    shortfall           bigint NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    debt_settled        bigint NOT NULL DEFAULT 0 CHECK (debt_settled >= 0),
    -- Who caused it: "webhook:<inbox id>", "user:<id>" or "system".
    actor               text NOT NULL,
    webhook_id          bigint,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz,
    available_at        timestamptz,
    UNIQUE (shop_id, idempotency_key)
);
CREATE INDEX ledger_entries_customer_idx ON ledger_entries (customer_id, id);
CREATE INDEX ledger_entries_order_idx ON ledger_entries (shop_id, order_gid) WHERE order_gid <> '';

-- Contributions to the tier metrics with their time, for rolling windows:
-- an order's earning base and points (positive), refunds and cancellations
-- (negative).
CREATE TABLE tier_activities (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    occurred_at timestamptz NOT NULL,
    spent_minor bigint NOT NULL DEFAULT 0,
    points      bigint NOT NULL DEFAULT 0,
    source_key  text NOT NULL
);
CREATE INDEX tier_activities_customer_idx ON tier_activities (customer_id, occurred_at);

-- Reminders and nudges already sent, once per natural key
-- (ledger.KeyReminder per lot and offset, ledger.KeyNudge per day).
CREATE TABLE loyalty_notices (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('expiry_reminder', 'unused_nudge')),
    key         text NOT NULL,
    lot_id      bigint REFERENCES point_lots (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    UNIQUE (shop_id, key)
);
CREATE INDEX loyalty_notices_customer_idx ON loyalty_notices (customer_id);

-- +goose Down
DROP TABLE loyalty_notices;
DROP TABLE tier_activities;
DROP TABLE ledger_entries;
DROP TABLE point_lots;
DROP TABLE loyalty_accounts;
