-- The holder's display name, so a lock reloaded after a restart still shows
-- who holds it (acquired_at was already stored and is now restored as is).
ALTER TABLE edit_locks ADD COLUMN user_name TEXT;
