-- 0005_security: users (access key and secret key, as RocketMQ 5's ACL 2.0 clients sign with) and
-- their access rules on topics and consumer groups.
--
-- The secret must be kept in clear: the client signs each request with HMAC-SHA1(secret, date),
-- so the broker needs the secret itself to check it (RocketMQ stores it the same way). The
-- broker therefore keeps this database readable by its own user only (mode 0600, set at every
-- start) and never logs or returns a secret.

CREATE TABLE security_users (
    -- RocketMQ's credential: 1 to 128 characters of [A-Za-z0-9_.@-]; checked by the broker.
    access_key     TEXT    NOT NULL PRIMARY KEY CHECK (length(access_key) BETWEEN 1 AND 128),
    secret_key     TEXT    NOT NULL CHECK (length(secret_key) BETWEEN 8 AND 256),
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
) STRICT;

-- One rule: for this user, on topics or groups whose name is `pattern` (or starts with its text
-- before a final '*'), these actions are allowed or denied. A deny that matches wins over any
-- allow; with no matching allow, the request is refused.
CREATE TABLE security_rules (
    access_key     TEXT    NOT NULL REFERENCES security_users (access_key) ON DELETE CASCADE,
    resource_kind  TEXT    NOT NULL CHECK (resource_kind IN ('topic', 'group')),
    pattern        TEXT    NOT NULL CHECK (length(pattern) BETWEEN 1 AND 256),
    decision       TEXT    NOT NULL CHECK (decision IN ('allow', 'deny')),
    -- A comma-separated subset of pub,sub,admin, in that order; never empty.
    actions        TEXT    NOT NULL CHECK (length(actions) > 0),
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (access_key, resource_kind, pattern, decision)
) STRICT, WITHOUT ROWID;
