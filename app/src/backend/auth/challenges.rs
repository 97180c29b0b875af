//! The half-signed-in state: password right, second factor pending. A row of
//! its own with expiry, single use and an attempt counter, bound to a cookie.
//! It grants no access by itself.

use crate::api::AppError;
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, UserId, internal};

pub const CHALLENGE_TTL_S: i64 = 5 * 60;
pub const CHALLENGE_COOKIE: &str = "twofold_challenge";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub id: i64,
    pub user: UserId,
    pub remember_me: bool,
    pub expires_at: UnixTime,
}

/// Creates a challenge; the token (same shape as a session token) goes into
/// the challenge cookie, its hash into the row.
pub async fn create(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user: UserId,
    remember_me: bool,
    now: UnixTime,
) -> Result<SessionToken, AppError> {
    let token = SessionToken::generate();
    sqlx::query(
        "INSERT INTO login_challenges (token_hash, user_id, remember_me, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.hash())
    .bind(user.0)
    .bind(remember_me)
    .bind(now)
    .bind(now + CHALLENGE_TTL_S)
    .execute(db)
    .await
    .map_err(|e| internal("creating a challenge", e))?;
    Ok(token)
}

/// The live, unused challenge for a token.
pub async fn find(
    state: &AppState,
    token: &SessionToken,
    now: UnixTime,
) -> Result<Option<Challenge>, AppError> {
    let row: Option<(i64, i64, crate::backend::infra::db::Flag, i64)> = state
        .read_row(
            "looking up a challenge",
            "SELECT id, user_id, remember_me, expires_at FROM login_challenges
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            &[token.hash().into(), now.into()],
        )
        .await?;
    Ok(row.map(|(id, user, remember_me, expires_at)| Challenge {
        id,
        user: UserId(user),
        remember_me: remember_me.0,
        expires_at,
    }))
}

/// Wrong codes one challenge may take before it ends.
pub const TRIES_PER_CHALLENGE: i64 = 5;

/// Takes one of the challenge's tries; `false` when they are used up (or the
/// challenge is gone). Decided in one statement, so racing requests cannot
/// take more than there are.
pub async fn take_attempt(
    tx: &mut crate::backend::infra::db::WriteTx,
    id: i64,
    now: UnixTime,
) -> Result<bool, AppError> {
    let done = tx
        .execute(
            "counting a challenge attempt",
            "UPDATE login_challenges SET attempts = attempts + 1
             WHERE id = $1 AND attempts < $2 AND used_at IS NULL AND expires_at > $3",
            &[id.into(), TRIES_PER_CHALLENGE.into(), now.into()],
        )
        .await?;
    Ok(done == 1)
}

/// Ends every live challenge of the account: after a password change, MFA
/// turned off or reset, a half-finished sign-in must not complete.
pub async fn cancel_all(conn: &mut sqlx::AnyConnection, user: UserId) -> Result<u64, AppError> {
    sqlx::query("DELETE FROM login_challenges WHERE user_id = $1")
        .bind(user.0)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| internal("cancelling sign-in challenges", e))
}

/// Marks it used; only one caller can ever see `true`.
pub async fn complete(
    tx: &mut crate::backend::infra::db::WriteTx,
    id: i64,
    now: UnixTime,
) -> Result<bool, AppError> {
    let done = tx
        .execute(
            "completing a challenge",
            "UPDATE login_challenges SET used_at = $1
             WHERE id = $2 AND used_at IS NULL AND expires_at > $3",
            &[now.into(), id.into(), now.into()],
        )
        .await?;
    Ok(done == 1)
}
