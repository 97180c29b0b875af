//! A forgotten password, reset from a link sent by mail. The request answers
//! the same for every address (no enumeration); the link is single use and
//! lives 30 minutes. The reset never skips the second factor (ASVS 5.0
//! 6.4.3): with MFA on, one of the account's factors must answer too, and
//! never an email code (the link already came by mail: one channel is one
//! factor). Success ends every session and app token, forgets trusted
//! devices and mails an alert.

use http::HeaderMap;

use crate::api::{
    AppError, MfaState, ResetCompleteRequest, ResetInfo, ResetRequested, SecondFactor,
};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::links::{self, NewLink, Purpose};
use crate::backend::auth::passwords::{self, Password};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::auth::{challenges, cookies, sessions, sign_in, validation};
use crate::backend::factors::{devices, mfa, passkeys, phones};
use crate::backend::infra::db;
use crate::backend::{AppState, ClientMeta, UserId, internal};

/// Reset links one account may get in an hour.
pub const LINKS_PER_HOUR: i64 = 3;

pub const SAME_ANSWER: &str = "If an account uses this address, we sent it a link to choose a \
     new password. It works once, for 30 minutes.";

/// `POST /api/auth/password-reset/request {email}`. Every address gets the
/// same answer after the same work: a lookup, and a mail queued in the
/// background when an account exists (and has had fewer than 3 links this
/// hour). Requests are limited per client address.
pub async fn request(
    state: &AppState,
    email: &str,
    meta: &ClientMeta,
) -> Result<ResetRequested, AppError> {
    // What the input alone decides may be said: it reveals nothing.
    let email = validation::normalize_email(email)?;
    let now = state.clock.now();
    if let Some(ip) = &meta.ip {
        let scopes = [Scope::PasswordReset(rate_limit::address_bucket(ip))];
        rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now)
            .await?
            .keep();
    }
    let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| internal("finding an account", e))?;
    // The same statements run for an unknown address (a link row that the
    // budget of 0 never inserts, an audit row without an account), so the
    // answer takes the same time.
    let user = user.map(UserId);
    let link = NewLink {
        purpose: Purpose::Reset,
        user,
        email: &email,
        password_hash: None,
    };
    let budget = if user.is_some() { LINKS_PER_HOUR } else { 0 };
    if let Some(link) = links::create_limited(state, link, budget, now).await? {
        let text = format!(
            "Someone asked to reset the password of your {issuer} account. To choose a new \
             password, open this link (it works once, for 30 minutes):\n\n{link}\n\n\
             If your account has two-factor authentication, you will also need one of your \
             factors.\n\nIf it was not you, ignore this mail: your password stays as it \
             is.\n\nWhen: {}\nFrom: {}",
            crate::api::display::format_utc(now),
            meta.ip.as_deref().unwrap_or("unknown address"),
            issuer = state.settings.issuer,
        );
        state.settings.mailer.send_later(
            &email,
            &format!("Reset your {} password", state.settings.issuer),
            text,
        );
    }
    audit::record(
        &state.pool,
        user,
        EventKind::PasswordResetRequested,
        now,
        meta,
        "",
    )
    .await;
    Ok(ResetRequested {
        message: SAME_ANSWER.into(),
    })
}

/// The account a live reset link belongs to.
async fn account_of(state: &AppState, token: &str) -> Result<(UserId, String), AppError> {
    links::peek(&state.pool, Purpose::Reset, token, state.clock.now())
        .await?
        .ok_or_else(links::invalid_link)
}

/// The ways the account can answer at a reset: its factors and backup codes,
/// never email codes.
async fn methods(state: &AppState, user: UserId) -> Result<Vec<SecondFactor>, AppError> {
    let mut methods = sign_in::methods_of(state, user).await?;
    methods.retain(|m| *m != SecondFactor::EmailCode);
    Ok(methods)
}

/// `POST /api/auth/password-reset/info {token}`: whether the reset page
/// must ask for a factor, and which.
pub async fn info(state: &AppState, token: &str) -> Result<ResetInfo, AppError> {
    let (user, _) = account_of(state, token).await?;
    let now = state.clock.now();
    let mfa = mfa::state_of(&state.pool, user, now).await? == MfaState::Enabled;
    Ok(ResetInfo {
        mfa,
        methods: if mfa {
            methods(state, user).await?
        } else {
            Vec::new()
        },
    })
}

