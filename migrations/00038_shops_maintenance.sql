-- When the shop's periodic loyalty work (expiry, reminders, birthdays,
-- nudges, tier review, review requests) last ran to completion. The tick
-- runs every few minutes and on start, and enqueues only shops whose last
-- run is older than the tick, so a process restarting often never starves
-- the work and never repeats it needlessly; the admin home shows it.

-- +goose Up
ALTER TABLE shops ADD COLUMN maintenance_completed_at timestamptz;

-- +goose Down
ALTER TABLE shops DROP COLUMN maintenance_completed_at;
