-- The routing backstop (forward.Runner.Sweep) routes loyalty events that
-- their own transaction failed to route. It used to look at the last 15
-- minutes only, so events written while no sweeper ran (every process
-- down longer than that) were never repaired. Each shop now records how
-- far the sweep got; the next sweep starts there, less the window (which
-- still covers transactions that commit late).

-- +goose Up
ALTER TABLE shops ADD COLUMN routing_swept_until timestamptz;

-- +goose Down
ALTER TABLE shops DROP COLUMN routing_swept_until;
