//! Single-use links sent by email: finish a sign-up, set a password from an
//! invitation, unlock an account after too many failures in a row. Only the
//! SHA-256 of a link's token is stored; a link works once, until it expires.

use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, ClientMeta, UserId, internal};

pub const SIGNUP_TTL_S: i64 = 24 * 60 * 60;
pub const INVITE_TTL_S: i64 = 7 * 24 * 60 * 60;
pub const UNLOCK_TTL_S: i64 = 24 * 60 * 60;
pub const RESET_TTL_S: i64 = 30 * 60;
/// A recovery's cancel link works while the recovery waits; this only
/// bounds how long a used-up row can stay.
pub const RECOVERY_CANCEL_TTL_S: i64 = 60 * 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Signup,
    Invite,
    Unlock,
    Reset,
    RecoveryCancel,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Signup => "signup",
            Purpose::Invite => "invite",
            Purpose::Unlock => "unlock",
            Purpose::Reset => "reset",
            Purpose::RecoveryCancel => "recovery-cancel",
        }
    }

    /// The page the link opens.
    pub fn page(self) -> &'static str {
        match self {
            Purpose::Signup => "/confirm-email",
            Purpose::Invite => "/set-password",
            Purpose::Unlock => "/unlock",
            Purpose::Reset => "/reset-password",
            Purpose::RecoveryCancel => "/recovery/cancel",
        }
    }

    fn ttl_s(self) -> i64 {
        match self {
            Purpose::Signup => SIGNUP_TTL_S,
            Purpose::Invite => INVITE_TTL_S,
            Purpose::Unlock => UNLOCK_TTL_S,
            Purpose::Reset => RESET_TTL_S,
            Purpose::RecoveryCancel => RECOVERY_CANCEL_TTL_S,
        }
    }
}

/// What a new link is about.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub purpose: Purpose,
    pub user: Option<UserId>,
    pub email: &'a str,
    /// A sign-up's password hash, kept until the address is confirmed.
    pub password_hash: Option<&'a str>,
}

/// Stores a link and returns its full URL under `--public-url`.
pub async fn create(
    state: &AppState,
    link: NewLink<'_>,
    now: UnixTime,
) -> Result<String, AppError> {
    let token = SessionToken::generate();
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, password_hash,
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.hash())
    .bind(link.purpose.as_str())
    .bind(link.user.map(|u| u.0))
    .bind(link.email)
    .bind(link.password_hash)
    .bind(now)
    .bind(now + link.purpose.ttl_s())
    .execute(&state.pool)
    .await
    .map_err(|e| internal("storing a link", e))?;
    Ok(format!(
        "{}{}?token={}",
        state.settings.public_url,
        link.purpose.page(),
        token.expose()
    ))
}

/// [`create`], unless `max` links for this purpose went to the account in
/// the last hour (`None` then). One statement decides, in a write
/// transaction, so racing requests (on any instance) cannot make more.
pub async fn create_limited(
    state: &AppState,
    link: NewLink<'_>,
    max: i64,
    now: UnixTime,
) -> Result<Option<String>, AppError> {
    let token = SessionToken::generate();
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let made = sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, password_hash,
         created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, $6, $7
         WHERE (SELECT COUNT(*) FROM email_tokens
                WHERE user_id = $3 AND purpose = $2 AND created_at > $6 - 3600) < $8",
    )
    .bind(token.hash())
    .bind(link.purpose.as_str())
    .bind(link.user.map(|u| u.0))
    .bind(link.email)
    .bind(link.password_hash)
    .bind(now)
    .bind(now + link.purpose.ttl_s())
    .bind(max)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("storing a link", e))?;
    if made.rows_affected() == 0 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(format!(
        "{}{}?token={}",
        state.settings.public_url,
        link.purpose.page(),
        token.expose()
    )))
}

