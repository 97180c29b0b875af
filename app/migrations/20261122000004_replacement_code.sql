-- A backup code issued to replace one just used at sign-in, sealed with the
-- server key and bound to the session; shown once, then cleared.
ALTER TABLE sessions ADD COLUMN replacement_code_enc BLOB;
