-- 0001_transactions: the transaction (half message) table, its check history and the audit log.
--
-- Conventions: every *_ms column is milliseconds since the Unix epoch (UTC) unless its name says
-- it is a duration. Message bodies live in the commit log; a row stores only where the half
-- message is (commit_log_offset, commit_log_size). Tables are STRICT (SQLite 3.37+) so a wrong
-- type is an error rather than a silent conversion. The connection runs in WAL mode.

CREATE TABLE transactions (
    -- Broker-assigned id, returned to the producer and named again by EndTransaction.
    transaction_id       TEXT    NOT NULL PRIMARY KEY,
    -- Client-assigned message id (SystemProperties.message_id of the half message).
    message_id           TEXT    NOT NULL,
    topic                TEXT    NOT NULL,
    -- Producer group from the client's settings; '' when the client sent none.
    producer_group       TEXT    NOT NULL DEFAULT '',
    -- The client instance (Settings client_id) that sent the half message; checks are routed to it.
    client_id            TEXT    NOT NULL,
    -- Message keys as sent, joined with a single space; NULL when none.
    keys                 TEXT,
    -- The message tag; NULL when none.
    tags                 TEXT,
    -- Where the half message body is in the commit log.
    commit_log_offset    INTEGER NOT NULL CHECK (commit_log_offset >= 0),
    commit_log_size      INTEGER NOT NULL CHECK (commit_log_size > 0),
    -- When the broker accepted the half message.
    created_at_ms        INTEGER NOT NULL,
    -- prepared: waiting for the producer's decision, checked when overdue.
    -- committed / rolled_back: final.
    -- parked: the check budget is spent; no more checks, a producer or operator may still resolve it.
    state                TEXT    NOT NULL DEFAULT 'prepared'
                                 CHECK (state IN ('prepared', 'committed', 'rolled_back', 'parked')),
    -- Checks sent so far (the check budget counts these).
    check_count          INTEGER NOT NULL DEFAULT 0 CHECK (check_count >= 0),
    -- When the latest check was sent; NULL before the first.
    last_check_at_ms     INTEGER,
    -- When the checker next looks at this row; NULL unless state = 'prepared'.
    next_check_at_ms     INTEGER,
    -- 1 while a check is in flight (sent, no answer recorded yet).
    check_outstanding    INTEGER NOT NULL DEFAULT 0 CHECK (check_outstanding IN (0, 1)),
    -- When the row reached committed or rolled_back.
    resolved_at_ms       INTEGER,
    -- Who decided: the producer (EndTransaction), a check answer, an operator, or the
    -- exhausted-budget policy. Also set for parked rows (policy).
    resolution_source    TEXT    CHECK (resolution_source IS NULL
                                        OR resolution_source IN ('producer', 'check', 'operator', 'policy')),
    -- The client id or operator name behind the resolution.
    resolved_by          TEXT,
    -- Free text from the operator or the policy.
    resolution_reason    TEXT,
    -- Per-message override of the delay before the first check (a duration); NULL = broker default.
    first_check_delay_ms INTEGER CHECK (first_check_delay_ms IS NULL OR first_check_delay_ms >= 0),

    -- Only prepared rows are scheduled for checks.
    CHECK (state = 'prepared' OR next_check_at_ms IS NULL),
    -- A final row records when it was resolved.
    CHECK (state NOT IN ('committed', 'rolled_back') OR resolved_at_ms IS NOT NULL)
) STRICT;

-- A retried half-send (same client, topic and message id) finds the existing row instead of
-- creating a second transaction.
CREATE UNIQUE INDEX transactions_client_message ON transactions (client_id, topic, message_id);

-- The checker's query. Partial: only prepared rows are indexed, so its cost grows with what is
-- pending, not with the history of resolved rows.
CREATE INDEX transactions_due ON transactions (next_check_at_ms) WHERE state = 'prepared';

-- Operator listings and counts, ordered by age; transaction_id breaks ties for keyset pagination.
CREATE INDEX transactions_state_created ON transactions (state, created_at_ms, transaction_id);
-- Unfiltered and older-than listings; created_at_ms never changes, so this costs only at insert.
CREATE INDEX transactions_created ON transactions (created_at_ms, transaction_id);
CREATE INDEX transactions_producer_group ON transactions (producer_group, created_at_ms, transaction_id);
CREATE INDEX transactions_topic ON transactions (topic, created_at_ms, transaction_id);

-- One row per check sent to a producer (attempt 1, 2, …).
CREATE TABLE transaction_checks (
    transaction_id TEXT    NOT NULL REFERENCES transactions (transaction_id) ON DELETE CASCADE,
    -- 1 for the first check; equals transactions.check_count for the latest.
    attempt        INTEGER NOT NULL CHECK (attempt > 0),
    sent_at_ms     INTEGER NOT NULL,
    -- The client the check went to; NULL when no client of the group was connected.
    client_id      TEXT,
    -- commit / rollback: the producer decided; unknown: it answered UNKNOWN; no_answer: the
    -- answer deadline passed; no_client: nobody could be asked. NULL while in flight.
    outcome        TEXT    CHECK (outcome IS NULL
                                  OR outcome IN ('commit', 'rollback', 'unknown', 'no_answer', 'no_client')),
    answered_at_ms INTEGER,
    PRIMARY KEY (transaction_id, attempt)
) STRICT, WITHOUT ROWID;

-- Operator and policy actions. No foreign key: the trail outlives deleted transactions, and an
-- attempt on an unknown id is recorded too.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at_ms          INTEGER NOT NULL,
    -- The operator's name, or 'policy' for the broker's own decisions.
    actor          TEXT    NOT NULL,
    -- What was attempted, e.g. 'resolve.commit', 'resolve.rollback', 'park'.
    action         TEXT    NOT NULL,
    transaction_id TEXT,
    -- What happened, e.g. 'prepared -> committed', 'refused: commit after rollback'.
    detail         TEXT,
    -- Why, as given by the operator.
    reason         TEXT
) STRICT;

CREATE INDEX audit_log_transaction ON audit_log (transaction_id, id);
