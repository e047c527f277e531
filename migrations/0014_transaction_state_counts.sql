-- 0014_transaction_state_counts: how many rows of `transactions` are in each state, kept by
-- triggers in the same SQLite transaction as every insert, state change and delete. The
-- half-message gauges read these few rows every 15 s instead of counting the table, which keeps
-- one final row per transaction and so grows with the broker's age (a scan cost ~70 ms per
-- million rows). Every path that changes the table (EndTransaction, the checker, operators,
-- replication, a cut log tail) keeps the counts right without knowing about them.
CREATE TABLE transaction_state_counts (
    state TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO transaction_state_counts (state, count)
    SELECT state, count(*) FROM transactions GROUP BY state;

CREATE TRIGGER transaction_state_counts_insert AFTER INSERT ON transactions
BEGIN
    INSERT INTO transaction_state_counts (state, count) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER transaction_state_counts_delete AFTER DELETE ON transactions
BEGIN
    UPDATE transaction_state_counts SET count = count - 1 WHERE state = OLD.state;
END;

CREATE TRIGGER transaction_state_counts_update AFTER UPDATE OF state ON transactions
    WHEN OLD.state <> NEW.state
BEGIN
    UPDATE transaction_state_counts SET count = count - 1 WHERE state = OLD.state;
    INSERT INTO transaction_state_counts (state, count) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET count = count + 1;
END;
