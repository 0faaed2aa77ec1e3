-- What an import from Synapse brings that the first schema did not model:
-- the admin flag (Synapse's users.admin) and the user type (users.user_type:
-- NULL for a person, 'support' or 'bot'), so that they survive the move.
-- Numbered 0006: 0004 (e-mail validation) and 0005 (devices and admin) are
-- other branches. 0005 adds users.admin with this very definition: once
-- both are merged, the admin line belongs to 0005 alone and leaves this file.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN user_type TEXT;
