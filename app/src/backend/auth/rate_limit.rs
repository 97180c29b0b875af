//! Brute-force protection, kept in the database so it survives restarts and
//! holds across instances.
//!
//! Every guess is *reserved* before the work (argon2, a code check) in one
//! transaction that counts and refuses together: of N parallel guesses, never
//! more than the budget get through. A reservation is a failure row already;
//! a success deletes it again (and clears the account's counter), a failure
//! just keeps it. Each account budget also has a streak of failures in a row
//! (NIST SP 800-63B-4 3.2.2): at the cap only a success, an emailed unlock
//! link or an admin opens it again.

use std::net::IpAddr;

use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::internal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures per account budget (password, or second factor) in the window.
    pub account_max: u32,
    /// Failures per client address (IPv4, or an IPv6 /64) in the window.
    pub ip_max: u32,
    pub window_s: i64,
    /// Failures in a row per account budget before only an unlock helps.
    pub streak_cap: u32,
    /// Sign-up attempts per address per hour (each costs an argon2 hash).
    pub signup_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            account_max: 5,
            ip_max: 50,
            window_s: 15 * 60,
            streak_cap: 100,
            signup_per_hour: 20,
        }
    }
}

/// Password-reset requests per client address per hour.
pub const RESETS_PER_ADDRESS_HOUR: u32 = 10;

/// What a guess counts against. Each account has separate budgets, so that
/// failures by a stranger never lock its owner out:
/// - password sign-in by anyone (keyed by the email typed, so unknown emails
///   lock out exactly like known ones and lockouts reveal nothing), and by the
///   owner (a trusted device, or an address that signed in within 30 days);
/// - second factors at the sign-in challenge, by anyone and by the owner;
/// - the password and codes asked again inside a signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Password(String),
    OwnerPassword(i64),
    Factor(i64),
    OwnerFactor(i64),
    SessionPassword(i64),
    SessionFactor(i64),
    /// A client address bucket (see [`address_bucket`]).
    Ip(String),
    /// Sign-ups from an address bucket.
    SignUp(String),
    /// Password-reset requests from an address bucket (each may send mail).
    PasswordReset(String),
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Scope::Password(email) => format!("password:{email}"),
            Scope::OwnerPassword(user) => format!("owner-password:{user}"),
            Scope::Factor(user) => format!("factor:{user}"),
            Scope::OwnerFactor(user) => format!("owner-factor:{user}"),
            Scope::SessionPassword(user) => format!("session-password:{user}"),
            Scope::SessionFactor(user) => format!("session-factor:{user}"),
            Scope::Ip(ip) => format!("ip:{ip}"),
            Scope::SignUp(ip) => format!("signup:{ip}"),
            Scope::PasswordReset(ip) => format!("reset:{ip}"),
        }
    }

    /// `(max in window, window)` for this scope.
    fn budget(&self, limits: &Limits) -> (u32, i64) {
        match self {
            Scope::Ip(_) => (limits.ip_max, limits.window_s),
            Scope::SignUp(_) => (limits.signup_per_hour, 3600),
            Scope::PasswordReset(_) => (RESETS_PER_ADDRESS_HOUR, 3600),
            _ => (limits.account_max, limits.window_s),
        }
    }

    /// Account budgets lock (alert, streak); address budgets only slow down.
    pub fn is_account(&self) -> bool {
        !matches!(
            self,
            Scope::Ip(_) | Scope::SignUp(_) | Scope::PasswordReset(_)
        )
    }

    /// Every account scope of a user (and the email typed at sign-in).
    pub fn all_of(user: i64, email: &str) -> Vec<Scope> {
        vec![
            Scope::Password(email.to_string()),
            Scope::OwnerPassword(user),
            Scope::Factor(user),
            Scope::OwnerFactor(user),
            Scope::SessionPassword(user),
            Scope::SessionFactor(user),
        ]
    }
}

