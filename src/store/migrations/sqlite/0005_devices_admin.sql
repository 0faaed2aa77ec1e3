-- Devices remember where and when they were last used (written in batches
-- by the server, never once per request), and accounts can be admins of
-- this server (Synapse's `users.admin`).
ALTER TABLE devices ADD COLUMN last_seen_ip TEXT;
ALTER TABLE devices ADD COLUMN last_seen_ts INTEGER;
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
