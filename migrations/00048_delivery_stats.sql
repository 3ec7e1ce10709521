-- The delivery log is kept for the merchant's retention (program setting
-- retention_days, default 90): older deliveries, with their payloads and
-- the sinks' answers, are deleted, and so are the loyalty events they
-- carried. Their counts move here first, per integration, event, status and
-- UTC hour, in the same statement that deletes them, so the statistics of
-- any period read the same before and after (store.ExpireDeliveries).
-- Hours in UTC serve every time zone whose offset is whole hours; a day of
-- a half-hour zone (India) is off by up to 30 minutes at its edges, for
-- data past the retention only.

-- +goose Up
CREATE TABLE delivery_stats_hourly (
    shop_id        bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    integration_id bigint NOT NULL,
    event          text NOT NULL,
    hour           timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('sent', 'failed', 'skipped', 'late', 'unconfirmed')),
    n              bigint NOT NULL CHECK (n > 0),
    PRIMARY KEY (shop_id, integration_id, event, hour, status),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX delivery_stats_hourly_time_idx ON delivery_stats_hourly (shop_id, hour);

-- +goose Down
DROP TABLE delivery_stats_hourly;
