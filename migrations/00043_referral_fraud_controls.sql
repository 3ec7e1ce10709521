-- Referrals that cannot be farmed (issue 10 item 6).
--
-- status: a friend's paid first order no longer completes the referral in
-- the order's transaction. It moves it to 'verifying' with the order and
-- its email (canonical, compared, never shown), and a job asks Shopify for
-- the friend's order count and both customers' email, phone and default
-- (shipping) address. The referral then
-- completes, or is 'blocked' with the reason for the merchant, who may
-- approve it (approved_at, approved_by), which completes it once. A
-- referral of someone already a customer is stored 'blocked' when it is
-- made, so the storefront answers it like any other.
--
-- One referral per friend email per referrer (was: per shop): a second
-- member referring the same email gets a row too, blocked, so that the
-- storefront answer does not tell that the email was referred before.
--
-- referral_segments: the shop's Shopify customer segment of customers
-- without orders, which limits every friend discount (created once).
--
-- referral_attempts: attempts at the storefront referral form per shop and
-- client address per hour. client_key is a hash of the address, never the
-- address; rows older than a day are deleted as new ones come.

-- +goose Up
ALTER TABLE referrals DROP CONSTRAINT referrals_status_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_status_check CHECK (status IN ('open', 'verifying', 'completed', 'blocked'));
ALTER TABLE referrals
    ADD COLUMN block_reason         text NOT NULL DEFAULT '',
    ADD COLUMN blocked_at           timestamptz,
    ADD COLUMN approved_at          timestamptz,
    ADD COLUMN approved_by          text NOT NULL DEFAULT '',
    ADD COLUMN friend_order_email   text NOT NULL DEFAULT '',
    ADD COLUMN verify_attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN verify_error         text NOT NULL DEFAULT '';
ALTER TABLE referrals DROP CONSTRAINT referrals_shop_id_friend_email_key;
ALTER TABLE referrals ADD CONSTRAINT referrals_referrer_friend_email_key UNIQUE (shop_id, referrer_customer_id, friend_email);
CREATE INDEX referrals_friend_email_idx ON referrals (shop_id, friend_email);
CREATE INDEX referrals_verifying_idx ON referrals (updated_at) WHERE status = 'verifying';
CREATE INDEX referrals_blocked_idx ON referrals (shop_id, blocked_at DESC) WHERE status = 'blocked';

CREATE TABLE referral_segments (
    shop_id     bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    segment_gid text NOT NULL CHECK (segment_gid <> ''),
    created_at  timestamptz NOT NULL
);

CREATE TABLE referral_attempts (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    client_key   text NOT NULL,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL,
    PRIMARY KEY (shop_id, client_key, window_start)
);
CREATE INDEX referral_attempts_window_idx ON referral_attempts (window_start);

-- +goose Down
DROP TABLE referral_attempts;
DROP TABLE referral_segments;
DROP INDEX referrals_blocked_idx;
DROP INDEX referrals_verifying_idx;
DROP INDEX referrals_friend_email_idx;
DELETE FROM referrals r WHERE EXISTS (
    SELECT 1 FROM referrals o WHERE o.shop_id = r.shop_id AND o.friend_email = r.friend_email AND o.id < r.id);
ALTER TABLE referrals DROP CONSTRAINT referrals_referrer_friend_email_key;
ALTER TABLE referrals ADD CONSTRAINT referrals_shop_id_friend_email_key UNIQUE (shop_id, friend_email);
UPDATE referrals SET status = 'open' WHERE status IN ('verifying', 'blocked');
ALTER TABLE referrals
    DROP COLUMN block_reason, DROP COLUMN blocked_at, DROP COLUMN approved_at, DROP COLUMN approved_by,
    DROP COLUMN friend_order_email,
    DROP COLUMN verify_attempts, DROP COLUMN verify_error;
ALTER TABLE referrals DROP CONSTRAINT referrals_status_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_status_check CHECK (status IN ('open', 'completed'));
