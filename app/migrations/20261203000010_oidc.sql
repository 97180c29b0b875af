-- Single sign-on: Twofold as an OpenID Connect provider.

-- How a session's holder proved who they are, as RFC 8176 `amr` values
-- separated by spaces ("pwd otp mfa", "hwk mfa"): what apps are told.
-- Sessions made before this column say NULL: "pwd", plus "mfa" when a
-- factor was proven.
ALTER TABLE sessions ADD COLUMN amr TEXT;

-- The ID-token signing keys (ES256). The private key is sealed with the
-- server's secret key like TOTP secrets; the public half is published at the
-- JWKS endpoint. The newest unretired key signs; a retired key stays
-- published until `publish_until`, when every token it signed has expired.
CREATE TABLE oidc_keys (
    kid           TEXT    PRIMARY KEY,
    private_enc   BLOB    NOT NULL,
    public_jwk    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER
);

-- The `sub` apps see: random, stable, never the email or the row id.
CREATE TABLE oidc_subjects (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    subject TEXT    NOT NULL UNIQUE
);

-- What a person allowed an app to learn (explicit-consent clients).
CREATE TABLE oidc_consents (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- One sign-in to an app: the code, then the tokens issued for it. Revoking
-- the grant ends every token it issued.
CREATE TABLE oidc_grants (
    id         INTEGER PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    nonce      TEXT,
    auth_time  INTEGER NOT NULL,
    amr        TEXT    NOT NULL,
    acr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX oidc_grants_by_user ON oidc_grants (user_id, client_id);
CREATE INDEX oidc_grants_by_client ON oidc_grants (client_id, created_at);

-- Authorization codes: only their SHA-256, single use, 60 seconds, bound to
-- the client, the redirect URI and the PKCE challenge.
CREATE TABLE oidc_codes (
    code_hash      BLOB    PRIMARY KEY,
    grant_id       INTEGER NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

-- Access tokens (10 minutes) and refresh tokens (30 days, rotating): only
-- their SHA-256. A refresh token is spent when used; spending it twice means
-- it leaked, and its grant is revoked.
CREATE TABLE oidc_tokens (
    token_hash BLOB    PRIMARY KEY,
    grant_id   INTEGER NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX oidc_tokens_by_grant ON oidc_tokens (grant_id);
