-- The trace an order belongs to (W3C trace id, 32 hex digits), and the
-- traceparent each outbox event is published with (message property), and
-- the trace of each event the order's consumers applied.
ALTER TABLE orders ADD COLUMN trace_id text;
ALTER TABLE outbox ADD COLUMN traceparent text;
ALTER TABLE inbox ADD COLUMN trace_id text;
