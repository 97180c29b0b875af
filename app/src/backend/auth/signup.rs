//! Creating accounts, as the operator chose (`--signup`):
//! - `confirm` (default): the account exists once the address is confirmed
//!   from a mailed single-use link, and the answer to a sign-up is the same
//!   whether the address is new or taken (the owner of a taken one is told);
//! - `open`: at once, signed in (reveals taken addresses; for closed networks
//!   and trying it out);
//! - `closed`: only admins add people, by invitation.
//!
//! Every sign-up costs an argon2 hash, so it is limited per client address.

use crate::api::{AppError, RegisterRequest, SignUpStarted};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::links::{self, NewLink, Purpose};
use crate::backend::auth::passwords::{self, Password};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::auth::sessions::{self, NewSession};
use crate::backend::{AppState, ClientMeta, UserId, auth::validation, internal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    #[default]
    Confirm,
    Open,
    Closed,
}

/// What a sign-up led to.
#[derive(Debug)]
pub enum Registered {
    /// `open`: the account exists and is signed in.
    SignedIn(UserId, NewSession),
    /// `confirm`: a link went to the address (whoever owns it).
    CheckEmail(SignUpStarted),
}

pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    meta: &ClientMeta,
) -> Result<Registered, AppError> {
    if state.settings.signup == SignupMode::Closed {
        return Err(AppError::SignUpClosed);
    }
    // What the input alone decides may be said: it reveals nothing.
    let email = validation::normalize_email(&req.email)?;
    validation::check_password(&req.password, &email)?;
    let now = state.clock.now();
    if let Some(ip) = &meta.ip {
        let scopes = [Scope::SignUp(rate_limit::address_bucket(ip))];
        rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now)
            .await?
            .keep();
    }
    let hash = passwords::hash(&state.hash_pool, Password::new(req.password)).await?;
    if state.settings.signup == SignupMode::Open {
        let user = insert_user(state, &email, &hash.0, now)
            .await?
            .ok_or(AppError::EmailTaken)?;
        let session = start(state, user, meta, "").await?;
        return Ok(Registered::SignedIn(user, session));
    }
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| internal("looking up an address", e))?;
    // Someone could sign up with an address over and over to flood its
    // mailbox: past a few mails an hour, no more go out, whichever branch
    // (the answer stays the same).
    let flooded = recent_signup_mails(state, &email, taken.map(UserId), now).await?
        >= MAILS_PER_ADDRESS_PER_HOUR;
    match taken {
        _ if flooded => {}
        Some(id) => alerts::send(state, UserId(id), Alert::SignUpAttempt, meta).await?,
        None => {
            let link = links::create(
                state,
                NewLink {
                    purpose: Purpose::Signup,
                    user: None,
                    email: &email,
                    password_hash: Some(&hash.0),
                },
                now,
            )
            .await?;
            let text = format!(
                "Someone (hopefully you) asked to create a Twofold account for this address.\n\n\
                 To finish, open this link (it works once, for 24 hours):\n\n{link}\n\n\
                 If it was not you, do not open the link and ignore this message: no \
                 account is made without it."
            );
            let subject = "Confirm your email for Twofold";
            state.settings.mailer.send_later(&email, subject, text);
            links::log_for_first_try(state, &email, &link);
        }
    }
    Ok(Registered::CheckEmail(SignUpStarted {
        email,
        expires_in_s: links::SIGNUP_TTL_S as u64,
    }))
}

/// Sign-up mails (links, or "someone tried" alerts) one address gets per hour.
pub const MAILS_PER_ADDRESS_PER_HOUR: i64 = 3;

/// Sign-up mails sent to `email` in the last hour.
async fn recent_signup_mails(
    state: &AppState,
    email: &str,
    taken: Option<UserId>,
    now: i64,
) -> Result<i64, AppError> {
    let query = match taken {
        Some(user) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM security_events WHERE user_id = $1 AND kind = 'AlertSent'
             AND detail = 'SignUpAttempt' AND at > $2",
        )
        .bind(user.0),
        None => sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_tokens WHERE email = $1 AND purpose = 'signup'
             AND created_at > $2",
        )
        .bind(email),
    };
    query
        .bind(now - 3600)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| internal("counting sign-up mails", e))
}

