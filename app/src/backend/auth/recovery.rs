//! A way back for someone who lost every factor (phone, passkey, backup
//! codes): slow on purpose, and cancellable by the real owner.
//!
//! At the second-factor step (so the password is proven) the person starts
//! a recovery. It waits `--recovery-delay-h` (72 hours by default); an alert
//! with a one-click cancel link goes to the account's address at once and
//! again halfway. Cancelling ends every session. Admins see pending
//! recoveries and can cancel or approve one early. After the delay, the
//! password plus a fresh email code removes the old factors and leads into
//! enrolment (due at once when a policy covers the account).
//!
//! A thief with the password alone must also hold the mailbox for the whole
//! delay without the owner noticing two mails; GitHub does this by hand.

use http::HeaderMap;

use crate::api::{AppError, PendingRecovery, RecoveryStatus};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::challenges::{self, Challenge};
use crate::backend::auth::links::{self, NewLink, Purpose};
use crate::backend::auth::sessions::{self, NewSession};
use crate::backend::auth::{cookies, sign_in};
use crate::backend::factors::mfa;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::db;
use crate::backend::{AppState, ClientMeta, UserId, internal};

/// The rule: a recovery started at `started_at` with `delay_s` is ready at
/// `ready_at` (earlier if an admin approved it); the reminder is due halfway.
pub fn reminder_due(started_at: UnixTime, ready_at: UnixTime, now: UnixTime) -> bool {
    now >= started_at + (ready_at - started_at) / 2 && now < ready_at
}

async fn live_challenge(state: &AppState, headers: &HeaderMap) -> Result<Challenge, AppError> {
    let token = cookies::challenge_token(headers).ok_or(AppError::ChallengeExpired)?;
    challenges::find(state, &token, state.clock.now())
        .await?
        .ok_or(AppError::ChallengeExpired)
}

/// The account's pending recovery: `(id, started_at, ready_at)`.
async fn pending_of(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user: UserId,
) -> Result<Option<(i64, i64, i64)>, AppError> {
    sqlx::query_as(
        "SELECT id, started_at, ready_at FROM recoveries WHERE user_id = $1 AND ended IS NULL",
    )
    .bind(user.0)
    .fetch_optional(db)
    .await
    .map_err(|e| internal("reading a recovery", e))
}

/// Whether `user` has a recovery whose delay has passed (or that an admin
/// approved): then a fresh email code finishes it.
pub async fn ready_for(state: &AppState, user: UserId) -> Result<bool, AppError> {
    let now = state.clock.now();
    Ok(pending_of(&state.pool, user)
        .await?
        .is_some_and(|(_, _, ready_at)| ready_at <= now))
}