/// The account a live link for `purpose` belongs to, without using it.
pub async fn peek(
    pool: &AnyPool,
    purpose: Purpose,
    token: &str,
    now: UnixTime,
) -> Result<Option<(UserId, String)>, AppError> {
    let token = SessionToken::from_cookie(token.trim());
    let row: Option<(Option<i64>, String)> = sqlx::query_as(
        "SELECT user_id, email FROM email_tokens
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(token.hash())
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading a link", e))?;
    Ok(row.and_then(|(user, email)| user.map(|u| (UserId(u), email))))
}

/// A link that was just used.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub user: Option<UserId>,
    pub email: String,
    pub password_hash: Option<String>,
}

/// Uses the link `token` for `purpose`: only one caller ever gets it, and
/// only before it expires. `None` for unknown, used, expired or foreign links.
pub async fn redeem(
    conn: &mut sqlx::AnyConnection,
    purpose: Purpose,
    token: &str,
    now: UnixTime,
) -> Result<Option<Redeemed>, AppError> {
    let token = SessionToken::from_cookie(token.trim());
    let row: Option<(Option<i64>, String, Option<String>)> = sqlx::query_as(
        "UPDATE email_tokens SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id, email, password_hash",
    )
    .bind(now)
    .bind(token.hash())
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| internal("using a link", e))?;
    Ok(row.map(|(user, email, password_hash)| Redeemed {
        user: user.map(UserId),
        email,
        password_hash,
    }))
}

pub fn invalid_link() -> AppError {
    AppError::validation(
        "token",
        "This link is not valid any more: it was used already or it expired.",
    )
}

/// A sign-up link is also logged when nobody could read mail otherwise: no
/// SMTP server, and Twofold reached on localhost (a first try on one's own
/// machine). Other links (a password to set, an unlock) never are.
pub fn log_for_first_try(state: &AppState, to: &str, link: &str) {
    let local = state.settings.public_url.starts_with("http://localhost:")
        || state.settings.public_url.starts_with("http://127.0.0.1:");
    if state.settings.log_links && local {
        tracing::info!("sign-up link for {to} (no SMTP server set; also in the outbox): {link}");
    }
}

/// Mails the owner a link that lifts the lock after too many failures in a
/// row (only a success, this link or an admin can).
pub async fn send_unlock(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let email = crate::backend::auth::accounts::email_of(&state.pool, user).await?;
    let link = create(
        state,
        NewLink {
            purpose: Purpose::Unlock,
            user: Some(user),
            email: &email,
            password_hash: None,
        },
        now,
    )
    .await?;
    let text = format!(
        "Too many wrong passwords or codes in a row were tried on your Twofold account, so \
         that way of signing in is locked until you unlock it.\n\nIf it was you, open this link \
         (it works once, for 24 hours) to unlock it:\n\n{link}\n\nIf it was not you, someone is \
         guessing: unlock it only when you want to sign in, and choose a strong password.\n\n\
         When: {}\nFrom: {}",
        crate::api::display::format_utc(now),
        meta.ip.as_deref().unwrap_or("unknown address"),
    );
    state
        .settings
        .mailer
        .send_later(&email, "Your Twofold sign-in is locked", text);
    audit::record(
        &state.pool,
        Some(user),
        EventKind::LockedOut,
        now,
        meta,
        "failures in a row reached the cap; unlock link mailed",
    )
    .await;
    Ok(())
}

/// `POST /api/auth/unlock {token}`: lifts every lock of the link's account.
pub async fn unlock(state: &AppState, token: &str, meta: &ClientMeta) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| internal("acquire", e))?;
    let link = redeem(&mut conn, Purpose::Unlock, token, now)
        .await?
        .ok_or_else(invalid_link)?;
    drop(conn);
    let user = link.user.ok_or_else(invalid_link)?;
    let scopes = crate::backend::auth::rate_limit::Scope::all_of(user.0, &link.email);
    crate::backend::auth::rate_limit::reset(&state.writer, &scopes).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AccountUnlocked,
        now,
        meta,
        "by the link mailed to the owner",
    )
    .await;
    Ok(())
}

/// Removes links that can no longer be used.
pub async fn purge(pool: &AnyPool, now: UnixTime) -> Result<u64, AppError> {
    sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL")
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| internal("removing old links", e))
}
