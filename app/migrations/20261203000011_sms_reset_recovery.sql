-- Text-message codes, password resets by mail, and delayed recovery for
-- someone who lost every factor.

-- Phones are the weakest factor after email: the operator decides (on by
-- default; it only matters once an SMS provider is set).
ALTER TABLE mfa_policy ADD COLUMN allow_sms INTEGER NOT NULL DEFAULT 1;

-- A phone factor's number, E.164 (`+447911123456`).
CREATE TABLE phone_factors (
    factor_id INTEGER PRIMARY KEY REFERENCES factors (id) ON DELETE CASCADE,
    phone     TEXT    NOT NULL
);

-- A phone being added and not confirmed yet: one per account, with the
-- code texted to it (keyed-hashed).
CREATE TABLE phone_enrolments (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    code_hash  BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- One live sign-in code by text per account (a new one replaces it).
CREATE TABLE sms_codes (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- Every text sent, for the limits against SMS pumping: per account, per
-- client address (bucket) and for the whole server in a day.
CREATE TABLE sms_sends (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address TEXT    NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX sms_sends_by_user ON sms_sends (user_id, at);
CREATE INDEX sms_sends_by_address ON sms_sends (address, at);
CREATE INDEX sms_sends_by_time ON sms_sends (at);

-- Links by mail gain two purposes: a password reset, and cancelling a
-- recovery. SQLite cannot alter a CHECK, so the table is rebuilt.
CREATE TABLE email_tokens_new (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    purpose       TEXT    NOT NULL
                  CHECK (purpose IN ('signup', 'invite', 'unlock', 'reset', 'recovery-cancel')),
    user_id       INTEGER REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
INSERT INTO email_tokens_new SELECT id, token_hash, purpose, user_id, email, password_hash,
    created_at, expires_at, used_at FROM email_tokens;
DROP TABLE email_tokens;
ALTER TABLE email_tokens_new RENAME TO email_tokens;
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);
CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose, created_at);

-- A recovery by someone who lost every factor: it waits `--recovery-delay-h`
-- so the real owner can cancel it from the alert mail. At most one pending
-- per account.
CREATE TABLE recoveries (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at   INTEGER NOT NULL,
    ready_at     INTEGER NOT NULL,
    address      TEXT,
    -- When the second alert (halfway) went out.
    reminded_at  INTEGER,
    approved_at  INTEGER,
    approved_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- How it ended: 'cancelled' (by the owner's link or an admin) or
    -- 'completed' (the factors were removed).
    ended        TEXT    CHECK (ended IN ('cancelled', 'completed')),
    ended_at     INTEGER
);
CREATE UNIQUE INDEX recoveries_one_pending ON recoveries (user_id) WHERE ended IS NULL;
