-- A keyed digest (HMAC-SHA256, with a key that lives only in the server's
-- memory) of the latest password a UIA session was sent, so that a follow-up
-- repeating it reuses password_hash instead of hashing it again. Sessions
-- stored before this column answer NULL: their follow-ups hash anew.
ALTER TABLE uia_sessions ADD COLUMN password_digest BLOB;
