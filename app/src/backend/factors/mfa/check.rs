//! Checking a second factor (or the password again, inside a session) under
//! the brute-force limits: which budget an attempt draws from, the check
//! itself inside the caller's write transaction, and what a refusal tells
//! the owner afterwards.

use crate::api::{AppError, SecondFactor};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::passwords::{self, Password, PasswordHashString};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::factors::{passkeys, totp};
use crate::backend::infra::metrics::FactorOutcome;
use crate::backend::{AppState, ClientMeta, UserId, internal};
use crate::backend::{factors::backup_codes, factors::email_codes};

use super::{code_format_error, load_totp_factors};

/// A 6-digit code is a TOTP code; anything else is tried as a backup code.
pub fn method_of_code(code: &str) -> SecondFactor {
    if totp::parse_code(code).is_some() {
        SecondFactor::Totp
    } else {
        SecondFactor::BackupCode
    }
}

/// Checks the account's password for a sensitive action inside a session,
/// under the session's own password budget: a stolen session cannot guess it
/// freely, and failures at the sign-in page do not lock the owner out here.
pub async fn check_password(
    state: &AppState,
    user: UserId,
    password: String,
    meta: &ClientMeta,
    action: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let scopes = with_address(Scope::SessionPassword(user.0), meta);
    let attempt = rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now).await?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| internal("reading the password hash", e))?;
    if passwords::verify(
        &state.hash_pool,
        Password::new(password),
        PasswordHashString(hash),
    )
    .await?
    {
        attempt.succeeded(&state.writer).await?;
        return Ok(());
    }
    let detail = format!("{action}: wrong password");
    after_failure(
        state,
        user,
        attempt.failed(),
        meta,
        EventKind::PasswordFailed,
        &detail,
    )
    .await?;
    Err(AppError::InvalidCredentials)
}

/// Who is proving a factor, which decides the budget it draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// At the sign-in challenge `challenge`; `owner` when the request comes
    /// from an address that signed in to this account within 30 days.
    Challenge { owner: bool, challenge: i64 },
    /// Inside a signed-in session (re-auth, change password, enrolment...).
    Session,
    /// With a password-reset link: a stranger's budget, like the challenge's.
    Reset,
}

/// `scope` plus the client's address budget.
pub fn with_address(scope: Scope, meta: &ClientMeta) -> Vec<Scope> {
    let mut scopes = vec![scope];
    if let Some(ip) = &meta.ip {
        scopes.push(Scope::Ip(rate_limit::address_bucket(ip)));
    }
    scopes
}

pub(super) fn factor_scopes(user: UserId, asker: Asker, meta: &ClientMeta) -> Vec<Scope> {
    let scope = match asker {
        Asker::Challenge { owner: false, .. } => Scope::Factor(user.0),
        Asker::Challenge { owner: true, .. } => Scope::OwnerFactor(user.0),
        Asker::Session => Scope::SessionFactor(user.0),
        Asker::Reset => Scope::Factor(user.0),
    };
    with_address(scope, meta)
}

/// What a check for `user` decides about: the account itself and the
/// rate-limit scopes it counts against (for `db::begin_keyed`).
pub fn lock_keys(user: UserId, asker: Asker, meta: &ClientMeta) -> Vec<String> {
    let mut keys = vec![format!("user:{}", user.0)];
    keys.extend(factor_scopes(user, asker, meta).iter().map(Scope::key));
    keys
}

/// Records a failed proof (a code, or the password for a sensitive action)
/// as `kind`, then says what it did to the account (see [`announce`]).
pub async fn after_failure(
    state: &AppState,
    user: UserId,
    failure: rate_limit::Failure,
    meta: &ClientMeta,
    kind: EventKind,
    detail: &str,
) -> Result<(), AppError> {
    audit::record(
        &state.pool,
        Some(user),
        kind,
        state.clock.now(),
        meta,
        detail,
    )
    .await;
    let password = matches!(kind, EventKind::LoginFailed | EventKind::PasswordFailed);
    announce(state, user, failure, meta, password).await
}

