-- 0003_topics: the topics the broker serves, each with its message type and number of queues.
--
-- A message sent to a topic must have the topic's type (normal, fifo, delay or transaction);
-- RocketMQ 5 refuses the others. The broker keeps the whole table in memory (it is read on every
-- send) and writes here only when an operator creates or deletes a topic.

CREATE TABLE topics (
    -- RocketMQ's topic name rule: 1 to 127 characters of [%a-zA-Z0-9_-].
    name          TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 127),
    message_type  TEXT    NOT NULL CHECK (message_type IN ('normal', 'fifo', 'delay', 'transaction')),
    -- Message queues of the topic; queue ids run from 0 to queue_count - 1.
    queue_count   INTEGER NOT NULL CHECK (queue_count BETWEEN 1 AND 256),
    created_at_ms INTEGER NOT NULL
) STRICT;
