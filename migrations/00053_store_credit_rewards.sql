-- Store credit rewards and merchant cancellation (issue "The shopper's door",
-- items 4 and 5). A store credit reward is journaled in coupons like a
-- discount code: the row (pending) is written with the redemption, before
-- Shopify is called; storeCreditAccountCredit has no idempotency key, so
-- shopify_called_at records that a call was (or may have been) sent, and
-- every later attempt first looks for the credit in the customer's store
-- credit account before calling again. For a store credit row:
-- discount_value is the amount in major units of currency, code is an
-- internal reference (SC-XXXX-XXXX) no order can use, shopify_discount_id
-- is the StoreCreditAccountCreditTransaction gid.
-- A merchant may cancel an unused coupon: status cancelled, the code
-- deleted in Shopify, the points back.

-- +goose Up
ALTER TABLE coupons DROP CONSTRAINT coupons_discount_type_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_discount_type_check
    CHECK (discount_type IN ('percentage', 'fixed_amount', 'store_credit'));
ALTER TABLE coupons DROP CONSTRAINT coupons_status_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_status_check
    CHECK (status IN ('pending', 'active', 'failed', 'expired', 'cancelled'));
ALTER TABLE coupons ADD COLUMN currency text NOT NULL DEFAULT '';
ALTER TABLE coupons ADD COLUMN shopify_called_at timestamptz;
ALTER TABLE coupons ADD COLUMN cancelled_at timestamptz;
-- A store credit is matched in Shopify by its exact expiresAt (with amount
-- and currency); a redemption picks an expiry no other store credit of the
-- customer has (not a unique index: a customer merge may bring two
-- together, and must not fail for it).
CREATE INDEX coupons_store_credit_expiry_idx ON coupons (customer_id, expires_at)
    WHERE discount_type = 'store_credit';

-- +goose Down
DROP INDEX coupons_store_credit_expiry_idx;
DELETE FROM coupons WHERE discount_type = 'store_credit';
UPDATE coupons SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE coupons DROP COLUMN cancelled_at;
ALTER TABLE coupons DROP COLUMN shopify_called_at;
ALTER TABLE coupons DROP COLUMN currency;
ALTER TABLE coupons DROP CONSTRAINT coupons_status_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_status_check CHECK (status IN ('pending', 'active', 'failed', 'expired'));
ALTER TABLE coupons DROP CONSTRAINT coupons_discount_type_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_discount_type_check CHECK (discount_type IN ('percentage', 'fixed_amount'));
