//! The MFA lifecycle `Disabled -> SetupInProgress -> Enabled`: enrolment
//! with its TOTP secret sealed at rest, backup codes, turning MFA off. The
//! checks of a factor live in [`check`].

mod check;

use check::factor_scopes;
pub use check::{
    Asker, Prepared, Verdict, accepted_in, after_failure, announce_failure, check_factor, check_in,
    check_password, lock_keys, method_of_code, prepare, prepare_passkey, prepare_recovery_code,
    refused_in, settle, with_address,
};

use sqlx::AnyPool;

use crate::api::{AppError, BackupCodes, MfaState, SecondFactor, TotpSetup};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::rate_limit;
use crate::backend::factors::totp::{self, TotpSecret};
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::{AppState, ClientMeta, UserId, internal};
use crate::backend::{factors::backup_codes, factors::devices};

/// An unfinished setup older than this no longer counts.
pub const SETUP_TTL_S: i64 = 15 * 60;

/// The rule: what the stored state means now. A setup left pending too long
/// is as good as never started, so it can never lock anyone out.
pub fn effective_state(
    stored: MfaState,
    pending_since: Option<UnixTime>,
    now: UnixTime,
) -> MfaState {
    match (stored, pending_since) {
        (MfaState::SetupInProgress, Some(since)) if now - since < SETUP_TTL_S => {
            MfaState::SetupInProgress
        }
        (MfaState::SetupInProgress, _) => MfaState::Disabled,
        (other, _) => other,
    }
}

/// The state of `user` now.
pub async fn state_of(pool: &AnyPool, user: UserId, now: UnixTime) -> Result<MfaState, AppError> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT u.mfa_state, t.started_at FROM users u
         LEFT JOIN totp_enrolments t ON t.user_id = u.id WHERE u.id = $1",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading MFA state", e))?;
    let (stored, since) = row.ok_or(AppError::NotSignedIn)?;
    let stored = MfaState::parse(&stored).ok_or_else(|| internal("unknown MFA state", &stored))?;
    Ok(effective_state(stored, since, now))
}

fn aead_context(user: UserId) -> Vec<u8> {
    format!("twofold/totp/user:{}", user.0).into_bytes()
}

/// A TOTP secret as stored: sealed under the server key, bound to its user.
pub fn seal_secret(key: &SecretKey, user: UserId, secret: &TotpSecret) -> Vec<u8> {
    key.seal(secret.expose(), &aead_context(user))
}

fn setup_view(state: &AppState, secret: &TotpSecret, email: &str) -> Result<TotpSetup, AppError> {
    let uri = totp::otpauth_uri(secret, &state.settings.issuer, email);
    let qr_svg = totp::qr_svg(&uri).ok_or_else(|| internal("rendering the QR code", "too long"))?;
    Ok(TotpSetup {
        otpauth_uri: uri,
        secret: secret.base32_grouped(),
        qr_svg,
        expires_in_s: SETUP_TTL_S as u64,
    })
}

/// Starts (or restarts) a setup with a fresh secret.
/// Binding an authenticator needs the password within the re-auth window
/// (ASVS 5.0 7.5.1): a stolen session alone cannot add the thief's app and
/// read fresh backup codes.
pub async fn start(
    state: &AppState,
    live: &crate::backend::auth::sessions::Live,
    email: &str,
    meta: &ClientMeta,
) -> Result<TotpSetup, AppError> {
    let now = state.clock.now();
    let user = live.user;
    if !crate::backend::auth::access::password_fresh(live, now) {
        return Err(AppError::ReauthRequired);
    }
    // With MFA on already this adds another authenticator app; the state
    // stays `Enabled` while it is set up.
    let adding = state_of(&state.pool, user, now).await? == MfaState::Enabled;
    if adding && !crate::backend::auth::access::is_fresh(live, true, now) {
        return Err(AppError::ReauthRequired);
    }
    let secret = TotpSecret::generate();
    let sealed = seal_secret(&state.settings.key, user, &secret);
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    sqlx::query(
        "INSERT INTO totp_enrolments (user_id, secret_enc, started_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc,
         started_at = excluded.started_at",
    )
    .bind(user.0)
    .bind(&sealed)
    .bind(now)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("storing a pending secret", e))?;
    if !adding {
        set_state(tx.conn()?, user, MfaState::SetupInProgress).await?;
    }
    tx.commit().await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::MfaSetupStarted,
        now,
        meta,
        "",
    )
    .await;
    setup_view(state, &secret, email)
}

