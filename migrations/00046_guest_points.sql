-- Points for guests (issue 10 item 5): a paid order without a customer
-- account keeps its points waiting under the order's email or phone until
-- an account with that email or phone appears, before waiting_until.

-- +goose Up
CREATE TABLE guest_points (
    id                     bigserial PRIMARY KEY,
    shop_id                bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id               bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    order_gid              text NOT NULL,
    -- The customer record the order carried (checkout creates one that is
    -- not an account); null for an order without a customer.
    customer_id            bigint REFERENCES customers (id) ON DELETE CASCADE,
    -- Lower-case; '' when unknown.
    email                  text NOT NULL DEFAULT '',
    -- E.164; '' when unknown or not parseable.
    phone                  text NOT NULL DEFAULT '',
    -- Points waiting now: the order's earned points less what refunds and a
    -- cancellation took back before the claim.
    points                 bigint NOT NULL CHECK (points >= 0),
    -- The order's earning base, minor units of currency.
    base_minor             bigint NOT NULL DEFAULT 0,
    currency               text NOT NULL DEFAULT '',
    waiting_until          timestamptz NOT NULL,
    claimed_by_customer_id bigint REFERENCES customers (id) ON DELETE CASCADE,
    claimed_at             timestamptz,
    expired                boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    UNIQUE (shop_id, order_gid),
    CHECK ((claimed_at IS NULL) = (claimed_by_customer_id IS NULL))
);
CREATE INDEX guest_points_email_idx ON guest_points (shop_id, email)
    WHERE claimed_at IS NULL AND NOT expired AND email <> '';
CREATE INDEX guest_points_phone_idx ON guest_points (shop_id, phone)
    WHERE claimed_at IS NULL AND NOT expired AND phone <> '';
CREATE INDEX guest_points_customer_idx ON guest_points (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX guest_points_claimed_by_idx ON guest_points (claimed_by_customer_id) WHERE claimed_by_customer_id IS NOT NULL;
CREATE INDEX guest_points_order_idx ON guest_points (order_id);
CREATE INDEX guest_points_waiting_idx ON guest_points (shop_id, waiting_until)
    WHERE claimed_at IS NULL AND NOT expired;

-- +goose Down
DROP TABLE guest_points;
