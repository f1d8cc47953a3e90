-- coupon_db: coupons, the de-duplication log of uses and restores, and the
-- outbox of the async path.
CREATE TABLE coupons (
    coupon_id      bigint PRIMARY KEY,
    user_id        bigint NOT NULL,
    discount_cents bigint NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    status         text NOT NULL DEFAULT 'UNUSED' CHECK (status IN ('UNUSED', 'USED')),
    order_id       bigint,
    used_at        timestamptz,
    CHECK ((status = 'USED') = (order_id IS NOT NULL))
);
CREATE INDEX coupons_by_user ON coupons (user_id);

-- One USE and one RESTORE at most per order. result of a USE: OK,
-- ALREADY_USED, NOT_OWNER, or VOID (a restore came first). result of a
-- RESTORE: OK or NOOP.
CREATE TABLE coupon_log (
    order_id       bigint NOT NULL,
    op             text NOT NULL CHECK (op IN ('USE', 'RESTORE')),
    coupon_id      bigint NOT NULL,
    result         text NOT NULL
                   CHECK (result IN ('OK', 'ALREADY_USED', 'NOT_OWNER', 'VOID', 'NOOP')),
    discount_cents bigint NOT NULL DEFAULT 0,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
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
