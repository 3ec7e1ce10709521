-- The delivery log keeps, for an event the sink did not confirm (failed,
-- unconfirmed, being retried), the document that was sent, beside the
-- sink's answer (response_excerpt), so the merchant sees what went out and
-- what a retry sends again. A confirmed send clears it: most rows never
-- carry one, and the retention sweep deletes old rows with it.

-- +goose Up
ALTER TABLE deliveries ADD COLUMN last_payload jsonb;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN last_payload;
