-- Customers as Shopify knows them, keyed by the numeric id taken from the
-- GraphQL id (the webhook sample payloads carry JavaScript-rounded numeric
-- ids; the gid is exact). Identity fields feed the common property.

-- +goose Up
CREATE TABLE customers (
    id                 bigserial PRIMARY KEY,
    shop_id            bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_id         bigint NOT NULL,
    gid                text NOT NULL,
    email              text NOT NULL DEFAULT '',
    phone              text NOT NULL DEFAULT '',
    first_name         text NOT NULL DEFAULT '',
    last_name          text NOT NULL DEFAULT '',
    state              text NOT NULL DEFAULT '',
    -- Metafields used as a common property, cached from the GraphQL API.
    metafields         jsonb NOT NULL DEFAULT '{}',
    -- The customer's updated_at in Shopify: an older customers/update that
    -- arrives late never overwrites newer data.
    shopify_updated_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, shopify_id)
);
CREATE INDEX customers_email_idx ON customers (shop_id, lower(email)) WHERE email <> '';
CREATE INDEX customers_phone_idx ON customers (shop_id, phone) WHERE phone <> '';

-- Exports produced for customers/data_request, kept for the merchant to
-- download and send to the customer.
CREATE TABLE data_requests (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_request_id  bigint NOT NULL,
    shopify_customer_id bigint NOT NULL,
    export              jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, shopify_request_id)
);

-- +goose Down
DROP TABLE data_requests;
DROP TABLE customers;
