-- Reviews (DESIGN.md §3 review_requested, review_submitted).
--
-- orders.fulfilled_at is when the order was fulfilled (set once, by the
-- first orders/fulfilled or order webhook saying fulfilled), and
-- review_requested_at when review_requested was written for it: the
-- periodic job claims an order by setting it while still null, under the
-- order's row lock, so the request is written once however often or
-- concurrently the job runs.
--
-- order_products keeps the products of a fulfilled order (id and title):
-- what review_requested lists and what a customer may review.
--
-- reviews holds one review per customer and product. Customer-scoped rows
-- cascade from customers (customers/redact, customers/delete) and every
-- row from shops (shop/redact).

-- +goose Up
ALTER TABLE orders ADD COLUMN fulfilled_at timestamptz, ADD COLUMN review_requested_at timestamptz;
CREATE INDEX orders_review_due_idx ON orders (shop_id, fulfilled_at)
    WHERE fulfilled_at IS NOT NULL AND review_requested_at IS NULL AND customer_id IS NOT NULL;

CREATE TABLE order_products (
    order_id   bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    product_id bigint NOT NULL CHECK (product_id > 0),
    title      text NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE reviews (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    shopify_customer_id bigint NOT NULL,
    product_id          bigint NOT NULL CHECK (product_id > 0),
    product_title       text NOT NULL DEFAULT '',
    -- The fulfilled order that made the product reviewable.
    order_id            bigint REFERENCES orders (id) ON DELETE SET NULL,
    rating              smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body                text NOT NULL DEFAULT '',
    -- Points credited for it (0 when reviews earned none).
    points              bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    created_at          timestamptz NOT NULL,
    UNIQUE (shop_id, customer_id, product_id)
);
CREATE INDEX reviews_customer_idx ON reviews (customer_id);

-- +goose Down
DROP TABLE reviews;
DROP TABLE order_products;
ALTER TABLE orders DROP COLUMN review_requested_at, DROP COLUMN fulfilled_at;
