-- 0012_mqtt5_sessions: what MQTT 5 adds to a kept session (0011_mqtt_sessions). A session's
-- expiry interval (§3.1.2.11.2): NULL never expires (MQTT 3.1.1 clean session 0, or MQTT 5
-- 0xFFFFFFFF); otherwise the session and its consumer group are discarded that many seconds
-- after its connection ended, `disconnected_at_ms` (NULL while connected). A subscription's
-- MQTT 5 options byte (§3.8.3.1: QoS, No Local, Retain As Published, Retain Handling); for an
-- MQTT 3.1.1 subscription it equals `qos`. A subscription's MQTT 5 subscription identifier
-- (§3.8.2.1.2), NULL for none.
ALTER TABLE mqtt_sessions ADD COLUMN expiry_seconds INTEGER CHECK (expiry_seconds BETWEEN 1 AND 4294967294);
ALTER TABLE mqtt_sessions ADD COLUMN disconnected_at_ms INTEGER;
ALTER TABLE mqtt_session_subscriptions ADD COLUMN options INTEGER NOT NULL DEFAULT 0 CHECK (options BETWEEN 0 AND 63);
ALTER TABLE mqtt_session_subscriptions ADD COLUMN identifier INTEGER CHECK (identifier BETWEEN 1 AND 268435455);
-- Rows from before this migration: their options byte is their QoS.
UPDATE mqtt_session_subscriptions SET options = qos;