async fn email_confirmed(state: &AppState, user: UserId) -> Result<bool, AppError> {
    let confirmed: Option<crate::backend::infra::db::Flag> =
        sqlx::query_scalar("SELECT email_confirmed_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("reading the address", e))?;
    Ok(confirmed.is_some_and(|c| c.0))
}

async fn status_of(state: &AppState, user: UserId) -> Result<RecoveryStatus, AppError> {
    let now = state.clock.now();
    let pending = pending_of(&state.pool, user).await?;
    Ok(RecoveryStatus {
        pending: pending.is_some(),
        started_at: pending.map(|(_, started, _)| started),
        ready_at: pending.map(|(_, _, ready)| ready),
        ready: pending.is_some_and(|(_, _, ready)| ready <= now),
        email_confirmed: email_confirmed(state, user).await?,
    })
}

/// `GET /api/auth/recovery`, during a sign-in challenge.
pub async fn status(state: &AppState, headers: &HeaderMap) -> Result<RecoveryStatus, AppError> {
    let challenge = live_challenge(state, headers).await?;
    status_of(state, challenge.user).await
}

/// Mails the owner that a recovery is waiting, with a fresh single-use
/// cancel link. `reminder`: the second mail, halfway.
async fn mail_owner(
    state: &AppState,
    user: UserId,
    ready_at: UnixTime,
    address: Option<&str>,
    reminder: bool,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let email = crate::backend::auth::accounts::email_of(&state.pool, user).await?;
    let link = links::create(
        state,
        NewLink {
            purpose: Purpose::RecoveryCancel,
            user: Some(user),
            email: &email,
            password_hash: None,
        },
        now,
    )
    .await?;
    let issuer = &state.settings.issuer;
    let opening = if reminder {
        format!("Reminder: a recovery of your {issuer} account is still waiting.")
    } else {
        format!(
            "Someone signed in to your {issuer} account with its password and said they lost \
             every second factor, so a recovery started."
        )
    };
    let text = format!(
        "{opening}\n\nOn {ready} it can finish: whoever started it will then remove your \
         authenticator apps, passkeys, phones and backup codes with the password and a code sent \
         to this address, and set up new ones.\n\nIf this was not you, cancel it now (the link \
         works once):\n\n{link}\n\nCancelling also signs out every session. Then change your \
         password: whoever started it knows it.\n\nStarted from: {}",
        address.unwrap_or("unknown address"),
        ready = crate::api::display::format_utc(ready_at),
    );
    let subject = if reminder {
        format!("Reminder: your {issuer} account is being recovered")
    } else {
        format!("Your {issuer} account is being recovered")
    };
    state.settings.mailer.send_later(&email, &subject, text);
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AlertSent,
        now,
        &ClientMeta::default(),
        if reminder {
            "RecoveryReminder"
        } else {
            "RecoveryStarted"
        },
    )
    .await;
    Ok(())
}

/// `POST /api/auth/recovery/start`, during a sign-in challenge. Starting
/// again while one waits changes nothing (no new mail, same date).
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
) -> Result<RecoveryStatus, AppError> {
    let challenge = live_challenge(state, headers).await?;
    let user = challenge.user;
    let now = state.clock.now();
    if !email_confirmed(state, user).await? {
        return Err(AppError::Conflict {
            message: "Recovery finishes with a code sent to your email address, and this \
                      account's address is not confirmed. Ask an administrator for help."
                .into(),
        });
    }
    let ready_at = now + state.settings.recovery_delay_s;
    let started = sqlx::query(
        "INSERT INTO recoveries (user_id, started_at, ready_at, address) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) WHERE ended IS NULL DO NOTHING",
    )
    .bind(user.0)
    .bind(now)
    .bind(ready_at)
    .bind(meta.ip.as_deref())
    .execute(state.writer.pool())
    .await
    .map_err(|e| internal("starting a recovery", e))?;
    if started.rows_affected() == 1 {
        audit::record(
            &state.pool,
            Some(user),
            EventKind::RecoveryStarted,
            now,
            meta,
            &format!("ready {}", crate::api::display::format_utc(ready_at)),
        )
        .await;
        mail_owner(state, user, ready_at, meta.ip.as_deref(), false).await?;
    }
    status_of(state, user).await
}

/// Ends the pending recovery of `user` as cancelled; `false` if none waits.
async fn cancel_pending(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
    by: &str,
) -> Result<bool, AppError> {
    let now = state.clock.now();
    let mut tx = db::begin_write(&state.writer).await?;
    let cancelled = sqlx::query(
        "UPDATE recoveries SET ended = 'cancelled', ended_at = $1 WHERE user_id = $2 AND ended IS NULL",
    )
    .bind(now)
    .bind(user.0)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("cancelling a recovery", e))?;
    if cancelled.rows_affected() == 0 {
        return Ok(false);
    }
    // Whoever started it has the password and may be signed in: out.
    sessions::revoke_all(tx.conn()?, user, None).await?;
    crate::backend::oidc::tokens::revoke_all(tx.conn()?, user, None, now).await?;
    challenges::cancel_all(tx.conn()?, user).await?;
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::RecoveryCancelled,
        now,
        meta,
        by,
    );
    tx.commit().await?;
    alerts::send(state, user, Alert::RecoveryCancelled, meta).await?;
    Ok(true)
}

