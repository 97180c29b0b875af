-- Accounts, sessions and the audit trail. Times are unix seconds from the app's Clock.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'User' CHECK (role IN ('User', 'Admin')),
    mfa_state     TEXT    NOT NULL DEFAULT 'Disabled'
                  CHECK (mfa_state IN ('Disabled', 'SetupInProgress', 'Enabled')),
    created_at    INTEGER NOT NULL
);

-- Only the SHA-256 of a session token is stored: a leaked database opens no session.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX security_events_by_user ON security_events (user_id, at);
