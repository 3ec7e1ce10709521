-- Deliveries: one row per (integration, loyalty event) the router matched,
-- inserted in the same transaction as the event (store.RouteEvents). The
-- rows are the queue: forward.Runner claims due pending rows with
-- FOR UPDATE SKIP LOCKED, sends, and records the outcome on the row, so any
-- number of runners in any number of processes can work side by side and a
-- crash loses nothing (an expired lease makes the row due again).
--
-- A delivery goes with its integration (disconnect), its loyalty event and
-- its customer (customers/redact, shop/redact): ON DELETE CASCADE.

-- +goose Up
CREATE TABLE deliveries (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    integration_id      bigint NOT NULL,
    -- The definition that routed it; its name is the metric name at send
    -- time (the event key once the definition is deleted; its pending rows
    -- are skipped then, see store.DeleteEventDefinition). No foreign key:
    -- the cascade would need an index on every row, written on every
    -- update, for a rare delete; ids are never reused.
    definition_id       bigint,
    event_id            uuid NOT NULL REFERENCES loyalty_events (id) ON DELETE CASCADE,
    event               text NOT NULL,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'late')),
    -- Attempts that reached a verdict (throttling and paused credentials do
    -- not count against the retry budget).
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code    integer,
    last_error          text NOT NULL DEFAULT '',
    -- At most 512 bytes of the last answer's body.
    response_excerpt    text NOT NULL DEFAULT '',
    -- CleverTap has no idempotency key: a batch whose answer was lost (a
    -- timeout, or a runner that died mid-send) is retried once and flagged.
    possibly_duplicated boolean NOT NULL DEFAULT false,
    -- When the row is next due. A claim moves it to the end of the lease, so
    -- a crashed runner's rows come back by themselves.
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    -- Set while a runner holds the row; cleared with the outcome. A claim
    -- that finds it set knows the previous holder never recorded one.
    lease_until         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE,
    -- The natural key of a delivery (DESIGN.md §1): routing twice is a
    -- no-op. Event first, so the same index serves the cascade from
    -- loyalty_events (ON CONFLICT infers it whatever the column order).
    UNIQUE (event_id, integration_id)
);
-- Due pending rows per integration, in the order the runner claims them.
CREATE INDEX deliveries_due_idx ON deliveries (integration_id, next_attempt_at, id) WHERE status = 'pending';
-- Stats and the deliveries list, by shop and time.
CREATE INDEX deliveries_stats_idx ON deliveries (shop_id, created_at);
-- The cascade from customers (the one from loyalty_events uses the unique
-- key). Every index is written on each claim and outcome, so there are no
-- others.
CREATE INDEX deliveries_customer_idx ON deliveries (customer_id);

-- Profile sync state per integration and customer. The router bumps
-- version whenever it sees an event of the customer (the loyalty state may
-- have changed); the runner pushes the customer's current loyalty
-- properties once, however many bumps happened meanwhile (coalescing), and
-- records the version it pushed and a hash of what it sent, so an
-- unchanged profile is not sent again.
CREATE TABLE profile_syncs (
    integration_id   bigint NOT NULL,
    shop_id          bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id      bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    version          bigint NOT NULL DEFAULT 1,
    synced_version   bigint NOT NULL DEFAULT 0,
    synced_hash      text NOT NULL DEFAULT '',
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    synced_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, customer_id),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX profile_syncs_due_idx ON profile_syncs (integration_id, next_attempt_at) WHERE version > synced_version;
CREATE INDEX profile_syncs_customer_idx ON profile_syncs (customer_id);

-- The routing sweep (store.RouteUnrouted) scans recent events by time; a
-- BRIN index costs next to nothing on insert since rows arrive in order.
CREATE INDEX loyalty_events_created_brin ON loyalty_events USING brin (created_at);

-- +goose Down
DROP INDEX loyalty_events_created_brin;
DROP TABLE profile_syncs;
DROP TABLE deliveries;