/// The address a budget is kept for: an IPv4 address as is, an IPv6 address
/// by its /64 (one customer's block: an attacker holds all of it). IPv4-mapped
/// IPv6 is the IPv4 address. Anything unparsable is kept verbatim.
pub fn address_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, 64)
                .map(|n| n.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_string(),
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

const TIMES_IN_WINDOW: &str =
    "SELECT at FROM auth_failures WHERE scope = $1 AND at > $2 ORDER BY at";

async fn times_in_window(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    window_s: i64,
    now: UnixTime,
) -> Result<Vec<UnixTime>, AppError> {
    sqlx::query_scalar(TIMES_IN_WINDOW)
        .bind(key)
        .bind(now - window_s)
        .fetch_all(conn)
        .await
        .map_err(|e| internal("reading failures", e))
}

/// [`times_in_window`] inside a write transaction.
async fn times_in_window_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    key: &str,
    window_s: i64,
    now: UnixTime,
) -> Result<Vec<UnixTime>, AppError> {
    let args = [key.into(), (now - window_s).into()];
    let rows: Vec<(i64,)> = tx.rows("reading failures", TIMES_IN_WINDOW, &args).await?;
    Ok(rows.into_iter().map(|(at,)| at).collect())
}

/// An attempt that has been counted already; say how it ended.
#[derive(Debug)]
#[must_use = "a reservation is a failure until it is released or succeeds"]
pub struct Reservation {
    rows: Vec<i64>,
    /// [`count_in`]: the scopes whose failure rows are written only if the
    /// attempt fails ([`Reservation::failed_in`]), and when.
    pending: Vec<String>,
    at: UnixTime,
    streaks: Vec<String>,
    account: Option<Scope>,
    /// This attempt took the account budget's last slot in the window.
    last_slot: bool,
    /// This attempt took the streak's last slot before the cap.
    streak_full: bool,
}

/// What a failed attempt did to the account budget, for alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failure {
    /// The account is locked for the rest of the window, as of this failure.
    pub locked_now: bool,
    /// The failures in a row reached the cap: only an unlock helps now.
    pub capped_now: bool,
}

