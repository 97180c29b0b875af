//! Password sign-in and its second step: the limits, the challenge, the
//! session it ends in.

use http::HeaderMap;
use sqlx::AnyPool;

use crate::api::{
    AppError, LoginOutcome, LoginRequest, MfaState, SecondFactor, SecondFactorRequest,
};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::accounts::email_of;
use crate::backend::auth::challenges::{self, CHALLENGE_TTL_S};
use crate::backend::auth::passwords::{self, Password, PasswordHashString};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::auth::sessions::{self, NewSession, SessionToken};
use crate::backend::infra::metrics::SignIn;
use crate::backend::{
    AppState, ClientMeta, UserId, auth::cookies, auth::owners, auth::validation,
    factors::backup_codes, factors::devices, factors::email_codes, factors::mfa, factors::phones,
    infra::db, internal,
};

/// What a right password earns: a session, or a challenge to answer first.
#[derive(Debug)]
pub enum Grant {
    Session(NewSession),
    Challenge(SessionToken),
}

/// Checks the password. Unknown emails are verified against a dummy hash so the
/// answer (status, body and time) is the same as for a wrong password, and
/// lockouts count by the email typed, so they reveal nothing either. The
/// account's owner (a trusted device, or an address it signed in from within
/// 30 days) draws from a budget of its own, so a stranger cannot lock it out.
pub async fn login(
    state: &AppState,
    req: LoginRequest,
    device: Option<&SessionToken>,
    meta: &ClientMeta,
) -> Result<(LoginOutcome, Grant), AppError> {
    let now = state.clock.now();
    // A malformed email cannot match an account; treat it like an unknown one
    // rather than answering differently.
    let email = validation::normalize_email(&req.email).ok();
    let scope_email = email
        .clone()
        .unwrap_or_else(|| req.email.trim().to_lowercase());
    let row = match &email {
        Some(email) => find_credentials(&state.pool, email).await?,
        None => None,
    };
    let (user, hash) = match row {
        Some((id, hash)) => (Some(UserId(id)), PasswordHashString(hash)),
        None => (None, state.dummy_hash.clone()),
    };
    let owner = match user {
        Some(user) => owners::is_owner(state, user, device, meta, now).await?,
        None => false,
    };
    let account_scope = match user {
        Some(user) if owner => Scope::OwnerPassword(user.0),
        _ => Scope::Password(scope_email),
    };
    let scopes = mfa::with_address(account_scope, meta);
    // Committed before argon2 runs: the lock is never held for a hash.
    let attempt =
        match rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now).await {
            Ok(attempt) => attempt,
            Err(e) => {
                state.metrics.sign_in(SignIn::Locked);
                return Err(e);
            }
        };
    let checked_hash = hash.0.clone();
    let ok = passwords::verify(&state.hash_pool, Password::new(req.password), hash).await?;
    let user = match (user, ok) {
        (Some(user), true) => user,
        (user, _) => {
            state.metrics.sign_in(SignIn::WrongPassword);
            let failure = attempt.failed();
            match user {
                Some(user) => {
                    mfa::after_failure(
                        state,
                        user,
                        failure,
                        meta,
                        EventKind::LoginFailed,
                        "wrong password",
                    )
                    .await?
                }
                None => {
                    audit::record(
                        &state.pool,
                        None,
                        EventKind::LoginFailed,
                        now,
                        meta,
                        "wrong password",
                    )
                    .await;
                    if failure.locked_now {
                        state.metrics.lockout("password");
                    }
                }
            }
            return Err(AppError::InvalidCredentials);
        }
    };
    let trusted = match device {
        Some(token) => devices::is_trusted(&state.pool, user, token, now).await?,
        None => false,
    };
    let needs_factor =
        mfa::state_of(&state.pool, user, now).await? == MfaState::Enabled && !trusted;
    let methods = if needs_factor {
        methods_of(state, user).await?
    } else {
        Vec::new()
    };
    // One write transaction: the attempt taken back, then the challenge or
    // the session, and the audit row.
    let mut tx = db::begin_write(&state.writer).await?;
    // A password changed while argon2 ran ended every session and challenge;
    // this sign-in must not start one after that with the old password.
    let current: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(tx.conn()?)
            .await
            .map_err(|e| internal("reading the password hash", e))?;
    if current.as_deref() != Some(checked_hash.as_str()) {
        return Err(AppError::InvalidCredentials);
    }
    attempt.succeeded_in(&mut tx);
    if needs_factor {
        let token = challenges::create(tx.conn()?, user, req.remember_me, now).await?;
        audit::record(
            tx.conn()?,
            Some(user),
            EventKind::ChallengeIssued,
            now,
            meta,
            "",
        )
        .await;
        tx.commit().await?;
        state.metrics.sign_in(SignIn::SecondFactorRequired);
        let outcome = LoginOutcome::SecondFactorRequired {
            methods,
            expires_in_s: CHALLENGE_TTL_S as u64,
        };
        return Ok((outcome, Grant::Challenge(token)));
    }
    let done = if trusted {
        SignInDone::TrustedDevice
    } else {
        SignInDone::Password
    };
    let session = finish_sign_in(&mut tx, state, user, req.remember_me, done, meta);
    tx.commit().await?;
    state.metrics.sign_in(SignIn::SignedIn);
    Ok((LoginOutcome::SignedIn, Grant::Session(session)))
}

