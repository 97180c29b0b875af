//! Email one-time codes, a fallback second factor, at most 3 sent per
//! account per hour. The codes themselves (6 digits, 10 minutes, 5 tries,
//! keyed hashes, single use) follow `one_time_codes`.

use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::factors::one_time_codes::{self, Channel};
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::{UserId, internal};

pub use one_time_codes::CODE_TTL_S;
pub const SENDS_PER_HOUR: i64 = 3;

/// The rule for the hourly limit: given the send times of the last hour
/// (ascending), how long until another may go out; `None` if it may now.
pub fn send_wait(recent: &[UnixTime], now: UnixTime) -> Option<u64> {
    if (recent.len() as i64) < SENDS_PER_HOUR {
        return None;
    }
    let oldest_counted = recent[recent.len() - SENDS_PER_HOUR as usize];
    let wait = oldest_counted + 3600 - now;
    (wait > 0).then_some(wait as u64)
}

/// Whether codes by email may be used by `user`: the operator's policy
/// allows them and the address is confirmed (an unconfirmed address may not
/// be the account holder's at all).
pub async fn offered(pool: &AnyPool, user: UserId) -> Result<bool, AppError> {
    let row: Option<(
        crate::backend::infra::db::Flag,
        crate::backend::infra::db::Flag,
    )> = sqlx::query_as(
        "SELECT p.allow_email_codes, u.email_confirmed_at IS NOT NULL
         FROM users u, mfa_policy p WHERE u.id = $1 AND p.id = 1",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading whether email codes are offered", e))?;
    Ok(row.is_some_and(|(allowed, confirmed)| allowed.0 && confirmed.0))
}

pub fn not_offered() -> AppError {
    AppError::validation(
        "method",
        "Codes by email are not available for this account. Use your authenticator app or a backup code.",
    )
}

/// Makes a new code for `user` (replacing any earlier one) and returns it for
/// the mail. Refused with `TooManyAttempts` after 3 sends in an hour: the send
/// is counted and refused in one statement, so racing requests cannot all pass.
pub async fn issue(
    pool: &crate::backend::infra::db::Writer,
    key: &SecretKey,
    user: UserId,
    now: UnixTime,
) -> Result<String, AppError> {
    let mut tx = crate::backend::infra::db::begin_write(pool).await?;
    let counted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO email_code_sends (user_id, at)
         SELECT $1, $2 WHERE (SELECT COUNT(*) FROM email_code_sends
                              WHERE user_id = $1 AND at > $3) < $4
         RETURNING id",
    )
    .bind(user.0)
    .bind(now)
    .bind(now - 3600)
    .bind(SENDS_PER_HOUR)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("recording an email code send", e))?;
    if counted.is_none() {
        let recent: Vec<i64> = sqlx::query_scalar(
            "SELECT at FROM email_code_sends WHERE user_id = $1 AND at > $2 ORDER BY at",
        )
        .bind(user.0)
        .bind(now - 3600)
        .fetch_all(tx.conn()?)
        .await
        .map_err(|e| internal("counting email code sends", e))?;
        drop(tx);
        return Err(AppError::TooManyAttempts {
            retry_after_s: send_wait(&recent, now).unwrap_or(1),
        });
    }
    let code = one_time_codes::replace(tx.conn()?, key, Channel::Email, user, now).await?;
    tx.commit().await?;
    Ok(code)
}

/// Checks a typed code (see [`one_time_codes::take`]).
pub async fn verify(
    tx: &mut crate::backend::infra::db::WriteTx,
    key: &SecretKey,
    user: UserId,
    code: &str,
    now: UnixTime,
) -> Result<bool, AppError> {
    one_time_codes::take(tx, key, Channel::Email, user, code, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_sends_an_hour() {
        let now = 10_000;
        assert_eq!(send_wait(&[], now), None);
        assert_eq!(send_wait(&[now - 100, now - 50], now), None);
        assert_eq!(send_wait(&[now - 100, now - 50, now - 10], now), Some(3500));
        assert_eq!(send_wait(&[now - 3599, now - 50, now - 10], now), Some(1));
    }
}
