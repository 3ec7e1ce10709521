-- The inbox is claimed directly, like deliveries (app/worker/claimer.go):
-- claimers lease batches of due pending rows with FOR UPDATE SKIP LOCKED,
-- so a dead process's rows come back when their lease ends, and are woken
-- by NOTIFY perkbridge_webhooks from the intake commit. The per-webhook
-- River job, its post-commit kick and the sweep of lost kicks are gone.
--
-- next_attempt_at: when a pending row is due (retries wait their backoff).
-- lease_holder, lease_until: who holds the row, until when.
-- order_key: the Shopify order the delivery is about ('' for none), set at
-- intake, so webhooks of one order are never applied concurrently.

-- +goose Up
ALTER TABLE webhooks
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_holder    text,
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN order_key       text NOT NULL DEFAULT '';
DROP INDEX IF EXISTS webhooks_pending_idx;
-- Claims scan pending rows in arrival order.
CREATE INDEX webhooks_pending_idx ON webhooks (id) WHERE status = 'pending';
-- Jobs of the old mechanism that have not run yet: their rows are pending
-- and the claimers take them.
DELETE FROM river_job WHERE kind IN ('process_webhook', 'sweep_webhooks')
    AND state IN ('available', 'pending', 'retryable', 'scheduled');

-- +goose Down
DROP INDEX IF EXISTS webhooks_pending_idx;
CREATE INDEX webhooks_pending_idx ON webhooks (received_at) WHERE status = 'pending';
ALTER TABLE webhooks
    DROP COLUMN next_attempt_at,
    DROP COLUMN lease_holder,
    DROP COLUMN lease_until,
    DROP COLUMN order_key;