/// What a failed second factor did to the account (see [`announce`]), for
/// checks made outside [`check_in`].
pub async fn announce_failure(
    state: &AppState,
    user: UserId,
    failure: rate_limit::Failure,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    announce(state, user, failure, meta, false).await
}

/// When a failure locked the account: audit, metric and alert; when it
/// reached the cap of failures in a row: the unlock link.
async fn announce(
    state: &AppState,
    user: UserId,
    failure: rate_limit::Failure,
    meta: &ClientMeta,
    password: bool,
) -> Result<(), AppError> {
    if failure.locked_now {
        let what = if password {
            "password"
        } else {
            "second factor"
        };
        let now = state.clock.now();
        audit::record(
            &state.pool,
            Some(user),
            EventKind::LockedOut,
            now,
            meta,
            what,
        )
        .await;
        state
            .metrics
            .lockout(if password { "password" } else { "factor" });
        alerts::send(state, user, Alert::LockedOut, meta).await?;
    }
    if failure.capped_now {
        crate::backend::auth::links::send_unlock(state, user, meta).await?;
    }
    Ok(())
}

/// A code checked for form and, for TOTP, against the secret: all a check
/// needs that takes no write lock (reads and CPU), done before the write
/// transaction. Bad input is refused here and counts nothing.
#[derive(Debug)]
pub struct Prepared {
    method: SecondFactor,
    normalized: String,
    /// TOTP: the authenticator app (factor id) and time step the code
    /// matches, if any.
    step: Option<(i64, i64)>,
    /// Passkey: the checked assertion.
    passkey: Option<passkeys::Assertion>,
}

impl Prepared {
    /// What the password and this factor prove together, once accepted.
    pub fn proof(&self) -> crate::backend::auth::sessions::Proof {
        use crate::backend::auth::sessions::Proof;
        match &self.passkey {
            Some(assertion) => Proof::PasswordAndKey {
                synced: assertion.synced(),
            },
            None => Proof::PasswordAndCode,
        }
    }
}

/// An emailed code that finishes a recovery: checked like a second factor
/// (same budget, single use) whatever the policy says of email codes as a
/// factor, because here the mailbox is the only thing left to prove.
pub fn prepare_recovery_code(code: &str) -> Result<Prepared, AppError> {
    let normalized = totp::parse_code(code)
        .ok_or_else(|| AppError::validation("code", "Enter the 6-digit code from the email."))?;
    Ok(Prepared {
        method: SecondFactor::EmailCode,
        normalized,
        step: None,
        passkey: None,
    })
}

/// A passkey's answer at the sign-in challenge, checked by webauthn-rs
/// against the ceremony `token` names (see [`passkeys::check_for_user`]).
pub async fn prepare_passkey(
    state: &AppState,
    user: UserId,
    token: Option<crate::backend::auth::sessions::SessionToken>,
    credential: Option<serde_json::Value>,
) -> Result<Prepared, AppError> {
    let now = state.clock.now();
    let assertion = passkeys::check_for_user(state, user, token, credential, now).await?;
    Ok(Prepared {
        method: SecondFactor::Passkey,
        normalized: String::new(),
        step: None,
        passkey: Some(assertion),
    })
}

