-- E-mail validation sessions the homeserver runs itself (requestToken,
-- then the mailed link or code). One session per (client_secret, address,
-- purpose): a repeated request answers the same sid, and a higher
-- send_attempt mails a new token into it. token_hash is the SHA-256 of the
-- token mailed, NULL once it has been used (tokens are single use) or voided
-- by too many wrong guesses; validated_at is set when it was submitted.
CREATE TABLE email_sessions (
    sid             TEXT PRIMARY KEY,
    client_secret   TEXT NOT NULL,
    address         TEXT NOT NULL,            -- canonical (lower-cased)
    purpose         TEXT NOT NULL,            -- register | add_threepid | reset_password
    send_attempt    INTEGER NOT NULL,
    token_hash      BLOB,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    next_link       TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    validated_at    INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX email_sessions_by_request ON email_sessions (client_secret, address, purpose);
CREATE INDEX email_sessions_by_expiry ON email_sessions (expires_at);
