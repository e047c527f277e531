-- 0008_priority_topics: topics may carry PRIORITY messages (message type `priority`).
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with the wider one
-- and its rows copied (nothing references `topics`).
CREATE TABLE topics_0008 (
    -- RocketMQ's topic name rule: 1 to 127 characters of [%a-zA-Z0-9_-].
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 127),
    message_type  TEXT    NOT NULL CHECK (message_type IN ('normal', 'fifo', 'delay', 'transaction', 'priority')),
    -- Message queues of the topic; queue ids run from 0 to queue_count - 1.
    queue_count   INTEGER NOT NULL CHECK (queue_count BETWEEN 1 AND 256),
    created_at_ms INTEGER NOT NULL
) STRICT;
INSERT INTO topics_0008 (name, message_type, queue_count, created_at_ms)
    SELECT name, message_type, queue_count, created_at_ms FROM topics;
DROP TABLE topics;
ALTER TABLE topics_0008 RENAME TO topics;
