-- stock_db: goods with their stock, the de-duplication log of deducts and
-- restores, and the outbox of the async path.
CREATE TABLE goods (
    goods_id      bigint PRIMARY KEY,
    stock         integer NOT NULL CHECK (stock >= 0),
    initial_stock integer NOT NULL CHECK (initial_stock >= 0),
    price_cents   bigint NOT NULL CHECK (price_cents >= 0)
);

-- One DEDUCT and one RESTORE at most per order. result of a DEDUCT:
-- OK (stock taken), OUT_OF_STOCK, or VOID (a restore came first: the order
-- was compensated before its deduct arrived, so the deduct must never apply).
-- result of a RESTORE: OK (stock given back) or NOOP (nothing was taken).
CREATE TABLE stock_log (
    order_id bigint NOT NULL,
    op       text NOT NULL CHECK (op IN ('DEDUCT', 'RESTORE')),
    goods_id bigint NOT NULL,
    count    integer NOT NULL CHECK (count > 0),
    result   text NOT NULL CHECK (result IN ('OK', 'OUT_OF_STOCK', 'VOID', 'NOOP')),
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (order_id, op)
);

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
