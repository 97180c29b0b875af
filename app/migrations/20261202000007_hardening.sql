-- Hardening: consecutive-failure caps, the owner's own budget, email links,
-- confirmed addresses, the email-code switch and session idle timeouts.

-- Failures in a row per budget (NIST SP 800-63B-4 3.2.2): only a success, an
-- emailed unlock link or an admin resets it.
CREATE TABLE failure_streaks (
    scope      TEXT    PRIMARY KEY,
    count      INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- Addresses (IPv4, or an IPv6 /64) that signed in to an account: requests
-- from them draw from the owner's budget, not a stranger's.
CREATE TABLE known_addresses (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address         TEXT    NOT NULL,
    last_success_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, address)
);

-- Single-use links sent by email: finish a sign-up (the account exists only
-- once confirmed), set a password from an invitation, unlock after the cap.
CREATE TABLE email_tokens (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('signup', 'invite', 'unlock')),
    user_id       INTEGER REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);

-- Existing accounts count as confirmed.
ALTER TABLE users ADD COLUMN email_confirmed_at INTEGER;
UPDATE users SET email_confirmed_at = created_at;

-- Email codes are the weakest factor: the operator decides (on by default).
ALTER TABLE mfa_policy ADD COLUMN allow_email_codes INTEGER NOT NULL DEFAULT 1;

-- Idle timeout per session (remember-me sessions idle out later).
ALTER TABLE sessions ADD COLUMN idle_timeout_s INTEGER;

-- Housekeeping deletes by time.
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX login_challenges_by_user ON login_challenges (user_id);
CREATE INDEX login_challenges_by_expiry ON login_challenges (expires_at);
CREATE INDEX auth_failures_by_at ON auth_failures (at);
CREATE INDEX email_code_sends_by_at ON email_code_sends (at);
