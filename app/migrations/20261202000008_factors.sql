-- One model for second factors: several authenticator apps (and, next,
-- passkeys and security keys) per account, each named, listed and removable
-- on its own. `factors` holds what every kind has; the kind's own data sits
-- beside it (`totp_factors`). MFA is on when at least one factor exists.
CREATE TABLE factors (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('Totp', 'Passkey', 'Phone')),
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX factors_by_user ON factors (user_id);

-- A TOTP factor's secret, AEAD-sealed with the server key (context: the
-- user), and its own replay guard: the last accepted time step.
CREATE TABLE totp_factors (
    factor_id  INTEGER PRIMARY KEY REFERENCES factors (id) ON DELETE CASCADE,
    secret_enc BLOB    NOT NULL,
    last_step  INTEGER NOT NULL DEFAULT -1
);

-- An authenticator app being set up and not confirmed yet: one per account.
CREATE TABLE totp_enrolments (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc BLOB    NOT NULL,
    started_at INTEGER NOT NULL
);

-- Everyone enrolled keeps their authenticator app, its replay guard and any
-- setup in progress.
INSERT INTO factors (user_id, kind, name, created_at)
    SELECT t.user_id, 'Totp', 'Authenticator app', u.created_at
    FROM totp_credentials t JOIN users u ON u.id = t.user_id
    WHERE t.secret_enc IS NOT NULL
    ORDER BY t.user_id;
INSERT INTO totp_factors (factor_id, secret_enc, last_step)
    SELECT f.id, t.secret_enc, t.last_step
    FROM factors f JOIN totp_credentials t ON t.user_id = f.user_id;
INSERT INTO totp_enrolments (user_id, secret_enc, started_at)
    SELECT user_id, pending_enc, pending_since FROM totp_credentials
    WHERE pending_enc IS NOT NULL AND pending_since IS NOT NULL;
DROP TABLE totp_credentials;
