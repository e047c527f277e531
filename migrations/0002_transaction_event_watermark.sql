-- 0002_transaction_event_watermark: what the commit log's transaction event queue has been applied
-- up to, and an index for the retention pin.
--
-- The commit log is the durable truth: every half message, commit and rollback is a record in the
-- event queue (RMQ_SYS_TRANS_HALF_TOPIC#0). This table is a view of it. After a crash the broker
-- re-applies the events from `applied_event_offset` onward; applying an event twice is harmless.

CREATE TABLE broker_state (
    -- A setting name, e.g. 'applied_event_offset'.
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The oldest commit-log offset that pending (prepared or parked) transactions still need:
-- retention must keep every segment from there on.
CREATE INDEX transactions_pending_offset ON transactions (commit_log_offset) WHERE state IN ('prepared', 'parked');