/// The ways the account can answer its sign-in challenge: each kind of
/// factor it holds, backup codes, and email codes where offered. Passkeys
/// only where the server has a relying party.
pub async fn methods_of(state: &AppState, user: UserId) -> Result<Vec<SecondFactor>, AppError> {
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM factors WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(&state.pool)
            .await
            .map_err(|e| internal("reading factor kinds", e))?;
    let mut methods = Vec::new();
    if kinds.iter().any(|k| k == "Totp") {
        methods.push(SecondFactor::Totp);
    }
    if kinds.iter().any(|k| k == "Passkey") && state.settings.passkeys.problem().is_none() {
        methods.push(SecondFactor::Passkey);
    }
    if kinds.iter().any(|k| k == "Phone") && phones::allowed(state).await? {
        methods.push(SecondFactor::SmsCode);
    }
    methods.push(SecondFactor::BackupCode);
    if email_codes::offered(&state.pool, user).await? {
        methods.push(SecondFactor::EmailCode);
    }
    Ok(methods)
}

/// `POST /api/auth/email-code`: mails a code to the account the sign-in
/// challenge belongs to. Only a live challenge can ask, so only accounts with
/// MFA on get codes, and only after the right password; and only while the
/// policy allows codes by email and the address is confirmed.
pub async fn send_email_code(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
) -> Result<crate::api::EmailCodeSent, AppError> {
    let now = state.clock.now();
    let token = cookies::challenge_token(headers).ok_or(AppError::ChallengeExpired)?;
    let challenge = challenges::find(state, &token, now)
        .await?
        .ok_or(AppError::ChallengeExpired)?;
    // A recovery that is ready finishes with an emailed code, whatever the
    // policy says of email codes as a factor.
    if !email_codes::offered(&state.pool, challenge.user).await?
        && !crate::backend::auth::recovery::ready_for(state, challenge.user).await?
    {
        return Err(email_codes::not_offered());
    }
    let email = email_of(&state.pool, challenge.user).await?;
    let code = email_codes::issue(&state.writer, &state.settings.key, challenge.user, now).await?;
    let text = format!(
        "Your Twofold sign-in code is:\n\n{code}\n\nIt works once, for 10 minutes.\n\n\
         Requested {} from {} ({}). If this was not you, someone knows your password: \
         change it, and do not share this code.",
        crate::api::display::format_utc(now),
        meta.ip.as_deref().unwrap_or("an unknown address"),
        crate::api::display::device_label(meta.user_agent.as_deref()),
    );
    state
        .settings
        .mailer
        .send_later(&email, "Your Twofold sign-in code", text);
    audit::record(
        &state.pool,
        Some(challenge.user),
        EventKind::EmailCodeSent,
        now,
        meta,
        "",
    )
    .await;
    Ok(crate::api::EmailCodeSent {
        expires_in_s: email_codes::CODE_TTL_S as u64,
    })
}

/// `POST /api/auth/sms-code`: texts a code to the phone of the account the
/// sign-in challenge belongs to (so only after the right password).
pub async fn send_sms_code(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
) -> Result<crate::api::SmsCodeSent, AppError> {
    let now = state.clock.now();
    let token = cookies::challenge_token(headers).ok_or(AppError::ChallengeExpired)?;
    let challenge = challenges::find(state, &token, now)
        .await?
        .ok_or(AppError::ChallengeExpired)?;
    phones::send_sign_in_code(state, challenge.user, meta).await
}

