-- 0007_recalled_messages: DELAY messages recalled before their delivery time (RocketMQ 5.3's
-- RecallMessage). A recalled message stays in the commit log but is never delivered to any
-- group: every group's scan and delivery timer skip it. One row per recalled record, named by its
-- position in the commit log; rows whose record retention removed are deleted at start.
CREATE TABLE recalled_messages (
    physical_offset  INTEGER NOT NULL PRIMARY KEY CHECK (physical_offset >= 0),
    topic            TEXT    NOT NULL,
    message_id       TEXT    NOT NULL,
    -- The delivery time it had, and when it was recalled (milliseconds since the epoch).
    delivery_at_ms   INTEGER NOT NULL,
    recalled_at_ms   INTEGER NOT NULL
) STRICT;