pub async fn prepare(
    state: &AppState,
    user: UserId,
    method: SecondFactor,
    code: &str,
) -> Result<Prepared, AppError> {
    let normalized = match method {
        SecondFactor::Totp => totp::parse_code(code).ok_or_else(code_format_error)?,
        SecondFactor::BackupCode => backup_codes::normalize(code).ok_or_else(|| {
            AppError::validation("code", "A backup code looks like xxxx-xxxx-xxxx-xx.")
        })?,
        SecondFactor::EmailCode => {
            if !email_codes::offered(&state.pool, user).await? {
                return Err(email_codes::not_offered());
            }
            totp::parse_code(code).ok_or_else(|| {
                AppError::validation("code", "Enter the 6-digit code from the email.")
            })?
        }
        SecondFactor::SmsCode => {
            if !crate::backend::factors::phones::allowed(state).await? {
                return Err(crate::backend::factors::phones::not_allowed());
            }
            totp::parse_code(code).ok_or_else(|| {
                AppError::validation("code", "Enter the 6-digit code from the text message.")
            })?
        }
        SecondFactor::Passkey => {
            return Err(AppError::validation(
                "method",
                "A passkey answers with its credential, not a code.",
            ));
        }
    };
    let step = match method {
        // Several apps: the code is tried against each (a handful at most).
        SecondFactor::Totp => {
            load_totp_factors(state, user)
                .await?
                .iter()
                .find_map(|(factor, secret)| {
                    totp::matching_step(secret, &normalized, state.clock.now())
                        .map(|step| (*factor, step))
                })
        }
        _ => None,
    };
    Ok(Prepared {
        method,
        normalized,
        step,
        passkey: None,
    })
}

/// How a checked code came out. A refusal has been counted and recorded in
/// the transaction; [`settle`] says the rest once it is committed.
#[derive(Debug)]
pub enum Verdict {
    Accepted,
    Refused {
        error: AppError,
        failure: rate_limit::Failure,
        /// The passkey that answered, when one did.
        key_name: Option<String>,
    },
}

/// Checks a prepared code inside the caller's write transaction (on
/// `state.writer`, `db::begin_write`), under the brute-force limits: the
/// attempt is reserved first (locked scopes refuse even right codes), a
/// failure stays counted, a success resets the account's counter. TOTP steps
/// and backup and email codes are single use. An `Err` means nothing may be
/// kept: the caller rolls back.
pub async fn check_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    state: &AppState,
    user: UserId,
    code: &Prepared,
    meta: &ClientMeta,
    asker: Asker,
) -> Result<Verdict, AppError> {
    let now = state.clock.now();
    let method = code.method;
    let scopes = factor_scopes(user, asker, meta);
    let attempt = match rate_limit::count_in(tx, &state.settings.limits, &scopes, now).await {
        Ok(attempt) => attempt,
        Err(e) => {
            state.metrics.factor_check(method, FactorOutcome::Locked);
            return Err(e);
        }
    };
    // One challenge takes at most 5 tries, counted before the check so that
    // racing requests cannot take more; then the person signs in again.
    if let Asker::Challenge { challenge, .. } = asker
        && !crate::backend::auth::challenges::take_attempt(tx, challenge, now).await?
    {
        return Err(AppError::ChallengeExpired);
    }
    let outcome = match method {
        SecondFactor::Totp => match code.step {
            None => Err(AppError::InvalidCode),
            // The replay guard, one per app: only a step later than the last
            // accepted one wins, and of racing requests with the same code
            // only one can move it.
            Some((factor, step)) => {
                let moved = tx
                    .execute(
                        "updating the TOTP step",
                        "UPDATE totp_factors SET last_step = $1
                         WHERE factor_id = $2 AND last_step < $1",
                        &[step.into(), factor.into()],
                    )
                    .await?;
                if moved == 1 {
                    tx.later
                        .add("UPDATE factors SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(factor);
                    Ok(())
                } else {
                    Err(AppError::CodeAlreadyUsed)
                }
            }
        },
        SecondFactor::Passkey => match &code.passkey {
            None => Err(AppError::InvalidCode),
            Some(assertion) => passkeys::accept_in(tx, assertion, user, meta, now)
                .await?
                .map(|_| ()),
        },
        SecondFactor::EmailCode => {
            let key = &state.settings.key;
            if email_codes::verify(tx, key, user, &code.normalized, now).await? {
                Ok(())
            } else {
                Err(AppError::InvalidCode)
            }
        }
        SecondFactor::SmsCode => {
            let key = &state.settings.key;
            let phones = crate::backend::factors::phones::verify;
            if phones(tx, key, user, &code.normalized, now).await? {
                Ok(())
            } else {
                Err(AppError::InvalidCode)
            }
        }
        SecondFactor::BackupCode => {
            let key = &state.settings.key;
            if backup_codes::consume(tx, key, user, &code.normalized, now).await? {
                let left = backup_codes::remaining_in(tx, user).await?;
                let detail = format!("{left} left");
                audit::record_later(
                    &mut tx.later,
                    Some(user),
                    EventKind::BackupCodeUsed,
                    now,
                    meta,
                    &detail,
                );
                Ok(())
            } else {
                Err(AppError::InvalidCode)
            }
        }
    };
    match outcome {
        Ok(()) => {
            accepted_in(tx, state, user, method, attempt, meta);
            Ok(Verdict::Accepted)
        }
        Err(error) => {
            let failure = refused_in(tx, state, Some(user), method, attempt, &error, meta);
            Ok(Verdict::Refused {
                error,
                failure,
                key_name: code.passkey.as_ref().and_then(|a| a.key_name.clone()),
            })
        }
    }
}

/// A factor accepted, inside the caller's transaction: the metric, the
/// account's failure counter reset, the audit row.
pub fn accepted_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    state: &AppState,
    user: UserId,
    method: SecondFactor,
    attempt: rate_limit::Reservation,
    meta: &ClientMeta,
) {
    state.metrics.factor_check(method, FactorOutcome::Success);
    attempt.succeeded_in(tx);
    let detail = format!("{method:?}");
    let now = state.clock.now();
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::FactorSucceeded,
        now,
        meta,
        &detail,
    );
}