/// Counts an attempt against every scope, or refuses it: one transaction
/// checks and writes, so racing requests cannot all pass the check. Refused
/// with `TooManyAttempts` (a window is full) or `AccountLocked` (a streak is
/// at the cap); then nothing is counted.
pub async fn reserve(
    pool: &crate::backend::infra::db::Writer,
    limits: &Limits,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<Reservation, AppError> {
    let mut tx = crate::backend::infra::db::begin_write(pool).await?;
    let reservation = reserve_in(&mut tx, limits, scopes, now).await?;
    tx.commit().await?;
    Ok(reservation)
}

/// [`reserve`] inside the caller's write transaction (which must hold the
/// write lock: `db::begin_write`). On refusal the caller must roll back.
pub async fn reserve_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    limits: &Limits,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<Reservation, AppError> {
    let mut reservation = Reservation::new(now);
    for scope in scopes {
        let key = scope.key();
        let (max, window_s) = scope.budget(limits);
        let max = max.max(1);
        // The transaction holds the write lock (`db::begin_write`): the
        // count below cannot be raced. `count` is this attempt's place in
        // the window: SQLite's RETURNING subquery sees the new row,
        // PostgreSQL's sees the table as the statement found it.
        let sql = if tx.is_postgres() {
            "INSERT INTO auth_failures (scope, at)
             SELECT $1, $2 WHERE (SELECT COUNT(*) FROM auth_failures
                                  WHERE scope = $1 AND at > $3) < $4
             RETURNING id, (SELECT COUNT(*) FROM auth_failures WHERE scope = $1 AND at > $3) + 1"
        } else {
            "INSERT INTO auth_failures (scope, at)
             SELECT $1, $2 WHERE (SELECT COUNT(*) FROM auth_failures
                                  WHERE scope = $1 AND at > $3) < $4
             RETURNING id, (SELECT COUNT(*) FROM auth_failures WHERE scope = $1 AND at > $3)"
        };
        let args = [
            key.as_str().into(),
            now.into(),
            (now - window_s).into(),
            i64::from(max).into(),
        ];
        let row: Option<(i64, i64)> = tx.row("reserving an attempt", sql, &args).await?;
        let Some((id, count)) = row else {
            let times = times_in_window_in(tx, &key, window_s, now).await?;
            let retry_after_s = retry_after(&times, max, window_s, now).unwrap_or(1);
            return Err(AppError::TooManyAttempts { retry_after_s });
        };
        reservation.rows.push(id);
        if !scope.is_account() {
            continue;
        }
        let cap = i64::from(limits.streak_cap.max(1));
        let streak: Option<(i64,)> = tx
            .row(
                "counting failures in a row",
                "INSERT INTO failure_streaks (scope, count, updated_at) VALUES ($1, 1, $2)
                 ON CONFLICT (scope) DO UPDATE
                 SET count = failure_streaks.count + 1, updated_at = excluded.updated_at
                 WHERE failure_streaks.count < $3
                 RETURNING count",
                &[key.as_str().into(), now.into(), cap.into()],
            )
            .await?;
        let Some((streak,)) = streak else {
            return Err(AppError::AccountLocked);
        };
        reservation.streaks.push(key);
        if reservation.account.is_none() {
            reservation.account = Some(scope.clone());
            reservation.last_slot = count == i64::from(max);
            reservation.streak_full = streak == cap;
        }
    }
    Ok(reservation)
}

/// [`reserve_in`] for an attempt checked inside the same transaction: the
/// budgets are read, the attempt is written only if it fails
/// ([`Reservation::failed_in`]). Nothing can come between the count and
/// that write: the transaction holds the write lock (or, on PostgreSQL,
/// the locks of these scopes: `db::begin_keyed`) from the count to the
/// commit, so the limits hold as exactly as with [`reserve_in`], and a
/// success writes nothing here. Refused like [`reserve_in`].
pub async fn count_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    limits: &Limits,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<Reservation, AppError> {
    let mut reservation = Reservation::new(now);
    for scope in scopes {
        let key = scope.key();
        let (max, window_s) = scope.budget(limits);
        let max = i64::from(max.max(1));
        let (count,): (i64,) = tx
            .row(
                "counting failures",
                "SELECT COUNT(*) FROM auth_failures WHERE scope = $1 AND at > $2",
                &[key.as_str().into(), (now - window_s).into()],
            )
            .await?
            .unwrap_or((0,));
        if count >= max {
            let times = times_in_window_in(tx, &key, window_s, now).await?;
            let retry_after_s = retry_after(&times, max as u32, window_s, now).unwrap_or(1);
            return Err(AppError::TooManyAttempts { retry_after_s });
        }
        reservation.pending.push(key.clone());
        if !scope.is_account() {
            continue;
        }
        let cap = i64::from(limits.streak_cap.max(1));
        let (streak,): (i64,) = tx
            .row(
                "reading failures in a row",
                "SELECT count FROM failure_streaks WHERE scope = $1",
                &[key.as_str().into()],
            )
            .await?
            .unwrap_or((0,));
        if streak >= cap {
            return Err(AppError::AccountLocked);
        }
        reservation.streaks.push(key);
        if reservation.account.is_none() {
            reservation.account = Some(scope.clone());
            reservation.last_slot = count + 1 == max;
            reservation.streak_full = streak + 1 == cap;
        }
    }
    Ok(reservation)
}

impl Reservation {
    fn new(at: UnixTime) -> Self {
        Reservation {
            rows: Vec::new(),
            pending: Vec::new(),
            at,
            streaks: Vec::new(),
            account: None,
            last_slot: false,
            streak_full: false,
        }
    }

    /// The attempt failed: it stays counted.
    pub fn failed(self) -> Failure {
        debug_assert!(
            self.pending.is_empty(),
            "a counted attempt fails with failed_in"
        );
        Failure {
            locked_now: self.last_slot,
            capped_now: self.streak_full,
        }
    }

    /// The attempt failed, inside the caller's transaction: a [`count_in`]
    /// attempt writes its rows now (with the transaction's other deferred
    /// writes); a [`reserve_in`] one is written already.
    pub fn failed_in(mut self, tx: &mut crate::backend::infra::db::WriteTx) -> Failure {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            for key in pending {
                tx.later
                    .add("INSERT INTO auth_failures (scope, at) VALUES ($1, $2)")
                    .bind(key)
                    .bind(self.at);
            }
            for key in &self.streaks {
                tx.later
                    .add(
                        "INSERT INTO failure_streaks (scope, count, updated_at) VALUES ($1, 1, $2)
                         ON CONFLICT (scope) DO UPDATE
                         SET count = failure_streaks.count + 1, updated_at = excluded.updated_at",
                    )
                    .bind(key.clone())
                    .bind(self.at);
            }
        }
        self.failed()
    }

    /// The attempt succeeded: it is not a failure, and the account budget it
    /// was counted against starts over (the address's does not).
    pub async fn succeeded(self, pool: &crate::backend::infra::db::Writer) -> Result<(), AppError> {
        let mut tx = crate::backend::infra::db::begin_write(pool).await?;
        self.succeeded_in(&mut tx);
        tx.commit().await
    }

    /// [`Self::succeeded`] inside the caller's transaction.
    /// Nothing later in the transaction reads these rows, so the deletes
    /// wait with its other deferred writes.
    pub fn succeeded_in(self, tx: &mut crate::backend::infra::db::WriteTx) {
        let Some(scope) = &self.account else {
            if !self.rows.is_empty() {
                let delete = format!(
                    "DELETE FROM auth_failures WHERE id IN ({})",
                    parameters(1, self.rows.len())
                );
                let batch = tx.later.add(&delete);
                for id in self.rows {
                    batch.bind(id);
                }
            }
            return;
        };
        // The account's window and streak go; of the other scopes only this
        // attempt's rows.
        let key = scope.key();
        let delete = format!(
            "DELETE FROM auth_failures WHERE scope = $1 OR id IN ({})",
            parameters(2, self.rows.len())
        );
        let batch = tx.later.add(&delete);
        batch.bind(key.clone());
        for id in self.rows {
            batch.bind(id);
        }
        batch
            .add("DELETE FROM failure_streaks WHERE scope = $1")
            .bind(key);
    }

    /// Nothing was checked after all (bad input, a gone challenge): the
    /// attempt is taken back.
    pub async fn release(self, pool: &crate::backend::infra::db::Writer) -> Result<(), AppError> {
        let mut tx = crate::backend::infra::db::begin_write(pool).await?;
        delete_rows(tx.conn()?, &self.rows).await?;
        for key in &self.streaks {
            sqlx::query("UPDATE failure_streaks SET count = CASE WHEN count > 0 THEN count - 1 ELSE 0 END WHERE scope = $1")
                .bind(key)
                .execute(tx.conn()?)
                .await
                .map_err(|e| internal("releasing an attempt", e))?;
        }
        tx.commit().await
    }

    /// For budgets of events rather than failures (sign-ups, sends): the
    /// attempt stays counted whatever happens.
    pub fn keep(self) {}
}