async fn set_state(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    s: MfaState,
) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET mfa_state = $1 WHERE id = $2")
        .bind(s.as_str())
        .bind(user.0)
        .execute(conn)
        .await
        .map_err(|e| internal("setting MFA state", e))?;
    Ok(())
}

/// Checks the enrolment code against the pending secret; on success MFA is
/// on, the code's step counts as used, and a first set of backup codes is made.
pub async fn confirm(
    state: &AppState,
    user: UserId,
    code: &str,
    meta: &ClientMeta,
) -> Result<BackupCodes, AppError> {
    let now = state.clock.now();
    let code = totp::parse_code(code).ok_or_else(code_format_error)?;
    let started: Option<i64> =
        sqlx::query_scalar("SELECT started_at FROM totp_enrolments WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("reading a TOTP setup", e))?;
    if started.is_none_or(|at| now - at >= SETUP_TTL_S) {
        return Err(AppError::Conflict {
            message: "There is no setup to confirm; start again.".into(),
        });
    }
    // Another app beside the factors the account has: no new backup codes.
    let adding = state_of(&state.pool, user, now).await? == MfaState::Enabled;
    let scopes = factor_scopes(user, Asker::Session, meta);
    let attempt = rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now).await?;
    let secret = load_pending_secret(state, user).await?;
    let Some(step) = totp::matching_step(&secret, &code, now) else {
        after_failure(
            state,
            user,
            attempt.failed(),
            meta,
            EventKind::FactorFailed,
            "setup code wrong",
        )
        .await?;
        return Err(AppError::InvalidCode);
    };
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    // The pending secret becomes a factor, its enrolment code's step spent.
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("DELETE FROM totp_enrolments WHERE user_id = $1 RETURNING secret_enc")
            .bind(user.0)
            .fetch_optional(tx.conn()?)
            .await
            .map_err(|e| internal("taking the pending secret", e))?;
    let Some(sealed) = sealed else {
        return Err(AppError::Conflict {
            message: "This setup was already confirmed.".into(),
        });
    };
    let name = if adding {
        next_totp_name(tx.conn()?, user).await?
    } else {
        DEFAULT_TOTP_NAME.to_string()
    };
    add_totp_factor(tx.conn()?, user, &name, &sealed, step, now).await?;
    if adding {
        tx.commit().await?;
        attempt.succeeded(&state.writer).await?;
        let detail = format!("Totp: {name}");
        audit::record(
            &state.pool,
            Some(user),
            EventKind::FactorAdded,
            now,
            meta,
            &detail,
        )
        .await;
        alerts::send(state, user, Alert::OneFactorAdded { name }, meta).await?;
        return Ok(BackupCodes {
            mfa: MfaState::Enabled,
            backup_codes: Vec::new(),
        });
    }
    let codes = turn_on_in(tx.conn()?, &state.settings.key, user).await?;
    tx.commit().await?;
    attempt.succeeded(&state.writer).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::MfaSetupConfirmed,
        now,
        meta,
        "totp",
    )
    .await;
    alerts::send(state, user, Alert::FactorAdded { name }, meta).await?;
    Ok(BackupCodes {
        mfa: MfaState::Enabled,
        backup_codes: codes,
    })
}

/// A first factor was just added inside `tx`: MFA is on, a policy deadline
/// is met, browsers trusted before are trusted no more, and a first set of
/// backup codes is made (returned to show once).
pub async fn turn_on_in(
    tx: &mut sqlx::AnyConnection,
    key: &SecretKey,
    user: UserId,
) -> Result<Vec<String>, AppError> {
    sqlx::query("UPDATE users SET mfa_state = 'Enabled', mfa_required_by = NULL WHERE id = $1")
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| internal("turning MFA on", e))?;
    devices::revoke(tx, user, None).await?;
    backup_codes::replace_set(tx, key, user).await
}

