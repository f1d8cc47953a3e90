-- order_db, async architecture: what each member answered for the order, so
-- the order service can confirm once both succeeded and cancel when one
-- rejected, whichever arrives first. NULL = no answer yet; 'NONE' = the
-- order has no coupon, so there is nothing to wait for.
ALTER TABLE orders ADD COLUMN stock_result text
    CHECK (stock_result IN ('OK', 'REJECTED'));
ALTER TABLE orders ADD COLUMN coupon_result text
    CHECK (coupon_result IN ('OK', 'REJECTED', 'NONE'));
ALTER TABLE orders ADD COLUMN price_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN discount_cents bigint NOT NULL DEFAULT 0;
