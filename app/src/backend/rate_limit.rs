//! Brute-force protection, kept in the database so it survives restarts and
//! holds across instances: failures are rows, and a scope is locked while it
//! has `max` failures inside the sliding window.

use sqlx::SqlitePool;

use super::clock::UnixTime;
use super::internal;
use crate::api::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures per account (password, or second factor) before lockout.
    pub account_max: u32,
    /// Failures per client address before it is locked out.
    pub ip_max: u32,
    pub window_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            account_max: 5,
            ip_max: 50,
            window_s: 15 * 60,
        }
    }
}

/// What a failure counts against. Password failures are keyed by the email
/// typed, not the account, so unknown emails lock out exactly like known ones
/// and lockouts reveal nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Password(String),
    Factor(i64),
    Ip(String),
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::Password(email) => format!("password:{email}"),
            Scope::Factor(user) => format!("factor:{user}"),
            Scope::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

/// The rule: with failure times `times` (ascending, all inside the window),
/// how long until fewer than `max` remain in the window; `None` if not locked.
pub fn retry_after(times: &[UnixTime], max: u32, window_s: i64, now: UnixTime) -> Option<u64> {
    let max = max.max(1) as usize;
    if times.len() < max {
        return None;
    }
    // The lock lifts when the failure that made the count reach `max` ages out.
    let pivot = times[times.len() - max];
    let wait = pivot + window_s - now;
    (wait > 0).then_some(wait as u64)
}

async fn failures_in_window(
    pool: &SqlitePool,
    scope: &Scope,
    window_s: i64,
    now: UnixTime,
) -> Result<Vec<UnixTime>, AppError> {
    sqlx::query_scalar("SELECT at FROM auth_failures WHERE scope = ? AND at > ? ORDER BY at")
        .bind(scope.key())
        .bind(now - window_s)
        .fetch_all(pool)
        .await
        .map_err(|e| internal("reading failures", e))
}

/// Refuses with `TooManyAttempts` when any of the scopes is locked.
pub async fn check(
    pool: &SqlitePool,
    limits: &Limits,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<(), AppError> {
    let mut longest: Option<u64> = None;
    for scope in scopes {
        let max = match scope {
            Scope::Ip(_) => limits.ip_max,
            _ => limits.account_max,
        };
        let times = failures_in_window(pool, scope, limits.window_s, now).await?;
        if let Some(wait) = retry_after(&times, max, limits.window_s, now) {
            longest = Some(longest.map_or(wait, |l| l.max(wait)));
        }
    }
    match longest {
        Some(retry_after_s) => Err(AppError::TooManyAttempts { retry_after_s }),
        None => Ok(()),
    }
}

pub async fn record_failure(
    pool: &SqlitePool,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<(), AppError> {
    for scope in scopes {
        sqlx::query("INSERT INTO auth_failures (scope, at) VALUES (?, ?)")
            .bind(scope.key())
            .bind(now)
            .execute(pool)
            .await
            .map_err(|e| internal("recording a failure", e))?;
    }
    Ok(())
}

/// A success clears the account's counter (not the address's).
pub async fn reset(pool: &SqlitePool, scope: &Scope) -> Result<(), AppError> {
    sqlx::query("DELETE FROM auth_failures WHERE scope = ?")
        .bind(scope.key())
        .execute(pool)
        .await
        .map_err(|e| internal("resetting failures", e))?;
    Ok(())
}

/// Account scopes (password by email, second factor by id) locked right now,
/// as `(email, user id)` hints: one of the two is set per entry.
pub async fn locked_accounts(
    pool: &SqlitePool,
    limits: &Limits,
    now: UnixTime,
) -> Result<Vec<(Option<String>, Option<i64>)>, AppError> {
    // Inside the window every failure still counts, so "locked" is exactly
    // "at least max failures in the window" (see `retry_after`).
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT scope FROM auth_failures WHERE at > ?
         AND (scope LIKE 'password:%' OR scope LIKE 'factor:%')
         GROUP BY scope HAVING COUNT(*) >= ?",
    )
    .bind(now - limits.window_s)
    .bind(i64::from(limits.account_max.max(1)))
    .fetch_all(pool)
    .await
    .map_err(|e| internal("counting lockouts", e))?;
    Ok(keys
        .into_iter()
        .map(|k| match k.split_once(':') {
            Some(("password", email)) => (Some(email.to_string()), None),
            Some((_, id)) => (None, id.parse().ok()),
            None => (None, None),
        })
        .collect())
}

/// Whether this failure is the one that locks the scope now (for the alert).
pub async fn just_locked(
    pool: &SqlitePool,
    limits: &Limits,
    scope: &Scope,
    now: UnixTime,
) -> Result<bool, AppError> {
    let times = failures_in_window(pool, scope, limits.window_s, now).await?;
    Ok(times.len() == limits.account_max as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_only_from_the_fifth_failure() {
        let now = 10_000;
        let times = [now - 50, now - 40, now - 30, now - 20];
        assert_eq!(retry_after(&times, 5, 900, now), None);
        let times = [now - 50, now - 40, now - 30, now - 20, now - 10];
        assert_eq!(retry_after(&times, 5, 900, now), Some(850));
    }

    #[test]
    fn lock_lifts_when_the_window_passes() {
        let times = [100, 110, 120, 130, 140];
        assert_eq!(retry_after(&times, 5, 900, 999), Some(1));
        assert_eq!(retry_after(&times, 5, 900, 1000), None);
    }

    #[test]
    fn more_failures_than_max_wait_for_the_right_one() {
        // Seven failures, max five: unlocked once only four remain, i.e. when
        // the third (at 120) ages out.
        let times = [100, 110, 120, 130, 140, 150, 160];
        assert_eq!(retry_after(&times, 5, 900, 200), Some(820));
    }

    #[test]
    fn scope_keys_do_not_collide() {
        assert_ne!(Scope::Factor(1).key(), Scope::Password("1".into()).key());
        assert_ne!(Scope::Ip("1".into()).key(), Scope::Factor(1).key());
    }
}