/// Abandons a setup in progress (also done at sign-out). MFA that is already
/// on is left alone.
pub async fn cancel(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
) -> Result<MfaState, AppError> {
    let now = state.clock.now();
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let changed = sqlx::query(
        "UPDATE users SET mfa_state = 'Disabled' WHERE id = $1 AND mfa_state = 'SetupInProgress'",
    )
    .bind(user.0)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("cancelling setup", e))?;
    sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("clearing the pending secret", e))?;
    tx.commit().await?;
    if changed.rows_affected() == 1 {
        audit::record(
            &state.pool,
            Some(user),
            EventKind::MfaSetupCancelled,
            now,
            meta,
            "",
        )
        .await;
    }
    state_of(&state.pool, user, now).await
}

/// Whether the MFA policy requires two-factor authentication of `user`
/// (then MFA cannot be turned off, nor the last factor removed).
pub async fn required_for(state: &AppState, user: UserId) -> Result<bool, AppError> {
    let policy = crate::backend::policy::load(&state.pool).await?;
    let role = crate::backend::auth::access::role_of(state, user).await?;
    Ok(policy.require.covers(role))
}

/// Turns MFA off: needs the password and a current TOTP or backup code.
pub async fn disable(
    state: &AppState,
    user: UserId,
    password: String,
    code: &str,
    meta: &ClientMeta,
) -> Result<MfaState, AppError> {
    let now = state.clock.now();
    if state_of(&state.pool, user, now).await? != MfaState::Enabled {
        return Err(AppError::Conflict {
            message: "Two-factor authentication is not on.".into(),
        });
    }
    if required_for(state, user).await? {
        return Err(AppError::Conflict {
            message:
                "Your organisation requires two-factor authentication, so it cannot be turned off."
                    .into(),
        });
    }
    check_password(state, user, password, meta, "disable").await?;
    check_factor(
        state,
        user,
        method_of_code(code),
        code,
        meta,
        Asker::Session,
    )
    .await?;
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    remove_factors(tx.conn()?, user).await?;
    tx.commit().await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::MfaDisabled,
        now,
        meta,
        "",
    )
    .await;
    alerts::send(state, user, Alert::FactorRemoved, meta).await?;
    Ok(MfaState::Disabled)
}

/// Everything second-factor about `user` goes: every factor (apps, passkeys,
/// phones), backup, email and text codes, trusted devices; the state is
/// `Disabled`. Used by disable, the last factor's removal, an admin's reset
/// and a finished recovery.
pub async fn remove_factors(tx: &mut sqlx::AnyConnection, user: UserId) -> Result<(), AppError> {
    for sql in [
        // Each kind's own rows go with their factor (ON DELETE CASCADE).
        "DELETE FROM factors WHERE user_id = $1",
        "DELETE FROM totp_enrolments WHERE user_id = $1",
        "DELETE FROM backup_codes WHERE user_id = $1",
        "DELETE FROM email_codes WHERE user_id = $1",
        "DELETE FROM sms_codes WHERE user_id = $1",
        "DELETE FROM phone_enrolments WHERE user_id = $1",
        "UPDATE users SET mfa_state = 'Disabled' WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| internal("removing second factors", e))?;
    }
    devices::revoke(tx, user, None).await?;
    // A half-finished sign-in must not complete against the old factors.
    crate::backend::auth::challenges::cancel_all(tx, user).await?;
    Ok(())
}

/// A new set of backup codes; needs the password within the re-auth window
/// and a current TOTP code (a backup code cannot mint more backup codes),
/// or, without a code, a factor proven within the window.
/// The old set dies with it.
pub async fn regenerate(
    state: &AppState,
    live: &crate::backend::auth::sessions::Live,
    code: &str,
    meta: &ClientMeta,
) -> Result<BackupCodes, AppError> {
    let now = state.clock.now();
    let user = live.user;
    if !crate::backend::auth::access::password_fresh(live, now) {
        return Err(AppError::ReauthRequired);
    }
    if state_of(&state.pool, user, now).await? != MfaState::Enabled {
        return Err(AppError::Conflict {
            message: "Two-factor authentication is not on.".into(),
        });
    }
    // A passkey has no code to type: a session that proved a factor in the
    // last 10 minutes (a passkey sign-in, or "use a passkey instead" on the
    // re-auth page) may leave the code out.
    let proven = code.trim().is_empty() && crate::backend::auth::access::factor_fresh(live, now);
    if !proven {
        check_factor(state, user, SecondFactor::Totp, code, meta, Asker::Session).await?;
    }
    // One transaction: the old set is never gone without the new one in place.
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let codes = backup_codes::replace_set(tx.conn()?, &state.settings.key, user).await?;
    tx.commit().await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::BackupCodesRegenerated,
        now,
        meta,
        "",
    )
    .await;
    alerts::send(state, user, Alert::BackupCodesRegenerated, meta).await?;
    Ok(BackupCodes {
        mfa: MfaState::Enabled,
        backup_codes: codes,
    })
}

