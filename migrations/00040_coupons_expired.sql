-- A reward coupon that reached its end unused is marked expired by the
-- periodic work; the program may give its points back
-- (return_expired_reward_points).

-- +goose Up
ALTER TABLE coupons DROP CONSTRAINT coupons_status_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_status_check CHECK (status IN ('pending', 'active', 'failed', 'expired'));
CREATE INDEX coupons_unused_expiry_idx ON coupons (shop_id, expires_at)
    WHERE status = 'active' AND redeemed_at IS NULL AND expires_at IS NOT NULL;

-- +goose Down
DROP INDEX coupons_unused_expiry_idx;
UPDATE coupons SET status = 'active' WHERE status = 'expired';
ALTER TABLE coupons DROP CONSTRAINT coupons_status_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_status_check CHECK (status IN ('pending', 'active', 'failed'));