/// `$first, $first+1, ...`: `n` parameters for an `IN (...)` list (never
/// empty: `NULL` when `n` is 0, which matches nothing). The text changes only
/// with the number of scopes, so the statements stay few and prepared.
fn parameters(first: usize, n: usize) -> String {
    if n == 0 {
        return "NULL".into();
    }
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn delete_rows(conn: &mut sqlx::AnyConnection, rows: &[i64]) -> Result<(), AppError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DELETE FROM auth_failures WHERE id IN ({})",
        parameters(1, rows.len())
    );
    let mut query = sqlx::query(&sql);
    for id in rows {
        query = query.bind(*id);
    }
    query
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("releasing an attempt", e))?;
    Ok(())
}

/// Clears a scope's window and streak.
async fn clear(conn: &mut sqlx::AnyConnection, scope: &Scope) -> Result<(), AppError> {
    let key = scope.key();
    for sql in [
        "DELETE FROM auth_failures WHERE scope = $1",
        "DELETE FROM failure_streaks WHERE scope = $1",
    ] {
        sqlx::query(sql)
            .bind(&key)
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("resetting failures", e))?;
    }
    Ok(())
}

/// Clears the scopes (an admin's or an emailed unlock).
pub async fn reset(
    pool: &crate::backend::infra::db::Writer,
    scopes: &[Scope],
) -> Result<(), AppError> {
    let mut tx = crate::backend::infra::db::begin_write(pool).await?;
    for scope in scopes {
        clear(tx.conn()?, scope).await?;
    }
    tx.commit().await
}