/// `POST /api/auth/password-reset/passkey/start {token}`: passkey options
/// for the link's account.
pub async fn passkey_start(
    state: &AppState,
    token: &str,
    meta: &ClientMeta,
) -> Result<passkeys::Started, AppError> {
    let (user, _) = account_of(state, token).await?;
    passkeys::second_factor_start(state, user, meta).await
}

/// `POST /api/auth/password-reset/sms-code {token}`: a code by text to the
/// link's account.
pub async fn send_sms_code(
    state: &AppState,
    token: &str,
    meta: &ClientMeta,
) -> Result<crate::api::SmsCodeSent, AppError> {
    let (user, _) = account_of(state, token).await?;
    phones::send_sign_in_code(state, user, meta).await
}

/// `POST /api/auth/password-reset/complete`. Bad input and a refused factor
/// change nothing (the link still works; the failure is counted toward the
/// lockout). The link is spent in the transaction that sets the password, so
/// of racing completions one wins.
pub async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    req: ResetCompleteRequest,
    meta: &ClientMeta,
) -> Result<u32, AppError> {
    let now = state.clock.now();
    let (user, email) = account_of(state, &req.token).await?;
    validation::check_password(&req.password, &email)?;
    let mfa_on = mfa::state_of(&state.pool, user, now).await? == MfaState::Enabled;
    let factor = if mfa_on {
        let method = req.method.ok_or_else(|| {
            AppError::validation(
                "method",
                "Your account has two-factor authentication: answer with one of your factors too.",
            )
        })?;
        if !methods(state, user).await?.contains(&method) {
            return Err(AppError::validation(
                "method",
                "Use one of your factors: an authenticator app, a passkey, a phone or a backup \
                 code (not a code by email: this link came by email).",
            ));
        }
        Some(match method {
            SecondFactor::Passkey => {
                let token = cookies::passkey_token(headers);
                mfa::prepare_passkey(state, user, token, req.credential).await?
            }
            method => mfa::prepare(state, user, method, &req.code).await?,
        })
    } else {
        None
    };
    let hash = passwords::hash(&state.hash_pool, Password::new(req.password)).await?;
    let mut tx = db::begin_write(&state.writer).await?;
    if let Some(factor) = &factor {
        let verdict = mfa::check_in(&mut tx, state, user, factor, meta, mfa::Asker::Reset).await?;
        if let mfa::Verdict::Refused { .. } = verdict {
            // The failure stays counted; the password and the link do not change.
            tx.commit().await?;
            mfa::settle(state, user, verdict, meta).await?;
            return Err(AppError::Internal);
        }
    }
    if links::redeem(tx.conn()?, Purpose::Reset, &req.token, now)
        .await?
        .is_none()
    {
        // Rolled back as it is dropped: a racing completion won.
        return Err(links::invalid_link());
    }
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash.0)
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("resetting the password", e))?;
    let ended = sessions::revoke_all(tx.conn()?, user, None).await?;
    let forgotten = devices::revoke(tx.conn()?, user, None).await?;
    crate::backend::oidc::tokens::revoke_all(tx.conn()?, user, None, now).await?;
    challenges::cancel_all(tx.conn()?, user).await?;
    // Other reset links for the account die with this one.
    sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'reset'
         AND used_at IS NULL",
    )
    .bind(now)
    .bind(user.0)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("spending other reset links", e))?;
    let detail = format!("{ended} sessions ended, {forgotten} devices forgotten");
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::PasswordReset,
        now,
        meta,
        &detail,
    );
    tx.commit().await?;
    // The mailbox (and the factor) were proven: the password lock, if any,
    // is lifted so the new password works at once.
    let scopes = [Scope::Password(email), Scope::OwnerPassword(user.0)];
    rate_limit::reset(&state.writer, &scopes).await?;
    alerts::send(state, user, Alert::PasswordReset, meta).await?;
    Ok(ended)
}
