-- What an import from Synapse brings that the schema did not model yet:
-- the user type (Synapse's users.user_type: NULL for a person, 'support' or
-- 'bot'), so that it survives the move. (The admin flag came with 0005.)
ALTER TABLE users ADD COLUMN user_type TEXT;