/// A completed second step: the session, and the device token when the
/// person asked to trust this browser.
#[derive(Debug)]
pub struct FactorGrant {
    pub session: NewSession,
    pub device: Option<SessionToken>,
}

/// Answers the sign-in challenge the request's cookie names; on success the
/// challenge is spent and a real session begins.
pub async fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    req: SecondFactorRequest,
    meta: &ClientMeta,
) -> Result<FactorGrant, AppError> {
    let now = state.clock.now();
    let token = cookies::challenge_token(headers).ok_or(AppError::ChallengeExpired)?;
    let challenge = challenges::find(state, &token, now)
        .await?
        .ok_or(AppError::ChallengeExpired)?;
    let owner = owners::known_address(state, challenge.user, meta, now).await?;
    let asker = mfa::Asker::Challenge {
        owner,
        challenge: challenge.id,
    };
    let user = challenge.user;
    // Reads and the code's check first; then one write transaction: the
    // attempt, the code spent, the challenge spent, the session, the audit.
    let code = match req.method {
        SecondFactor::Passkey => {
            let token = cookies::passkey_token(headers);
            mfa::prepare_passkey(state, user, token, req.credential).await?
        }
        method => mfa::prepare(state, user, method, &req.code).await?,
    };
    // Everything this transaction decides concerns this account and the
    // scopes it counts against (see `db::begin_keyed`): on PostgreSQL other
    // accounts' sign-ins go on beside it.
    let mut tx = db::begin_keyed(&state.writer, &mfa::lock_keys(user, asker, meta)).await?;
    let verdict = mfa::check_in(&mut tx, state, user, &code, meta, asker).await?;
    let session = match verdict {
        mfa::Verdict::Accepted => {
            if !challenges::complete(&mut tx, challenge.id, now).await? {
                // Rolled back as it is dropped: the code stays unspent.
                return Err(AppError::ChallengeExpired);
            }
            let remember = challenge.remember_me;
            let done = SignInDone::Factor(code.proof());
            Some(finish_sign_in(&mut tx, state, user, remember, done, meta))
        }
        mfa::Verdict::Refused { .. } => None,
    };
    tx.commit().await?;
    let Some(session) = session else {
        // A refusal: settling it sends its alerts and answers its error.
        mfa::settle(state, user, verdict, meta).await?;
        return Err(AppError::Internal);
    };
    state.metrics.sign_in(SignIn::SignedIn);
    // NIST SP 800-63B-4: a used backup code is replaced at once, so the set
    // stays whole; the new code is shown once on the next page.
    if req.method == SecondFactor::BackupCode {
        let code = backup_codes::add_one(&state.pool, &state.settings.key, challenge.user).await?;
        sessions::hold_replacement_code(&state.pool, &state.settings.key, &session.token, &code)
            .await?;
        let left = backup_codes::remaining(&state.pool, challenge.user).await?;
        alerts::send(state, challenge.user, Alert::BackupCodeUsed { left }, meta).await?;
    }
    let device = if req.trust_device {
        let (token, label) = devices::trust(&state.pool, challenge.user, now, meta).await?;
        audit::record(
            &state.pool,
            Some(challenge.user),
            EventKind::DeviceTrusted,
            now,
            meta,
            &label,
        )
        .await;
        alerts::send(state, challenge.user, Alert::DeviceTrusted { label }, meta).await?;
        Some(token)
    } else {
        None
    };
    Ok(FactorGrant { session, device })
}

/// How a sign-in was completed, for its session and audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignInDone {
    Password,
    TrustedDevice,
    /// The password, then a second factor (which one: the proof).
    Factor(sessions::Proof),
    /// A passkey with user verification alone: two factors in one.
    Passkey(sessions::Proof),
    /// The password and an emailed code at the end of a recovery: the old
    /// factors are gone, new ones are to be set up.
    Recovery,
}

/// The session a finished recovery begins, inside its write transaction.
pub fn finish_recovery(
    tx: &mut db::WriteTx,
    state: &AppState,
    user: UserId,
    remember_me: bool,
    meta: &ClientMeta,
) -> NewSession {
    finish_sign_in(tx, state, user, remember_me, SignInDone::Recovery, meta)
}