/// `POST /api/auth/confirm-email {token}`: creates the account the link was
/// mailed for and signs it in.
pub async fn confirm_email(
    state: &AppState,
    token: &str,
    meta: &ClientMeta,
) -> Result<(UserId, NewSession), AppError> {
    let now = state.clock.now();
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let link = links::redeem(tx.conn()?, Purpose::Signup, token, now)
        .await?
        .ok_or_else(links::invalid_link)?;
    let hash = link.password_hash.ok_or_else(links::invalid_link)?;
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO users (email, password_hash, created_at, email_confirmed_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&link.email)
    .bind(&hash)
    .bind(now)
    .bind(now)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("inserting a user", e))?;
    // Two links for one address: the first one used made the account.
    let (id,) = inserted.ok_or_else(links::invalid_link)?;
    tx.commit().await?;
    let user = UserId(id);
    let session = start(state, user, meta, "address confirmed").await?;
    Ok((user, session))
}

/// An admin adds someone (`closed` mode, or any mode): the account exists
/// with no usable password until its owner sets one from the mailed link.
pub async fn invite(state: &AppState, email: &str, meta: &ClientMeta) -> Result<String, AppError> {
    let email = validation::normalize_email(email)?;
    let now = state.clock.now();
    // A random password nobody knows: the account answers sign-in attempts
    // like any other (same argon2 cost), and cannot be entered until set.
    let unknown = crate::backend::auth::sessions::SessionToken::generate();
    let hash = passwords::hash(
        &state.hash_pool,
        Password::new(unknown.expose().to_string()),
    )
    .await?;
    let user = insert_user(state, &email, &hash.0, now)
        .await?
        .ok_or(AppError::EmailTaken)?;
    // Unconfirmed until the link is used: no email codes before that.
    sqlx::query("UPDATE users SET email_confirmed_at = NULL WHERE id = $1")
        .bind(user.0)
        .execute(&state.pool)
        .await
        .map_err(|e| internal("marking an invitation", e))?;
    let link = links::create(
        state,
        NewLink {
            purpose: Purpose::Invite,
            user: Some(user),
            email: &email,
            password_hash: None,
        },
        now,
    )
    .await?;
    let text = format!(
        "You were invited to Twofold, where you will sign in as {email}.\n\n\
         Choose your password here (the link works once, for 7 days):\n\n{link}"
    );
    state
        .settings
        .mailer
        .send_later(&email, "You are invited to Twofold", text);
    audit::record(
        &state.pool,
        Some(user),
        EventKind::Registered,
        now,
        meta,
        "invited",
    )
    .await;
    Ok(link)
}

/// `POST /api/auth/set-password {token, password}`: the invited person
/// chooses a password, which confirms the address, and is signed in.
pub async fn set_password(
    state: &AppState,
    token: &str,
    password: String,
    meta: &ClientMeta,
) -> Result<(UserId, NewSession), AppError> {
    let now = state.clock.now();
    // Check the password before using the link, so a weak one can be retried.
    let email: Option<String> = sqlx::query_scalar(
        "SELECT email FROM email_tokens WHERE token_hash = $1 AND purpose = 'invite'
         AND used_at IS NULL AND expires_at > $2",
    )
    .bind(crate::backend::auth::sessions::SessionToken::from_cookie(token.trim()).hash())
    .bind(now)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| internal("reading a link", e))?;
    let email = email.ok_or_else(links::invalid_link)?;
    validation::check_password(&password, &email)?;
    let hash = passwords::hash(&state.hash_pool, Password::new(password)).await?;
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let link = links::redeem(tx.conn()?, Purpose::Invite, token, now)
        .await?
        .ok_or_else(links::invalid_link)?;
    let user = link.user.ok_or_else(links::invalid_link)?;
    sqlx::query("UPDATE users SET password_hash = $1, email_confirmed_at = $2 WHERE id = $3")
        .bind(&hash.0)
        .bind(now)
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("setting a password", e))?;
    tx.commit().await?;
    let session = start(state, user, meta, "password set from an invitation").await?;
    Ok((user, session))
}

async fn insert_user(
    state: &AppState,
    email: &str,
    hash: &str,
    now: i64,
) -> Result<Option<UserId>, AppError> {
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO users (email, password_hash, created_at, email_confirmed_at)
         VALUES ($1, $2, $3, NULL) ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(hash)
    .bind(now)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| internal("inserting a user", e))?;
    Ok(inserted.map(|(id,)| UserId(id)))
}

/// The new account's first session, recorded.
async fn start(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
    detail: &str,
) -> Result<NewSession, AppError> {
    let now = state.clock.now();
    audit::record(
        &state.pool,
        Some(user),
        EventKind::Registered,
        now,
        meta,
        detail,
    )
    .await;
    sessions::create(state, user, false, sessions::Proof::Password, now, meta).await
}
