-- Opens and clicks of the sink journeys each loyalty event triggers
-- (Klaviyo flows whose trigger is the event's metric), per integration,
-- event and local day of the shop, read back from the sink by the periodic
-- engagement refresh (app/engagement). Klaviyo's reporting endpoints have
-- low limits (metric-aggregates 3/s 60/m), so each day is cached here:
-- today and yesterday are refreshed every few hours while late opens still
-- arrive, and a day becomes final once it was read at least a full day
-- after it ended; a final day is never asked for again.
--
-- engagement_refreshes records, per integration, when the numbers were last
-- read (the Stats page's "last refreshed") and why the last attempt failed.

-- +goose Up
CREATE TABLE engagement_daily (
    shop_id        bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    integration_id bigint NOT NULL,
    event          text NOT NULL,
    day            date NOT NULL,
    opened         bigint NOT NULL DEFAULT 0 CHECK (opened >= 0),
    clicked        bigint NOT NULL DEFAULT 0 CHECK (clicked >= 0),
    final          boolean NOT NULL DEFAULT false,
    refreshed_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, integration_id, event, day),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX engagement_daily_day_idx ON engagement_daily (shop_id, day);

CREATE TABLE engagement_refreshes (
    shop_id        bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    integration_id bigint NOT NULL,
    refreshed_at   timestamptz,
    attempted_at   timestamptz NOT NULL,
    last_error     text NOT NULL DEFAULT '',
    flows          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, integration_id),
    FOREIGN KEY (shop_id, integration_id) REFERENCES integrations (shop_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE engagement_refreshes;
DROP TABLE engagement_daily;
