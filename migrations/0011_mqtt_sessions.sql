-- 0011_mqtt_sessions: MQTT sessions kept across connections (clean session 0, MQTT 3.1.1
-- §3.1.2.4), so they survive a broker restart. The messages that wait for a session are not
-- here: they are in the commit log, and the session's place in them is its consumer group's
-- cursor and pending rows (0004_consumption). This holds what the log cannot: the session itself,
-- its subscriptions, and its QoS 2 packet identifiers in flight (§4.3.3). Written on CONNECT,
-- SUBSCRIBE, UNSUBSCRIBE and the QoS 2 flows, never per QoS 0 or 1 message.
CREATE TABLE mqtt_sessions (
    -- The MQTT client identifier (1 to 65,535 bytes of UTF-8 on the wire; the front allows
    -- only ids whose consumer group name fits in 255 bytes).
    client_id      TEXT    NOT NULL PRIMARY KEY CHECK (length(CAST(client_id AS BLOB)) BETWEEN 1 AND 65535),
    created_at_ms  INTEGER NOT NULL
) STRICT;

-- One row per topic filter of a session, as subscribed (a `$share/<group>/...` filter included).
CREATE TABLE mqtt_session_subscriptions (
    client_id  TEXT    NOT NULL REFERENCES mqtt_sessions (client_id) ON DELETE CASCADE,
    filter     TEXT    NOT NULL CHECK (length(CAST(filter AS BLOB)) BETWEEN 1 AND 65535),
    -- The granted QoS.
    qos        INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    PRIMARY KEY (client_id, filter)
) STRICT, WITHOUT ROWID;

-- QoS 2 packet identifiers in flight. 'in': a PUBLISH from the client was stored and PUBREC
-- sent; a re-sent PUBLISH with this id is not stored again; PUBREL deletes the row. 'out': a
-- delivery to the client of the message at `origin` (group, topic, queue, offset); `released` 0
-- until PUBREC came (a redelivery re-sends the PUBLISH with this id and DUP set), 1 after (only
-- PUBREL is re-sent); PUBCOMP deletes the row.
CREATE TABLE mqtt_session_qos2 (
    client_id  TEXT    NOT NULL REFERENCES mqtt_sessions (client_id) ON DELETE CASCADE,
    direction  TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    packet_id  INTEGER NOT NULL CHECK (packet_id BETWEEN 1 AND 65535),
    origin     TEXT    NOT NULL DEFAULT '',
    released   INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1)),
    PRIMARY KEY (client_id, direction, packet_id)
) STRICT, WITHOUT ROWID;
