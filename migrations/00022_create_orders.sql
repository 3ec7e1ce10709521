-- What the loyalty engine remembers about each order (ledger.OrderState):
-- its earning base, the points it earned and what refunds and the
-- cancellation took back. Refunds and cancellations that arrive before the
-- earning webhook are remembered here and applied when it lands. Keyed by
-- the order's GraphQL id, the exact one (sample payloads carry rounded
-- numeric ids).

-- +goose Up
CREATE TABLE orders (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_gid           text NOT NULL,
    shopify_id          bigint NOT NULL,
    -- Null for guest orders and for orders known only from a refund so far.
    customer_id         bigint REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint,
    name                text NOT NULL DEFAULT '',
    channel             text NOT NULL DEFAULT '',
    currency            text NOT NULL DEFAULT '',
    -- Null until an order webhook said; refunds need it to price their base.
    taxes_included      boolean,
    base_minor          bigint NOT NULL DEFAULT 0,
    earned              bigint NOT NULL DEFAULT 0 CHECK (earned >= 0),
    reversed            bigint NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= earned),
    refunded_base_minor bigint NOT NULL DEFAULT 0,
    -- Refunds stored before the order was seen, not yet priced.
    unpriced_refunds    integer NOT NULL DEFAULT 0,
    cancelled           boolean NOT NULL DEFAULT false,
    guest_counted       boolean NOT NULL DEFAULT false,
    earned_at           timestamptz,
    cancelled_at        timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (shop_id, order_gid)
);
CREATE INDEX orders_customer_idx ON orders (customer_id) WHERE customer_id IS NOT NULL;

-- One row per refund: the natural key of a reversal is (shop, refund id).
-- The refund's amounts are kept so it can be priced when its order arrives.
CREATE TABLE order_refunds (
    id                 bigserial PRIMARY KEY,
    shop_id            bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id           bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    refund_gid         text NOT NULL,
    lines_subtotal_minor bigint NOT NULL DEFAULT 0,
    lines_tax_minor    bigint NOT NULL DEFAULT 0,
    shipping_minor     bigint NOT NULL DEFAULT 0,
    shipping_tax_minor bigint NOT NULL DEFAULT 0,
    excluded_minor     bigint NOT NULL DEFAULT 0,
    -- The refund's earning base, null until priced.
    base_minor         bigint,
    points_reversed    bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    UNIQUE (shop_id, refund_gid)
);
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id);

-- +goose Down
DROP TABLE order_refunds;
DROP TABLE orders;