/// Whether any of the scopes would refuse an attempt now (read only).
pub async fn is_locked(
    pool: &AnyPool,
    limits: &Limits,
    scopes: &[Scope],
    now: UnixTime,
) -> Result<bool, AppError> {
    let mut conn = pool.acquire().await.map_err(|e| internal("acquire", e))?;
    for scope in scopes {
        let key = scope.key();
        let (max, window_s) = scope.budget(limits);
        let times = times_in_window(&mut conn, &key, window_s, now).await?;
        if retry_after(&times, max, window_s, now).is_some() {
            return Ok(true);
        }
        let streak: Option<i64> =
            sqlx::query_scalar("SELECT count FROM failure_streaks WHERE scope = $1")
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| internal("reading failures in a row", e))?;
        if scope.is_account() && streak.unwrap_or(0) >= i64::from(limits.streak_cap.max(1)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Account scopes locked right now (window full, or streak at the cap), as
/// `(email, user id)` hints: one of the two is set per entry.
pub async fn locked_accounts(
    pool: &AnyPool,
    limits: &Limits,
    now: UnixTime,
) -> Result<Vec<(Option<String>, Option<i64>)>, AppError> {
    // Inside the window every failure still counts, so "locked" is exactly
    // "at least max failures in the window" (see `retry_after`).
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT scope FROM auth_failures WHERE at > $1
         AND scope NOT LIKE 'ip:%' AND scope NOT LIKE 'signup:%'
         GROUP BY scope HAVING COUNT(*) >= $2
         UNION SELECT scope FROM failure_streaks WHERE count >= $3",
    )
    .bind(now - limits.window_s)
    .bind(i64::from(limits.account_max.max(1)))
    .bind(i64::from(limits.streak_cap.max(1)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite database and its writer.
    async fn writer() -> (tempfile::TempDir, crate::backend::infra::db::Writer) {
        use crate::backend::infra::db;
        let dir = tempfile::tempdir().expect("dir");
        let target = db::Target::Sqlite(dir.path().join("t.db"));
        let pool = db::open(&target).await.expect("open");
        db::migrate(&pool).await.expect("migrate");
        (dir, db::open_writer(&target).await.expect("writer"))
    }

    async fn rows(writer: &crate::backend::infra::db::Writer) -> (i64, i64) {
        let failures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures")
            .fetch_one(writer.pool())
            .await
            .expect("count");
        let streaks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM failure_streaks")
            .fetch_one(writer.pool())
            .await
            .expect("count");
        (failures, streaks)
    }

    #[tokio::test]
    async fn a_counted_attempt_writes_only_when_it_fails_and_the_budget_still_holds() {
        use crate::backend::infra::db;
        let (_dir, writer) = writer().await;
        let limits = Limits::default();
        let scopes = [Scope::Factor(7), Scope::Ip("10.0.0.1".into())];
        let now = 50_000;
        // A success writes nothing at all.
        let mut tx = db::begin_keyed(&writer, &[]).await.expect("begin");
        let attempt = count_in(&mut tx, &limits, &scopes, now)
            .await
            .expect("count");
        attempt.succeeded_in(&mut tx);
        tx.commit().await.expect("commit");
        assert_eq!(rows(&writer).await, (0, 0));
        // Failures are written, one row per scope and one streak; the last
        // slot says so; then the account budget refuses.
        for i in 1..=i64::from(limits.account_max) {
            let mut tx = db::begin_keyed(&writer, &[]).await.expect("begin");
            let attempt = count_in(&mut tx, &limits, &scopes, now + i)
                .await
                .expect("count");
            let failure = attempt.failed_in(&mut tx);
            tx.commit().await.expect("commit");
            assert_eq!(
                failure.locked_now,
                i == i64::from(limits.account_max),
                "try {i}"
            );
            assert_eq!(rows(&writer).await, (2 * i, 1));
        }
        let mut tx = db::begin_keyed(&writer, &[]).await.expect("begin");
        let refused = count_in(&mut tx, &limits, &scopes, now + 10).await;
        assert!(
            matches!(refused, Err(AppError::TooManyAttempts { .. })),
            "{refused:?}"
        );
        drop(tx);
        assert_eq!(rows(&writer).await, (2 * i64::from(limits.account_max), 1));
    }

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
        let all = [
            Scope::Password("1".into()),
            Scope::OwnerPassword(1),
            Scope::Factor(1),
            Scope::OwnerFactor(1),
            Scope::SessionPassword(1),
            Scope::SessionFactor(1),
            Scope::Ip("1".into()),
            Scope::SignUp("1".into()),
        ];
        let keys: std::collections::BTreeSet<String> = all.iter().map(Scope::key).collect();
        assert_eq!(keys.len(), all.len());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_address() {
        assert_eq!(
            address_bucket("2001:db8:1:2:aaaa::1"),
            address_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(address_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(
            address_bucket("2001:db8:1:2::1"),
            address_bucket("2001:db8:1:3::1")
        );
        assert_eq!(address_bucket("192.0.2.7"), "192.0.2.7");
        assert_ne!(address_bucket("192.0.2.7"), address_bucket("192.0.2.8"));
        assert_eq!(address_bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_bucket("not an ip"), "not an ip");
    }
}
