-- Test events: the merchant sends a sample of an event definition to its
-- integration, for a chosen customer, through the real delivery path, and
-- sees what was sent and the sink's answer before launch. A test event
-- goes to that one integration only (routing, and its backstop, skip it),
-- keeps its payload whatever the outcome, and counts in no statistics.

-- +goose Up
ALTER TABLE loyalty_events ADD COLUMN test boolean NOT NULL DEFAULT false;
ALTER TABLE deliveries ADD COLUMN test boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN test;
ALTER TABLE loyalty_events DROP COLUMN test;
