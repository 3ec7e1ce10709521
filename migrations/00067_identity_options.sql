-- Identity that reaches the right profile (per integration):
--   phone_fallback: a customer without the common property's value (a
--     phone-only customer when it is email) is sent by phone number
--     instead of being skipped. On by default for Klaviyo, which merges
--     on phone_number; off for CleverTap, where it would create a second
--     profile keyed by the phone.
--   send_phone: the customer's phone rides along on Klaviyo events keyed
--     by another identifier. Off by default: it can overwrite a phone
--     number a shopper consented to SMS with.
-- deliveries.identity_fallback marks the events sent by the fallback, so
-- they are counted apart.

-- +goose Up
ALTER TABLE integrations
    ADD COLUMN phone_fallback boolean NOT NULL DEFAULT false,
    ADD COLUMN send_phone boolean NOT NULL DEFAULT false;
UPDATE integrations SET phone_fallback = true WHERE kind = 'klaviyo';
ALTER TABLE deliveries ADD COLUMN identity_fallback boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN identity_fallback;
ALTER TABLE integrations DROP COLUMN send_phone, DROP COLUMN phone_fallback;
