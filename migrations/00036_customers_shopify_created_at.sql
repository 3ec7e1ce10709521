-- When Shopify created the customer record (the payload's created_at).
-- Signup points go only to accounts created after the app's install: a
-- customer record older than shops.installed_at is an existing customer,
-- not a signup (unless the program welcomes existing account holders).
-- NULL for rows an order created before any customers/* webhook.

-- +goose Up
ALTER TABLE customers ADD COLUMN shopify_created_at timestamptz;

-- +goose Down
ALTER TABLE customers DROP COLUMN shopify_created_at;
