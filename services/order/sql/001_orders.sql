-- order_db: orders with their timeline, the outbox of the async path, the
-- de-duplication table of the order service's own consumers, and the
-- persisted compensations of the sync path (retried until delivered).
CREATE TABLE orders (
    order_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   text UNIQUE,
    user_id      bigint NOT NULL,
    goods_id     bigint NOT NULL,
    count        integer NOT NULL CHECK (count > 0),
    coupon_id    bigint,
    amount_cents bigint CHECK (amount_cents >= 0),
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'CONFIRMED', 'PAID', 'CANCELLED', 'CLOSED')),
    reason       text,
    fail_code    integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    pay_by       timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the timeline: when each step happened (NULL = not yet)
    stock_at     timestamptz,
    coupon_at    timestamptz,
    confirmed_at timestamptz,
    cancelled_at timestamptz,
    closed_at    timestamptz,
    paid_at      timestamptz
);

-- The close scan reads unpaid orders by deadline.
CREATE INDEX orders_unpaid_by_pay_by ON orders (pay_by)
    WHERE status IN ('PENDING', 'CONFIRMED');

-- Events to publish (async path), written in the business transaction and
-- published by the relay in id order.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic        text NOT NULL,
    msg_key      text,
    body         bytea NOT NULL,
    delay_ms     bigint NOT NULL DEFAULT 0 CHECK (delay_ms >= 0),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- De-duplication for the order service's consumers: one row per order and
-- event topic, inserted in the same transaction as the state change.
CREATE TABLE inbox (
    order_id bigint NOT NULL,
    topic    text NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (order_id, topic)
);

-- Compensations (Restore calls) the sync path owes a member service. Written
-- in the same transaction that cancels or closes the order, delivered by a
-- background worker with backoff until the member acknowledges.
CREATE TABLE compensations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES orders (order_id),
    target     text NOT NULL CHECK (target IN ('stock', 'coupon')),
    goods_id   bigint,
    count      integer,
    coupon_id  bigint,
    attempts   integer NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at    timestamptz,
    UNIQUE (order_id, target)
);
CREATE INDEX compensations_due ON compensations (next_at) WHERE done_at IS NULL;
