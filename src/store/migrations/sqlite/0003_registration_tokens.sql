-- Registration tokens, as Synapse models them. A token is usable while it
-- has not expired and uses_allowed is NULL or pending + completed is below
-- it. pending counts UIA sessions that passed the token stage and have not
-- registered yet (released when such a session expires); completed counts
-- registrations made with it. token_hash (SHA-256 of token) is the key the
-- registration stage looks tokens up by, so that a guess is never compared
-- byte by byte with a stored token.
CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    uses_allowed INTEGER,                     -- NULL: unlimited
    pending      INTEGER NOT NULL DEFAULT 0,
    completed    INTEGER NOT NULL DEFAULT 0,
    expiry_time  INTEGER                      -- ms since the epoch; NULL: never
) WITHOUT ROWID;

-- The registration token a session passed the token stage with (counted in
-- that token's pending until the session registers or expires).
ALTER TABLE uia_sessions ADD COLUMN registration_token TEXT;
