-- 0006_group_start: where a consumer group starts reading a topic it subscribes to for the first
-- time (RocketMQ's ConsumeFromWhere).
--
-- 'latest': at the end of every queue at the moment of the first subscription (RocketMQ's
-- CONSUME_FROM_LAST_OFFSET, the default for new groups); 'earliest': at the oldest message kept;
-- 'time:<ms>': at the first message stored at or after that time (milliseconds since the epoch).
-- The start position is written to consumer_cursors when the group first subscribes, so it is
-- fixed once and survives restarts. Groups that existed before this migration started at the
-- oldest message, and keep doing so.
ALTER TABLE consumer_groups ADD COLUMN consume_from TEXT NOT NULL DEFAULT 'earliest'
    CHECK (consume_from IN ('latest', 'earliest') OR consume_from GLOB 'time:[0-9]*');