/// `POST /api/auth/recovery/cancel {token}`: the owner's link from the mail.
pub async fn cancel(state: &AppState, token: &str, meta: &ClientMeta) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut conn = state
        .writer
        .pool()
        .acquire()
        .await
        .map_err(|e| internal("acquire", e))?;
    let link = links::redeem(&mut conn, Purpose::RecoveryCancel, token, now)
        .await?
        .ok_or_else(links::invalid_link)?;
    drop(conn);
    let user = link.user.ok_or_else(links::invalid_link)?;
    if !cancel_pending(state, user, meta, "by the link mailed to the owner").await? {
        return Err(AppError::Conflict {
            message: "There is no recovery waiting on this account any more.".into(),
        });
    }
    Ok(())
}

/// What a finished recovery gives: the session, and that it goes straight
/// to enrolment.
#[derive(Debug)]
pub struct Recovered {
    pub session: NewSession,
}

/// `POST /api/auth/recovery/complete {code}`, during a sign-in challenge,
/// once the recovery is ready: a fresh email code (`POST
/// /api/auth/email-code`) proves the mailbox; then every factor goes, the
/// challenge becomes a session, and a covering policy makes enrolment due
/// at once. A wrong code counts like a wrong factor.
pub async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    code: &str,
    meta: &ClientMeta,
) -> Result<Recovered, AppError> {
    let challenge = live_challenge(state, headers).await?;
    let user = challenge.user;
    let now = state.clock.now();
    let prepared = mfa::prepare_recovery_code(code)?;
    let Some((recovery, _, ready_at)) = pending_of(&state.pool, user).await? else {
        return Err(AppError::Conflict {
            message: "There is no recovery waiting on this account.".into(),
        });
    };
    if ready_at > now {
        return Err(AppError::Conflict {
            message: format!(
                "The recovery can finish on {}.",
                crate::api::display::format_utc(ready_at)
            ),
        });
    }
    let owner = crate::backend::auth::owners::known_address(state, user, meta, now).await?;
    let asker = mfa::Asker::Challenge {
        owner,
        challenge: challenge.id,
    };
    let required = mfa::required_for(state, user).await?;
    let mut tx = db::begin_write(&state.writer).await?;
    let verdict = mfa::check_in(&mut tx, state, user, &prepared, meta, asker).await?;
    if let mfa::Verdict::Refused { .. } = verdict {
        tx.commit().await?;
        mfa::settle(state, user, verdict, meta).await?;
        return Err(AppError::Internal);
    }
    // Still pending and ready inside the write lock: a cancel that raced
    // this request wins if it committed first.
    let finished = sqlx::query(
        "UPDATE recoveries SET ended = 'completed', ended_at = $1
         WHERE id = $2 AND ended IS NULL AND ready_at <= $1",
    )
    .bind(now)
    .bind(recovery)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("finishing a recovery", e))?;
    if finished.rows_affected() != 1 {
        return Err(AppError::Conflict {
            message: "This recovery was cancelled.".into(),
        });
    }
    if !challenges::complete(&mut tx, challenge.id, now).await? {
        return Err(AppError::ChallengeExpired);
    }
    mfa::remove_factors(tx.conn()?, user).await?;
    if required {
        sqlx::query("UPDATE users SET mfa_required_by = $1 WHERE id = $2")
            .bind(now)
            .bind(user.0)
            .execute(tx.conn()?)
            .await
            .map_err(|e| internal("making enrolment due", e))?;
    }
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::RecoveryCompleted,
        now,
        meta,
        "every factor removed",
    );
    let session = sign_in::finish_recovery(&mut tx, state, user, challenge.remember_me, meta);
    tx.commit().await?;
    alerts::send(state, user, Alert::RecoveryCompleted, meta).await?;
    Ok(Recovered { session })
}

