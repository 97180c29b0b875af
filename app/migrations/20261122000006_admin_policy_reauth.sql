-- Roles in use, the organisation's MFA policy, and re-authentication.

-- When this session last proved the password, and a second factor: sensitive
-- actions need both within the last 10 minutes, whatever the session's age.
ALTER TABLE sessions ADD COLUMN password_at INTEGER;
ALTER TABLE sessions ADD COLUMN factor_at INTEGER;

-- The enrolment deadline, fixed the first time a policy covers the user.
ALTER TABLE users ADD COLUMN mfa_required_by INTEGER;

-- One row: who must use two-factor authentication, and the grace period.
CREATE TABLE mfa_policy (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    require    TEXT    NOT NULL DEFAULT 'Nobody' CHECK (require IN ('Nobody', 'Admins', 'Everyone')),
    grace_days INTEGER NOT NULL DEFAULT 7 CHECK (grace_days BETWEEN 0 AND 365),
    updated_at INTEGER
);
INSERT INTO mfa_policy (id) VALUES (1);

-- Dashboard statistics count events by kind and time.
CREATE INDEX security_events_by_kind ON security_events (kind, at);
