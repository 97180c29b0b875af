-- Passkeys and security keys (WebAuthn). Each is a factor of kind
-- 'Passkey'; its credential sits beside it. Nothing here is secret: the
-- credential holds a public key, so it is stored as webauthn-rs writes it.
CREATE TABLE passkey_factors (
    factor_id       INTEGER PRIMARY KEY REFERENCES factors (id) ON DELETE CASCADE,
    -- The authenticator's id for it: one account, one factor, ever.
    credential_id   BLOB    NOT NULL UNIQUE,
    -- webauthn-rs's `Passkey`, JSON: public key, algorithm, counter.
    credential      TEXT    NOT NULL,
    -- The signature counter last accepted; one that does not move forward
    -- (when the key keeps one) means a cloned key.
    sign_count      INTEGER NOT NULL DEFAULT 0,
    -- Synced passkey (backup eligible / backed up) or bound to one device.
    backup_eligible INTEGER NOT NULL DEFAULT 0,
    backed_up       INTEGER NOT NULL DEFAULT 0
);

-- The opaque id authenticators store for the account (WebAuthn's user
-- handle): random, never the email or the row id.
CREATE TABLE webauthn_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BLOB    NOT NULL UNIQUE
);

-- A ceremony in progress: the challenge and what the server expects back.
-- The browser holds only a random token naming it (an HttpOnly cookie);
-- a ceremony is used once and lives 5 minutes.
CREATE TABLE webauthn_ceremonies (
    token_hash BLOB    PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('Register', 'SignIn', 'SecondFactor')),
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    -- The client's address bucket, to cap how many one client keeps open.
    address    TEXT,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_by_address ON webauthn_ceremonies (address, expires_at);
