-- 0010_mqtt_retained: MQTT retained messages (the MQTT access front, `--mqtt-port`). One row per
-- MQTT topic name: the last message published on it with the RETAIN flag, sent to every new
-- subscriber whose filter matches. A retained PUBLISH with an empty payload deletes the row.
-- Kept here rather than in the commit log so a new subscription finds its rows without a scan,
-- and so retention of the log never drops them.
CREATE TABLE mqtt_retained (
    -- The full MQTT topic name (at most 65,535 bytes of UTF-8 on the wire).
    topic          TEXT    NOT NULL PRIMARY KEY CHECK (length(CAST(topic AS BLOB)) BETWEEN 1 AND 65535),
    payload        BLOB    NOT NULL,
    qos            INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    updated_at_ms  INTEGER NOT NULL
) STRICT;
