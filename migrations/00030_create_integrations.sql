-- Sink integrations (Klaviyo, CleverTap) and the event definitions that say
-- which loyalty events each one receives (DESIGN.md §4, §6).
--
-- One integration per shop and kind. Credentials are a vault-sealed JSON
-- document (app/vault) whose additional data binds it to the shop and kind,
-- so a sealed value copied to another row does not open; the plaintext
-- never reaches the database or the logs. credentials_hint is the masked
-- form the UI shows.
--
-- (shop_id, id) is unique so that child tables can reference it with a
-- composite key: a definition or a delivery can never point at another
-- shop's integration, whatever the code does.

-- +goose Up
CREATE TABLE integrations (
    id               bigserial PRIMARY KEY,
    shop_id          bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('klaviyo', 'clevertap')),
    -- not_connected: saved but never validated; initializing: validating
    -- now; active: sending; paused: the sink refused the credentials (or
    -- they could not be validated), deliveries wait.
    status           text NOT NULL CHECK (status IN ('not_connected', 'initializing', 'active', 'paused')),
    status_reason    text NOT NULL DEFAULT '',
    common_property  text NOT NULL CHECK (common_property ~ '^(email|phone|customer_id|metafield:[^.]+\.[^.]+)$'),
    -- CleverTap's data centre (eu1, in1, …); '' for Klaviyo.
    region           text NOT NULL DEFAULT '',
    -- CleverTap's account id, or Klaviyo's account id from GET /api/accounts.
    -- Rate limits and concurrency leases are keyed by it, because the sinks
    -- enforce them per account, whichever shop sends.
    account_id       text NOT NULL DEFAULT '',
    credentials      text NOT NULL DEFAULT '',
    credentials_hint text NOT NULL DEFAULT '',
    validated_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, kind),
    UNIQUE (shop_id, id)
);
CREATE INDEX integrations_active_idx ON integrations (id) WHERE status = 'active';

-- An event definition forwards one catalog event to one integration under
-- a name (the metric / evtName; the event key by default), optionally only
-- for some sales channels (empty = every channel). Definitions are not
-- retroactive: they route events written after they exist.
CREATE TABLE event_definitions (
    id             bigserial PRIMARY KEY,
    shop_id        bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    integration_id bigint NOT NULL,
    event          text NOT NULL,
    name           text NOT NULL CHECK (name <> '' AND char_length(name) < 128),
    channels       text[] NOT NULL DEFAULT '{}'
                   CHECK (channels <@ ARRAY['online_store', 'pos', 'draft_order', 'other']::text[]),
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE,
    UNIQUE (integration_id, event),
    UNIQUE (shop_id, id)
);
-- The router's lookup: enabled definitions of a shop by event key.
CREATE INDEX event_definitions_route_idx ON event_definitions (shop_id, event) WHERE enabled;

-- +goose Down
DROP TABLE event_definitions;
DROP TABLE integrations;
