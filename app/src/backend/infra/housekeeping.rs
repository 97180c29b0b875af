//! Deleting what has expired, at start and then every hour, so that an attack
//! (or plain use) cannot grow the database without bound: sessions, sign-in
//! challenges, failure rows outside every window, email codes and their send
//! records, used or expired links, old sign-in addresses, stale failure
//! streaks that never reached the cap, passkey ceremonies never finished,
//! text codes; and the halfway reminders of recoveries.

use std::time::Duration;

use crate::api::AppError;
use crate::backend::auth::owners::KNOWN_FOR_S;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, auth::links, internal};

pub const EVERY: Duration = Duration::from_secs(60 * 60);

/// A streak below the cap with no failure for this long is dropped (an
/// attacker typing made-up emails would otherwise leave one row each).
pub const STREAK_KEPT_S: i64 = 30 * 24 * 60 * 60;

/// How many rows one pass removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub sessions: u64,
    pub challenges: u64,
    pub failures: u64,
    pub streaks: u64,
    pub email_codes: u64,
    pub code_sends: u64,
    pub links: u64,
    pub addresses: u64,
    pub ceremonies: u64,
    /// Text codes (sign-in and phones being added) and send records.
    pub sms: u64,
}

impl Removed {
    pub fn total(&self) -> u64 {
        self.sessions
            + self.challenges
            + self.failures
            + self.streaks
            + self.email_codes
            + self.code_sends
            + self.links
            + self.addresses
            + self.ceremonies
            + self.sms
    }
}

/// One pass. Idempotent: several instances may run it at once.
pub async fn run_once(state: &AppState, now: UnixTime) -> Result<Removed, AppError> {
    let pool = &state.pool;
    let limits = &state.settings.limits;
    // The longest window any failure row can still count in.
    let failure_horizon = limits.window_s.max(3600);
    let exec = |sql: &'static str, bind: i64| async move {
        sqlx::query(sql)
            .bind(bind)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| internal("housekeeping", e))
    };
    let idle_default = state.settings.session_idle_s;
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1
         OR last_seen_at <= $1 - COALESCE(idle_timeout_s, $2)",
    )
    .bind(now)
    .bind(idle_default)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| internal("housekeeping", e))?;
    let streaks = sqlx::query("DELETE FROM failure_streaks WHERE updated_at <= $1 AND count < $2")
        .bind(now - STREAK_KEPT_S)
        .bind(i64::from(limits.streak_cap))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| internal("housekeeping", e))?;
    Ok(Removed {
        sessions,
        challenges: exec("DELETE FROM login_challenges WHERE expires_at <= $1", now).await?,
        failures: exec(
            "DELETE FROM auth_failures WHERE at <= $1",
            now - failure_horizon,
        )
        .await?,
        streaks,
        email_codes: exec("DELETE FROM email_codes WHERE expires_at <= $1", now).await?,
        code_sends: exec("DELETE FROM email_code_sends WHERE at <= $1", now - 3600).await?,
        links: links::purge(pool, now).await?,
        addresses: exec(
            "DELETE FROM known_addresses WHERE last_success_at <= $1",
            now - KNOWN_FOR_S,
        )
        .await?,
        ceremonies: exec(
            "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
            now,
        )
        .await?,
        sms: exec("DELETE FROM sms_codes WHERE expires_at <= $1", now).await?
            + exec("DELETE FROM phone_enrolments WHERE expires_at <= $1", now).await?
            // The daily cap looks back a day.
            + exec("DELETE FROM sms_sends WHERE at <= $1", now - 86_400).await?,
    })
}

/// Runs a pass now and then every hour, for as long as the server runs.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let now = state.clock.now();
            if let Err(e) = crate::backend::auth::recovery::remind_halfway(&state, now).await {
                tracing::warn!("recovery reminders failed: {e}");
            }
            match run_once(&state, now).await {
                Ok(removed) if removed.total() > 0 => {
                    tracing::info!("housekeeping removed expired rows: {removed:?}");
                }
                Ok(_) => {}
                Err(_) => tracing::warn!("housekeeping failed; it runs again in an hour"),
            }
        }
    });
}
