-- Outbox rows the relay parked because their destination refused them for
-- good (an invalid topic or body): kept with the error for an operator and
-- skipped, so that the rows after them still flow. Published rows are
-- deleted after the retention period (the relay's trim).
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
ALTER TABLE outbox ADD COLUMN last_error text;