/// A completed sign-in inside the caller's write transaction: the session
/// (a second factor proven or not) and its audit row.
fn finish_sign_in(
    tx: &mut db::WriteTx,
    state: &AppState,
    user: UserId,
    remember_me: bool,
    done: SignInDone,
    meta: &ClientMeta,
) -> NewSession {
    let now = state.clock.now();
    let proof = match done {
        SignInDone::Password | SignInDone::TrustedDevice | SignInDone::Recovery => {
            sessions::Proof::Password
        }
        SignInDone::Factor(proof) | SignInDone::Passkey(proof) => proof,
    };
    let session = sessions::create_in(tx, state, user, remember_me, proof, now, meta);
    let detail = match done {
        SignInDone::Password => "",
        SignInDone::TrustedDevice => "trusted device",
        SignInDone::Factor(_) => "second factor",
        SignInDone::Passkey(_) => "passkey",
        SignInDone::Recovery => "recovery",
    };
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::LoginSucceeded,
        now,
        meta,
        detail,
    );
    session
}

async fn find_credentials(pool: &AnyPool, email: &str) -> Result<Option<(i64, String)>, AppError> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
        .map_err(|e| internal("looking up credentials", e))
}

/// `POST /api/webauthn/login/finish`: signs in with a passkey alone. The
/// authenticator verified its user (PIN or biometrics) and holds the key, so
/// the session counts as password and second factor, fresh for the
/// re-authentication window. A refused answer counts as a failed factor of
/// the account it named (and of the client's address), like a wrong code.
pub async fn passkey_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    req: crate::api::PasskeyLoginRequest,
    meta: &ClientMeta,
) -> Result<NewSession, AppError> {
    let now = state.clock.now();
    let token = cookies::passkey_token(headers);
    let (user, assertion) =
        crate::backend::factors::passkeys::check_discoverable(state, token, req.credential, now)
            .await?;
    let scopes = match user {
        Some(user) => mfa::with_address(Scope::Factor(user.0), meta),
        None => meta
            .ip
            .as_deref()
            .map(|ip| vec![Scope::Ip(rate_limit::address_bucket(ip))])
            .unwrap_or_default(),
    };
    let mut tx = db::begin_write(&state.writer).await?;
    let attempt = rate_limit::reserve_in(&mut tx, &state.settings.limits, &scopes, now).await?;
    let verdict = match user {
        Some(user) => {
            crate::backend::factors::passkeys::accept_in(&mut tx, &assertion, user, meta, now)
                .await?
        }
        None => {
            // Spend the ceremony all the same.
            if !crate::backend::factors::passkeys::ceremonies::take(
                &mut tx,
                &assertion.token,
                assertion.purpose,
                now,
            )
            .await?
            {
                return Err(AppError::ChallengeExpired);
            }
            Err(assertion
                .outcome
                .as_ref()
                .err()
                .cloned()
                .unwrap_or(AppError::InvalidCredentials))
        }
    };
    // Only a key of the account it names can be accepted.
    let verdict = match (user, verdict) {
        (Some(user), Ok(_factor)) => Ok(user),
        (_, Err(error)) => Err(error),
        (None, Ok(_)) => Err(AppError::InvalidCredentials),
    };
    match verdict {
        Ok(user) => {
            mfa::accepted_in(&mut tx, state, user, SecondFactor::Passkey, attempt, meta);
            let proof = sessions::Proof::Key {
                synced: assertion.synced(),
            };
            let done = SignInDone::Passkey(proof);
            let session = finish_sign_in(&mut tx, state, user, false, done, meta);
            tx.commit().await?;
            state.metrics.sign_in(SignIn::SignedIn);
            Ok(session)
        }
        Err(error) => {
            let method = SecondFactor::Passkey;
            let failure = mfa::refused_in(&mut tx, state, user, method, attempt, &error, meta);
            tx.commit().await?;
            if let Some(user) = user {
                let key_name = assertion.key_name.clone();
                mfa::announce_failure(state, user, failure, meta).await?;
                crate::backend::factors::passkeys::announce_refusal(
                    state, user, key_name, &error, meta,
                )
                .await?;
            }
            Err(error)
        }
    }
}
