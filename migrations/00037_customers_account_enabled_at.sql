-- When the customer's record became an account (state "enabled"), as far
-- as the app saw: the record's creation time when it arrived enabled, or
-- the updated_at of the customers/update that moved it to enabled. A
-- record Shopify created before the install (a checkout or POS record)
-- that becomes an account after it is a new signup; an account that
-- already existed at install is not (unless the program welcomes existing
-- account holders).

-- +goose Up
ALTER TABLE customers ADD COLUMN account_enabled_at timestamptz;
UPDATE customers SET account_enabled_at = shopify_created_at WHERE state = 'enabled';

-- +goose Down
ALTER TABLE customers DROP COLUMN account_enabled_at;