fn code_format_error() -> AppError {
    AppError::validation(
        "code",
        "Enter the 6-digit code from your authenticator app.",
    )
}

/// The name a new authenticator app gets until its owner renames it.
const DEFAULT_TOTP_NAME: &str = "Authenticator app";

/// "Authenticator app 2", "... 3": a name the account's factors do not
/// have yet, for an app added beside others (renamed at will).
async fn next_totp_name(conn: &mut sqlx::AnyConnection, user: UserId) -> Result<String, AppError> {
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM factors WHERE user_id = $1")
        .bind(user.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| internal("reading factor names", e))?;
    Ok((2..)
        .map(|n| format!("{DEFAULT_TOTP_NAME} {n}"))
        .find(|candidate| !names.contains(candidate))
        .unwrap_or_else(|| DEFAULT_TOTP_NAME.to_string()))
}

/// A confirmed authenticator app: its sealed secret, `step` spent already.
async fn add_totp_factor(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    name: &str,
    sealed: &[u8],
    step: i64,
    now: UnixTime,
) -> Result<i64, AppError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO factors (user_id, kind, name, created_at, last_used_at)
         VALUES ($1, 'Totp', $2, $3, $4) RETURNING id",
    )
    .bind(user.0)
    .bind(name)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| internal("adding a factor", e))?;
    sqlx::query("INSERT INTO totp_factors (factor_id, secret_enc, last_step) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(sealed)
        .bind(step)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("storing a TOTP secret", e))?;
    Ok(id)
}

fn open_secret(state: &AppState, user: UserId, sealed: &[u8]) -> Result<TotpSecret, AppError> {
    let plain = state
        .settings
        .key
        .open(sealed, &aead_context(user))
        .map_err(|e| internal("decrypting a TOTP secret (wrong key file?)", e))?;
    Ok(TotpSecret::from_bytes(plain))
}

/// The secret of the authenticator app being set up.
async fn load_pending_secret(state: &AppState, user: UserId) -> Result<TotpSecret, AppError> {
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT secret_enc FROM totp_enrolments WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("reading a TOTP secret", e))?
            .ok_or_else(|| internal("no TOTP setup stored", user.0))?;
    open_secret(state, user, &sealed)
}

/// Every confirmed authenticator app of the user: factor id and secret.
async fn load_totp_factors(
    state: &AppState,
    user: UserId,
) -> Result<Vec<(i64, TotpSecret)>, AppError> {
    let rows: Vec<(i64, Vec<u8>)> = state
        .read_rows(
            "reading TOTP secrets",
            "SELECT f.id, t.secret_enc FROM factors f JOIN totp_factors t ON t.factor_id = f.id
             WHERE f.user_id = $1 ORDER BY f.id",
            &[user.0.into()],
        )
        .await?;
    rows.into_iter()
        .map(|(id, sealed)| Ok((id, open_secret(state, user, &sealed)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_rule() {
        let now = 100_000;
        assert_eq!(
            effective_state(MfaState::Disabled, None, now),
            MfaState::Disabled
        );
        assert_eq!(
            effective_state(MfaState::Enabled, None, now),
            MfaState::Enabled
        );
        assert_eq!(
            effective_state(MfaState::SetupInProgress, Some(now - 60), now),
            MfaState::SetupInProgress
        );
        assert_eq!(
            effective_state(MfaState::SetupInProgress, Some(now - SETUP_TTL_S + 1), now),
            MfaState::SetupInProgress
        );
        // Abandoned: 15 minutes on, it is as if it never started.
        assert_eq!(
            effective_state(MfaState::SetupInProgress, Some(now - SETUP_TTL_S), now),
            MfaState::Disabled
        );
        assert_eq!(
            effective_state(MfaState::SetupInProgress, None, now),
            MfaState::Disabled
        );
    }
}
