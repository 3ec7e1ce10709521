-- Refunds of an amount (no line items, the money in refund transactions and
-- a refund_discrepancy order adjustment) take back points on that amount.
-- The amount is money, tax and shipping included; it counts for the earning
-- base in the proportion of the order's total paid to its earning base,
-- both read from the same order payload (set with base_minor, frozen once
-- the order earned). A refund that arrives before its order keeps its
-- unexplained amount until the order prices it.

-- +goose Up
ALTER TABLE orders
    ADD COLUMN paid_minor      bigint NOT NULL DEFAULT 0,
    ADD COLUMN paid_base_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE order_refunds
    ADD COLUMN unexplained_minor bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE order_refunds DROP COLUMN unexplained_minor;
ALTER TABLE orders DROP COLUMN paid_base_minor, DROP COLUMN paid_minor;
