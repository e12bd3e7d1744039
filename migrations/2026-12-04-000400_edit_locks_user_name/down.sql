ALTER TABLE edit_locks DROP COLUMN user_name;
