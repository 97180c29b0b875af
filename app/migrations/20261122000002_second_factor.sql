-- TOTP, backup codes, sign-in challenges and brute-force counters.

-- Secrets are AEAD-sealed with the server key (see backend/crypto.rs).
-- `pending_*` holds a setup that is not confirmed yet; `last_step` is the
-- last accepted TOTP time step, the replay guard.
CREATE TABLE totp_credentials (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc    BLOB,
    pending_enc   BLOB,
    pending_since INTEGER,
    last_step     INTEGER NOT NULL DEFAULT -1
);

-- Keyed hashes only; a code is used once (`used_at`).
CREATE TABLE backup_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,
    UNIQUE (user_id, code_hash)
);

-- Password right, second factor pending: its own row, never a session.
CREATE TABLE login_challenges (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember_me INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER
);

CREATE TABLE auth_failures (
    id    INTEGER PRIMARY KEY,
    scope TEXT    NOT NULL,
    at    INTEGER NOT NULL
);
CREATE INDEX auth_failures_by_scope ON auth_failures (scope, at);
