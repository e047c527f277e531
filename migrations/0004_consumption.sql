-- 0004_consumption: consumer groups, their progress through each topic queue, and the messages
-- they hold (delivered and not yet acknowledged, waiting behind their FIFO message group, or
-- scheduled for later delivery).
--
-- The broker keeps all of it in memory while running and writes every change here (batched,
-- group-committed) before it answers the client, so a restart (also after kill -9) resumes each
-- group exactly where its acknowledgements left it: acknowledged messages are never delivered
-- again, unacknowledged ones are.

CREATE TABLE consumer_groups (
    -- RocketMQ's group name rule: 1 to 255 characters of [%a-zA-Z0-9_-].
    name                   TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
    -- 1: on FIFO topics, one message of a message group at a time, in send order.
    fifo                   INTEGER NOT NULL CHECK (fifo IN (0, 1)),
    -- Deliveries before a message goes to the group's dead-letter queue %DLQ%<name>
    -- (RocketMQ's default: 16 retries, so 17 deliveries).
    max_delivery_attempts  INTEGER NOT NULL CHECK (max_delivery_attempts BETWEEN 1 AND 1000),
    -- The least time between a delivery and the next one of the same message, by attempt:
    -- milliseconds separated by commas; the last one repeats.
    retry_delays_ms        TEXT    NOT NULL,
    created_at_ms          INTEGER NOT NULL
) STRICT;

-- How far a group has looked into a queue: every queue offset below next_offset was delivered,
-- filtered out or is in consumer_pending; none at or above it was seen by the group.
CREATE TABLE consumer_cursors (
    group_name   TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    queue_id     INTEGER NOT NULL CHECK (queue_id >= 0),
    next_offset  INTEGER NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (group_name, topic, queue_id)
) STRICT, WITHOUT ROWID;

-- Messages below a cursor that the group has not finished: a row disappears when the message is
-- acknowledged or dead-lettered.
CREATE TABLE consumer_pending (
    group_name        TEXT    NOT NULL,
    topic             TEXT    NOT NULL,
    queue_id          INTEGER NOT NULL CHECK (queue_id >= 0),
    queue_offset      INTEGER NOT NULL CHECK (queue_offset >= 0),
    -- Deliveries so far; 0 for a message that has not been delivered yet (scheduled or waiting
    -- behind its FIFO message group).
    attempt           INTEGER NOT NULL CHECK (attempt >= 0),
    -- Names the current delivery inside its receipt handle; a new delivery or a changed
    -- invisible duration gets a new one, so older handles stop working.
    delivery_token    INTEGER NOT NULL,
    -- End of the current delivery's invisibility (0 when not delivered).
    invisible_until_ms INTEGER NOT NULL,
    -- Not delivered again before this time (delivery time of a DELAY message, retry backoff).
    deliverable_at_ms INTEGER NOT NULL,
    -- The FIFO message group, or NULL.
    message_group     TEXT,
    -- The client instance the current delivery went to ('' when none).
    client_id         TEXT    NOT NULL DEFAULT '',
    -- 1: the broker keeps renewing the invisibility while that client is alive (push consumers).
    auto_renew        INTEGER NOT NULL DEFAULT 0 CHECK (auto_renew IN (0, 1)),
    PRIMARY KEY (group_name, topic, queue_id, queue_offset)
) STRICT, WITHOUT ROWID;

-- Broker-wide values created once, e.g. the key that signs receipt handles.
CREATE TABLE broker_metadata (
    name   TEXT NOT NULL PRIMARY KEY,
    value  BLOB NOT NULL
) STRICT;
