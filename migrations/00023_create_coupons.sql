-- Reward coupons bought with points. The row is written (pending) in the
-- redemption's transaction; the Shopify discount code is created afterwards
-- by a River job (kicked after commit, re-kicked by a sweep), which marks
-- the row active or failed.

-- +goose Up
CREATE TABLE coupons (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    code                text NOT NULL,
    reward_id           text NOT NULL,
    reward_name         text NOT NULL DEFAULT '',
    discount_type       text NOT NULL CHECK (discount_type IN ('percentage', 'fixed_amount')),
    discount_value      text NOT NULL,
    min_subtotal_minor  bigint NOT NULL DEFAULT 0,
    points_spent        bigint NOT NULL CHECK (points_spent > 0),
    -- Idempotency key of the redeem entry that paid for it.
    ledger_key          text NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'active', 'failed')),
    shopify_discount_id text NOT NULL DEFAULT '',
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text NOT NULL DEFAULT '',
    expires_at          timestamptz,
    redeemed_at         timestamptz,
    redeemed_order_gid  text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (shop_id, ledger_key)
);
-- Shopify discount codes are unique per shop case-insensitively.
CREATE UNIQUE INDEX coupons_code_idx ON coupons (shop_id, lower(code));
CREATE INDEX coupons_pending_idx ON coupons (created_at) WHERE status = 'pending';
CREATE INDEX coupons_customer_idx ON coupons (customer_id);

-- +goose Down
DROP TABLE coupons;
