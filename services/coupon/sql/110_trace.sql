-- The trace of the order a coupon change was made for, and the traceparent
-- each outbox event is published with (message property).
ALTER TABLE coupon_log ADD COLUMN trace_id text;
ALTER TABLE outbox ADD COLUMN traceparent text;
