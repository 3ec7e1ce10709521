-- Loyalty events (DESIGN.md §3), written in the same transaction as the
-- change that caused them: the hand-off to event forwarding. The id is
-- event.StableID of the cause, so rebuilding an event after a crash or a
-- replay inserts nothing new. seq gives consumers a stable scan order.

-- +goose Up
CREATE TABLE loyalty_events (
    id                  uuid PRIMARY KEY,
    seq                 bigserial NOT NULL UNIQUE,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    key                 text NOT NULL,
    channel             text NOT NULL DEFAULT '',
    occurred_at         timestamptz NOT NULL,
    properties          jsonb NOT NULL,
    points_balance      bigint NOT NULL,
    tier                text NOT NULL DEFAULT '',
    currency            text NOT NULL,
    -- The natural key of the cause (a ledger idempotency key or a job key).
    source_key          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loyalty_events_shop_seq_idx ON loyalty_events (shop_id, seq);
CREATE INDEX loyalty_events_customer_idx ON loyalty_events (customer_id);

-- +goose Down
DROP TABLE loyalty_events;
