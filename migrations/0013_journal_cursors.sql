-- 0013_journal_cursors: how far each change journal of a replicated broker group (topics,
-- users, lite subscriptions, MQTT retained messages, MQTT sessions) is applied to these tables:
-- every record of the queue below `next_offset` is applied. A restart replays from there, not
-- from the queue's start. Moved forward after the rows it covers commit (the WAL keeps commit
-- order, so a cursor that survives a crash never passes a change that did not); moved back at a
-- log cut with a synced commit. The consumer queue keeps its own (consumer_cursors, 0004).
CREATE TABLE journal_cursors (
    queue TEXT PRIMARY KEY,
    next_offset INTEGER NOT NULL CHECK (next_offset >= 0)
);
