-- Nothing is counted as sent that the sink did not confirm. "unconfirmed":
-- the sink took the request but says nothing of this event, so it may or
-- may not be there: a Klaviyo bulk job (202, processed later, never
-- confirmed per event), or a CleverTap answer whose refusals or counts do
-- not match the records sent. Shown apart from sent, with the reason, and
-- retryable by hand.

-- +goose Up
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'late', 'unconfirmed'));

-- +goose Down
UPDATE deliveries SET status = 'sent' WHERE status = 'unconfirmed';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'late'));
