-- The webhook inbox. A row is committed before Shopify gets its 200, and it
-- is the truth: the River job that processes it is kicked right after the
-- commit, and a periodic sweep re-kicks any pending row whose kick was lost
-- (see app/inbox). Rows are unique on (shop_domain, webhook_id) because
-- X-Shopify-Webhook-Id is the same on every retry of one delivery; the
-- domain stands in for shop_id so that deliveries for unknown shops (which
-- have no shop row) are recorded and deduplicated too.

-- +goose Up
CREATE TABLE webhooks (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint REFERENCES shops (id) ON DELETE CASCADE,
    shop_domain         text NOT NULL,
    webhook_id          text NOT NULL,
    event_id            text NOT NULL DEFAULT '',
    topic               text NOT NULL,
    api_version         text NOT NULL DEFAULT '',
    triggered_at        timestamptz,
    received_at         timestamptz NOT NULL DEFAULT now(),
    headers             jsonb NOT NULL DEFAULT '{}',
    body                bytea NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'processed', 'failed', 'ignored')),
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text NOT NULL DEFAULT '',
    processed_at        timestamptz,
    -- Set when the worker parses the body, so customers/redact can find and
    -- blank every stored payload about that customer.
    subject_customer_id bigint,
    redacted_at         timestamptz,
    UNIQUE (shop_domain, webhook_id)
);
CREATE INDEX webhooks_pending_idx ON webhooks (received_at) WHERE status = 'pending';
CREATE INDEX webhooks_shop_received_idx ON webhooks (shop_id, received_at DESC);
CREATE INDEX webhooks_subject_idx ON webhooks (shop_id, subject_customer_id) WHERE subject_customer_id IS NOT NULL;

-- +goose Down
DROP TABLE webhooks;
