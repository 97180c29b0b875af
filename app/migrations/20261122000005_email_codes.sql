-- One live email code per account (a new one replaces it), stored keyed-hashed.
CREATE TABLE email_codes (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- When codes were sent, for the "3 per hour" limit.
CREATE TABLE email_code_sends (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL
);
CREATE INDEX email_code_sends_by_user ON email_code_sends (user_id, at);
