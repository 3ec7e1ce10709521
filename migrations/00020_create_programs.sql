-- Loyalty program settings, one row per shop (program.Settings as JSON; a
-- shop without a row runs program.Defaults()), and per-shop loyalty
-- counters such as orders that earned nothing because they had no customer.

-- +goose Up
CREATE TABLE programs (
    shop_id    bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    settings   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loyalty_shop_stats (
    shop_id      bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    -- Orders on an earning topic without a customer: counted once per order.
    guest_orders bigint NOT NULL DEFAULT 0 CHECK (guest_orders >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE loyalty_shop_stats;
DROP TABLE programs;
