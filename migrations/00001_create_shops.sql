-- Shops are the tenants. Every other tenant table references shops(id) with
-- ON DELETE CASCADE, so shop/redact can delete a shop's data with one DELETE.

-- +goose Up
CREATE TABLE shops (
    id                       bigserial PRIMARY KEY,
    domain                   text NOT NULL UNIQUE CHECK (domain ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    name                     text NOT NULL DEFAULT '',
    email                    text NOT NULL DEFAULT '',
    currency                 text NOT NULL DEFAULT 'USD',
    iana_timezone            text NOT NULL DEFAULT 'UTC',
    state                    text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'uninstalled')),
    scope                    text NOT NULL DEFAULT '',
    -- Access and refresh tokens are sealed with AES-256-GCM (app/vault); the
    -- plaintext never reaches the database or the logs.
    access_token             text NOT NULL DEFAULT '',
    access_token_expires_at  timestamptz,
    refresh_token            text NOT NULL DEFAULT '',
    refresh_token_expires_at timestamptz,
    installed_at             timestamptz NOT NULL DEFAULT now(),
    uninstalled_at           timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE shops;
