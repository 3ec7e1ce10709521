-- Order edits and exchanges after the earn. An order remembers its lines
-- (lines: line id → quantity "q", earning base of those units "b", units
-- its base accounts for "a", units in the newest payload "p"), when the
-- newest payload with lines was built (lines_seen_at, its updated_at), the
-- payload its accounted units come from (lines_as_of: the earning payload,
-- then newer ones), and the newest edit applied on top (lines_edited_at).
-- A newer payload's lines change the base by their difference (an
-- exchange's new item); orders/edited changes it by its additions and
-- removals, once per edit id, unless a payload already showed it.

-- +goose Up
ALTER TABLE orders
    ADD COLUMN lines           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN lines_seen_at   timestamptz,
    ADD COLUMN lines_as_of     timestamptz,
    ADD COLUMN lines_edited_at timestamptz,
    ADD COLUMN pending_edits   integer NOT NULL DEFAULT 0 CHECK (pending_edits >= 0);

-- One row per orders/edited: the natural key of an edit's points is
-- (shop, edit id). Pending until the order has earned and the edit's lines
-- are priced; then applied (base_minor and points are its change) or
-- absorbed (an order payload already showed it).
CREATE TABLE order_edits (
    id           bigserial PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id     bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    edit_gid     text NOT NULL,
    committed_at timestamptz NOT NULL,
    additions    jsonb NOT NULL DEFAULT '[]',
    removals     jsonb NOT NULL DEFAULT '[]',
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'absorbed')),
    base_minor   bigint NOT NULL DEFAULT 0,
    points       bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    settled_at   timestamptz,
    UNIQUE (shop_id, edit_gid)
);
CREATE INDEX order_edits_pending_idx ON order_edits (order_id, committed_at) WHERE status = 'pending';

-- +goose Down
DROP TABLE order_edits;
ALTER TABLE orders DROP COLUMN pending_edits, DROP COLUMN lines_edited_at, DROP COLUMN lines_as_of,
    DROP COLUMN lines_seen_at, DROP COLUMN lines;
