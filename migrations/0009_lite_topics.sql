-- 0009_lite_topics: LITE topics (RocketMQ 5.4 lite topics) and the consumer groups' lite
-- subscriptions.
--
-- A lite topic is not a row anywhere: its messages live in the parent topic's queues and carry
-- its name in the record. Only a group's subscriptions are rows, one per (group, parent topic,
-- lite topic), never one per message.
--
-- SQLite cannot change a CHECK constraint in place, so `topics` is rebuilt with the wider one
-- and its rows copied (nothing references `topics`).
CREATE TABLE topics_0009 (
    -- RocketMQ's topic name rule: 1 to 127 characters of [%a-zA-Z0-9_-].
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 127),
    message_type  TEXT    NOT NULL CHECK (message_type IN ('normal', 'fifo', 'delay', 'transaction', 'priority', 'lite')),
    -- Message queues of the topic; queue ids run from 0 to queue_count - 1.
    queue_count   INTEGER NOT NULL CHECK (queue_count BETWEEN 1 AND 256),
    created_at_ms INTEGER NOT NULL
) STRICT;
INSERT INTO topics_0009 (name, message_type, queue_count, created_at_ms)
    SELECT name, message_type, queue_count, created_at_ms FROM topics;
DROP TABLE topics;
ALTER TABLE topics_0009 RENAME TO topics;

CREATE TABLE lite_subscriptions (
    group_name    TEXT    NOT NULL CHECK (length(group_name) BETWEEN 1 AND 255),
    -- The parent topic (type `lite`) the group is bound to.
    topic         TEXT    NOT NULL CHECK (length(topic) BETWEEN 1 AND 127),
    -- 1 to 64 characters of [%a-zA-Z0-9_-] (checked at the wire edge, enforced here too).
    lite_topic    TEXT    NOT NULL CHECK (length(lite_topic) BETWEEN 1 AND 64),
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic, lite_topic)
) STRICT, WITHOUT ROWID;
