-- The refer-a-friend program.
--
-- referral_codes: each member's referral code, created on first need
-- (admin view, API, profile sync), random and unique per shop. The code
-- names the member in the storefront URL /apps/loyalty/r/{code}.
--
-- referrals: one per friend email per shop. The friend's discount code is
-- written pending with the row, in the same transaction, and created in
-- Shopify afterwards by a job (kicked after commit, re-kicked by the coupon
-- sweep), like reward coupons. The referral completes once, on the friend's
-- first qualifying order, in that order's transaction; the referrer's
-- points are a ledger entry keyed by the friend (ledger.KeyReferral).

-- +goose Up
CREATE TABLE referral_codes (
    customer_id bigint PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code = upper(code) AND code <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, code)
);

CREATE TABLE referrals (
    id                   bigserial PRIMARY KEY,
    shop_id              bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    referrer_customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    referral_code        text NOT NULL,
    -- Lower case; the friend is known by email until they order. Deleting
    -- or redacting the friend's customer row removes the referral too.
    friend_email         text NOT NULL CHECK (friend_email = lower(friend_email) AND friend_email <> ''),
    friend_customer_id   bigint REFERENCES customers (id) ON DELETE CASCADE,
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    -- The friend's discount code and its creation in Shopify.
    coupon_code          text NOT NULL,
    discount_type        text NOT NULL CHECK (discount_type IN ('percentage', 'fixed_amount')),
    discount_value       text NOT NULL,
    coupon_status        text NOT NULL DEFAULT 'pending' CHECK (coupon_status IN ('pending', 'active', 'failed')),
    shopify_discount_id  text NOT NULL DEFAULT '',
    attempts             integer NOT NULL DEFAULT 0,
    last_error           text NOT NULL DEFAULT '',
    -- Completion: the friend's order and what the referrer received.
    completed_order_gid  text NOT NULL DEFAULT '',
    referrer_points      bigint NOT NULL DEFAULT 0,
    completed_at         timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    UNIQUE (shop_id, friend_email)
);
-- Shopify discount codes are unique per shop case-insensitively.
CREATE UNIQUE INDEX referrals_coupon_code_idx ON referrals (shop_id, lower(coupon_code));
CREATE INDEX referrals_referrer_idx ON referrals (referrer_customer_id);
CREATE INDEX referrals_friend_idx ON referrals (friend_customer_id) WHERE friend_customer_id IS NOT NULL;
CREATE INDEX referrals_coupon_pending_idx ON referrals (created_at) WHERE coupon_status = 'pending';

-- +goose Down
DROP TABLE referrals;
DROP TABLE referral_codes;