/// A factor refused, inside the caller's transaction: the metric and the
/// audit row; the attempt stays counted. `user` is `None` for a passkey of
/// no account.
pub fn refused_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    state: &AppState,
    user: Option<UserId>,
    method: SecondFactor,
    attempt: rate_limit::Reservation,
    error: &AppError,
    meta: &ClientMeta,
) -> rate_limit::Failure {
    let counted = if *error == AppError::CodeAlreadyUsed {
        FactorOutcome::Replayed
    } else {
        FactorOutcome::Invalid
    };
    state.metrics.factor_check(method, counted);
    let failure = attempt.failed_in(tx);
    let detail = format!("{method:?}: {}", error.kind());
    let now = state.clock.now();
    audit::record_later(
        &mut tx.later,
        user,
        EventKind::FactorFailed,
        now,
        meta,
        &detail,
    );
    failure
}

/// After the transaction of [`check_in`] is committed: a refusal's alerts
/// (lockout, unlock link, a code seen twice) go out and it becomes the error.
pub async fn settle(
    state: &AppState,
    user: UserId,
    verdict: Verdict,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    match verdict {
        Verdict::Accepted => Ok(()),
        Verdict::Refused {
            error,
            failure,
            key_name,
        } => {
            announce(state, user, failure, meta, false).await?;
            passkeys::announce_refusal(state, user, key_name, &error, meta).await?;
            if error == AppError::CodeAlreadyUsed {
                // A code seen twice: someone else may have it (ASVS 2.8.5).
                alerts::send(state, user, Alert::ReusedCode, meta).await?;
            }
            Err(error)
        }
    }
}

/// Checks one second factor for `user` in a transaction of its own (see
/// [`check_in`]).
pub async fn check_factor(
    state: &AppState,
    user: UserId,
    method: SecondFactor,
    code: &str,
    meta: &ClientMeta,
    asker: Asker,
) -> Result<(), AppError> {
    let prepared = prepare(state, user, method, code).await?;
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    // An error rolls the transaction back as it is dropped.
    let verdict = check_in(&mut tx, state, user, &prepared, meta, asker).await?;
    tx.commit().await?;
    settle(state, user, verdict, meta).await
}
