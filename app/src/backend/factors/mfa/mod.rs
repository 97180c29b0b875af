//! The MFA lifecycle `Disabled -> SetupInProgress -> Enabled`: enrolment
//! with its TOTP secret sealed at rest, backup codes, turning MFA off. The
//! checks of a factor live in [`check`].

mod check;

use check::factor_scopes;
pub use check::{
    Asker, Prepared, Verdict, after_failure, check_factor, check_in, check_password,
    method_of_code, prepare, settle, with_address,
};

use sqlx::SqlitePool;

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
pub async fn state_of(
    pool: &SqlitePool,
    user: UserId,
    now: UnixTime,
) -> Result<MfaState, AppError> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT u.mfa_state, t.pending_since FROM users u
         LEFT JOIN totp_credentials t ON t.user_id = u.id WHERE u.id = ?",
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
    if state_of(&state.pool, user, now).await? == MfaState::Enabled {
        return Err(AppError::Conflict {
            message: "Two-factor authentication is already on. Turn it off first to use a new authenticator.".into(),
        });
    }
    let secret = TotpSecret::generate();
    let sealed = seal_secret(&state.settings.key, user, &secret);
    let mut tx = state.pool.begin().await.map_err(|e| internal("begin", e))?;
    sqlx::query(
        "INSERT INTO totp_credentials (user_id, pending_enc, pending_since) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET pending_enc = excluded.pending_enc,
         pending_since = excluded.pending_since",
    )
    .bind(user.0)
    .bind(&sealed)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| internal("storing a pending secret", e))?;
    set_state(&mut tx, user, MfaState::SetupInProgress).await?;
    tx.commit().await.map_err(|e| internal("commit", e))?;
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
    conn: &mut sqlx::SqliteConnection,
    user: UserId,
    s: MfaState,
) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET mfa_state = ? WHERE id = ?")
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
    if state_of(&state.pool, user, now).await? != MfaState::SetupInProgress {
        return Err(AppError::Conflict {
            message: "There is no setup to confirm; start again.".into(),
        });
    }
    let scopes = factor_scopes(user, Asker::Session, meta);
    let attempt = rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now).await?;
    let secret = load_secret(state, user, Slot::Pending).await?;
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
    let mut tx = state.pool.begin().await.map_err(|e| internal("begin", e))?;
    let moved = sqlx::query(
        "UPDATE totp_credentials SET secret_enc = pending_enc, pending_enc = NULL,
         pending_since = NULL, last_step = ? WHERE user_id = ? AND pending_enc IS NOT NULL",
    )
    .bind(step)
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| internal("activating the secret", e))?;
    if moved.rows_affected() != 1 {
        return Err(AppError::Conflict {
            message: "This setup was already confirmed.".into(),
        });
    }
    set_state(&mut tx, user, MfaState::Enabled).await?;
    // Enrolled: a policy deadline is met and done with.
    sqlx::query("UPDATE users SET mfa_required_by = NULL WHERE id = ?")
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| internal("clearing the enrolment deadline", e))?;
    // A new secret: browsers trusted under an old one are trusted no more.
    devices::revoke(&mut tx, user, None).await?;
    let codes = backup_codes::replace_set(&mut tx, &state.settings.key, user).await?;
    tx.commit().await.map_err(|e| internal("commit", e))?;
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
    alerts::send(state, user, Alert::FactorAdded, meta).await?;
    Ok(BackupCodes {
        mfa: MfaState::Enabled,
        backup_codes: codes,
    })
}

/// Abandons a setup in progress (also done at sign-out). MFA that is already
/// on is left alone.
pub async fn cancel(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
) -> Result<MfaState, AppError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await.map_err(|e| internal("begin", e))?;
    let changed = sqlx::query(
        "UPDATE users SET mfa_state = 'Disabled' WHERE id = ? AND mfa_state = 'SetupInProgress'",
    )
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| internal("cancelling setup", e))?;
    sqlx::query(
        "UPDATE totp_credentials SET pending_enc = NULL, pending_since = NULL WHERE user_id = ?",
    )
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| internal("clearing the pending secret", e))?;
    tx.commit().await.map_err(|e| internal("commit", e))?;
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
    let policy = crate::backend::policy::load(&state.pool).await?;
    if policy
        .require
        .covers(crate::backend::auth::access::role_of(state, user).await?)
    {
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
    let mut tx = state.pool.begin().await.map_err(|e| internal("begin", e))?;
    remove_factors(&mut tx, user).await?;
    tx.commit().await.map_err(|e| internal("commit", e))?;
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

/// Everything second-factor about `user` goes: the TOTP secret, backup and
/// email codes, trusted devices; the state is `Disabled`. Used by disable and
/// by an admin's reset.
pub async fn remove_factors(tx: &mut sqlx::SqliteConnection, user: UserId) -> Result<(), AppError> {
    for sql in [
        "DELETE FROM totp_credentials WHERE user_id = ?",
        "DELETE FROM backup_codes WHERE user_id = ?",
        "DELETE FROM email_codes WHERE user_id = ?",
        "UPDATE users SET mfa_state = 'Disabled' WHERE id = ?",
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
/// and a current TOTP code (a backup code cannot mint more backup codes).
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
    check_factor(state, user, SecondFactor::Totp, code, meta, Asker::Session).await?;
    // One transaction: the old set is never gone without the new one in place.
    let mut tx = state.pool.begin().await.map_err(|e| internal("begin", e))?;
    let codes = backup_codes::replace_set(&mut tx, &state.settings.key, user).await?;
    tx.commit().await.map_err(|e| internal("commit", e))?;
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

/// Which of the user's two secrets: the confirmed one or the one in setup.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Active,
    Pending,
}

/// Reads and decrypts one of the user's TOTP secrets.
async fn load_secret(state: &AppState, user: UserId, slot: Slot) -> Result<TotpSecret, AppError> {
    let sql = match slot {
        Slot::Active => "SELECT secret_enc FROM totp_credentials WHERE user_id = ?",
        Slot::Pending => "SELECT pending_enc FROM totp_credentials WHERE user_id = ?",
    };
    let sealed: Vec<u8> = sqlx::query_scalar::<_, Option<Vec<u8>>>(sql)
        .bind(user.0)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| internal("reading a TOTP secret", e))?
        .flatten()
        .ok_or_else(|| internal("no TOTP secret stored", format!("{slot:?} for {}", user.0)))?;
    let plain = state
        .settings
        .key
        .open(&sealed, &aead_context(user))
        .map_err(|e| internal("decrypting a TOTP secret (wrong key file?)", e))?;
    Ok(TotpSecret::from_bytes(plain))
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