/// `GET /api/admin/recoveries`: every recovery waiting, oldest first.
pub async fn pending(state: &AppState) -> Result<Vec<PendingRecovery>, AppError> {
    type Row = (
        i64,
        String,
        i64,
        i64,
        Option<String>,
        crate::backend::infra::db::Flag,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.id, u.email, r.started_at, r.ready_at, r.address, r.approved_at IS NOT NULL
         FROM recoveries r JOIN users u ON u.id = r.user_id
         WHERE r.ended IS NULL ORDER BY r.started_at, r.id",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("listing recoveries", e))?;
    Ok(rows
        .into_iter()
        .map(
            |(id, email, started_at, ready_at, address, approved)| PendingRecovery {
                id,
                email,
                started_at,
                ready_at,
                address,
                approved: approved.0,
            },
        )
        .collect())
}

async fn user_of(state: &AppState, id: i64) -> Result<UserId, AppError> {
    let user: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM recoveries WHERE id = $1 AND ended IS NULL")
            .bind(id)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("reading a recovery", e))?;
    user.map(UserId).ok_or(AppError::NotFound)
}

/// `POST /api/admin/recoveries/cancel {id}`.
pub async fn admin_cancel(
    state: &AppState,
    admin: UserId,
    id: i64,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let user = user_of(state, id).await?;
    let by = format!("by administrator #{}", admin.0);
    if !cancel_pending(state, user, meta, &by).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// `POST /api/admin/recoveries/approve {id}`: the recovery may finish now
/// (the admin checked who is asking, out of band).
pub async fn admin_approve(
    state: &AppState,
    admin: UserId,
    id: i64,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let approved: Option<i64> = sqlx::query_scalar(
        "UPDATE recoveries SET approved_at = $1, approved_by = $2, ready_at = CASE WHEN ready_at < $1 THEN ready_at ELSE $1 END
         WHERE id = $3 AND ended IS NULL RETURNING user_id",
    )
    .bind(now)
    .bind(admin.0)
    .bind(id)
    .fetch_optional(state.writer.pool())
    .await
    .map_err(|e| internal("approving a recovery", e))?;
    let Some(user) = approved else {
        return Err(AppError::NotFound);
    };
    audit::record(
        &state.pool,
        Some(UserId(user)),
        EventKind::RecoveryApproved,
        now,
        meta,
        &format!("by administrator #{}", admin.0),
    )
    .await;
    Ok(())
}

/// The halfway reminders due now (housekeeping calls this every hour). A
/// reminder is marked sent before its mail goes, so several instances never
/// send two.
pub async fn remind_halfway(state: &AppState, now: UnixTime) -> Result<u64, AppError> {
    let due: Vec<(i64, i64, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, user_id, started_at, ready_at, address FROM recoveries
         WHERE ended IS NULL AND reminded_at IS NULL",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("reading recoveries", e))?;
    let mut sent = 0;
    for (id, user, started_at, ready_at, address) in due {
        if !reminder_due(started_at, ready_at, now) {
            continue;
        }
        let claimed = sqlx::query(
            "UPDATE recoveries SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(state.writer.pool())
        .await
        .map_err(|e| internal("marking a reminder", e))?;
        if claimed.rows_affected() == 1 {
            mail_owner(state, UserId(user), ready_at, address.as_deref(), true).await?;
            sent += 1;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reminder_is_due_halfway_and_not_after_the_end() {
        let start = 1_000_000;
        let ready = start + 72 * 3600;
        assert!(!reminder_due(start, ready, start));
        assert!(!reminder_due(start, ready, start + 36 * 3600 - 1));
        assert!(reminder_due(start, ready, start + 36 * 3600));
        assert!(reminder_due(start, ready, ready - 1));
        assert!(!reminder_due(start, ready, ready));
    }
}
