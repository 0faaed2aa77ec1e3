-- Accounts, devices, tokens, UIA sessions and third-party identifiers.
-- Times are milliseconds since the Unix epoch; tokens are SHA-256 digests.

CREATE TABLE users (
    localpart     TEXT PRIMARY KEY,
    password_hash TEXT,                       -- argon2id PHC string; NULL for guests
    is_guest      INTEGER NOT NULL DEFAULT 0,
    deactivated   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users (localpart) ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

-- A refresh token and the one it was rotated into (next_id). The chain is
-- short: a token is deleted once its successor pair has been used.
CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    next_id    INTEGER REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_by_next ON refresh_tokens (next_id);

-- An access token outlives the refresh token it was issued with (SET NULL):
-- it keeps working until it expires or its device is logged out.
CREATE TABLE access_tokens (
    token_hash       BLOB PRIMARY KEY,
    user_id          TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    refresh_token_id INTEGER REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    expires_at       INTEGER,                 -- NULL: never expires
    created_at       INTEGER NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX access_tokens_by_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_by_refresh ON access_tokens (refresh_token_id);

CREATE TABLE uia_sessions (
    id            TEXT PRIMARY KEY,
    operation     TEXT NOT NULL,
    user_id       TEXT,                       -- the account it is bound to, if any
    params        TEXT NOT NULL,              -- the original request, JSON, no password
    password_hash TEXT,                       -- hash of the original request's password
    completed     TEXT NOT NULL,              -- JSON array of stage types
    registered    TEXT,                       -- localpart a completed registration created
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uia_sessions_by_expiry ON uia_sessions (expires_at);

CREATE TABLE threepids (
    medium       TEXT NOT NULL,
    address      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (localpart) ON DELETE CASCADE,
    validated_at INTEGER NOT NULL,
    added_at     INTEGER NOT NULL,
    id_server    TEXT,
    PRIMARY KEY (medium, address)
) WITHOUT ROWID;
CREATE INDEX threepids_by_user ON threepids (user_id, added_at);

-- Counters, e.g. the last numeric localpart handed out.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('generated_localpart', 0);
