//! The security event trail (SPEC section 4): one row per event.

use sqlx::AnyPool;

use crate::api::display::device_label;
use crate::api::{AppError, EventsPage, SecurityEvent};
use crate::backend::infra::clock::UnixTime;
use crate::backend::{ClientMeta, UserId, internal};

/// Largest page `GET /api/security/events` returns.
pub const MAX_PAGE: u32 = 100;

/// Kinds of events, stored as their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    LoginSucceeded,
    LoginFailed,
    LoggedOut,
    ChallengeIssued,
    FactorSucceeded,
    FactorFailed,
    MfaSetupStarted,
    MfaSetupConfirmed,
    MfaSetupCancelled,
    MfaDisabled,
    BackupCodesRegenerated,
    BackupCodeUsed,
    LockedOut,
    SessionRevoked,
    LoggedOutEverywhere,
    DeviceTrusted,
    DeviceRevoked,
    EmailCodeSent,
    AlertSent,
    PasswordChanged,
    Reauthenticated,
    PolicyChanged,
    MfaReset,
    AccountUnlocked,
    RoleChanged,
    AdminAction,
    PasswordFailed,
    FactorRenamed,
    FactorRemoved,
    FactorAdded,
    PossibleClonedKey,
    /// OpenID Connect: a code issued to an app.
    AppSignIn,
    AppTokensIssued,
    AppRefused,
    AppRevoked,
    AppConsented,
    SmsCodeSent,
    PasswordResetRequested,
    PasswordReset,
    RecoveryStarted,
    RecoveryCancelled,
    RecoveryApproved,
    RecoveryCompleted,
}

impl EventKind {
    /// Every kind, for checks that must cover them all.
    pub const ALL: [EventKind; 44] = [
        EventKind::Registered,
        EventKind::LoginSucceeded,
        EventKind::LoginFailed,
        EventKind::LoggedOut,
        EventKind::ChallengeIssued,
        EventKind::FactorSucceeded,
        EventKind::FactorFailed,
        EventKind::MfaSetupStarted,
        EventKind::MfaSetupConfirmed,
        EventKind::MfaSetupCancelled,
        EventKind::MfaDisabled,
        EventKind::BackupCodesRegenerated,
        EventKind::BackupCodeUsed,
        EventKind::LockedOut,
        EventKind::SessionRevoked,
        EventKind::LoggedOutEverywhere,
        EventKind::DeviceTrusted,
        EventKind::DeviceRevoked,
        EventKind::EmailCodeSent,
        EventKind::AlertSent,
        EventKind::PasswordChanged,
        EventKind::Reauthenticated,
        EventKind::PolicyChanged,
        EventKind::MfaReset,
        EventKind::AccountUnlocked,
        EventKind::RoleChanged,
        EventKind::AdminAction,
        EventKind::PasswordFailed,
        EventKind::FactorRenamed,
        EventKind::FactorRemoved,
        EventKind::FactorAdded,
        EventKind::PossibleClonedKey,
        EventKind::AppSignIn,
        EventKind::AppTokensIssued,
        EventKind::AppRefused,
        EventKind::AppRevoked,
        EventKind::AppConsented,
        EventKind::SmsCodeSent,
        EventKind::PasswordResetRequested,
        EventKind::PasswordReset,
        EventKind::RecoveryStarted,
        EventKind::RecoveryCancelled,
        EventKind::RecoveryApproved,
        EventKind::RecoveryCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "Registered",
            EventKind::LoginSucceeded => "LoginSucceeded",
            EventKind::LoginFailed => "LoginFailed",
            EventKind::LoggedOut => "LoggedOut",
            EventKind::ChallengeIssued => "ChallengeIssued",
            EventKind::FactorSucceeded => "FactorSucceeded",
            EventKind::FactorFailed => "FactorFailed",
            EventKind::MfaSetupStarted => "MfaSetupStarted",
            EventKind::MfaSetupConfirmed => "MfaSetupConfirmed",
            EventKind::MfaSetupCancelled => "MfaSetupCancelled",
            EventKind::MfaDisabled => "MfaDisabled",
            EventKind::BackupCodesRegenerated => "BackupCodesRegenerated",
            EventKind::BackupCodeUsed => "BackupCodeUsed",
            EventKind::LockedOut => "LockedOut",
            EventKind::SessionRevoked => "SessionRevoked",
            EventKind::LoggedOutEverywhere => "LoggedOutEverywhere",
            EventKind::DeviceTrusted => "DeviceTrusted",
            EventKind::DeviceRevoked => "DeviceRevoked",
            EventKind::EmailCodeSent => "EmailCodeSent",
            EventKind::AlertSent => "AlertSent",
            EventKind::PasswordChanged => "PasswordChanged",
            EventKind::Reauthenticated => "Reauthenticated",
            EventKind::PolicyChanged => "PolicyChanged",
            EventKind::MfaReset => "MfaReset",
            EventKind::AccountUnlocked => "AccountUnlocked",
            EventKind::RoleChanged => "RoleChanged",
            EventKind::AdminAction => "AdminAction",
            EventKind::PasswordFailed => "PasswordFailed",
            EventKind::FactorRenamed => "FactorRenamed",
            EventKind::FactorRemoved => "FactorRemoved",
            EventKind::FactorAdded => "FactorAdded",
            EventKind::PossibleClonedKey => "PossibleClonedKey",
            EventKind::AppSignIn => "AppSignIn",
            EventKind::AppTokensIssued => "AppTokensIssued",
            EventKind::AppRefused => "AppRefused",
            EventKind::AppRevoked => "AppRevoked",
            EventKind::AppConsented => "AppConsented",
            EventKind::SmsCodeSent => "SmsCodeSent",
            EventKind::PasswordResetRequested => "PasswordResetRequested",
            EventKind::PasswordReset => "PasswordReset",
            EventKind::RecoveryStarted => "RecoveryStarted",
            EventKind::RecoveryCancelled => "RecoveryCancelled",
            EventKind::RecoveryApproved => "RecoveryApproved",
            EventKind::RecoveryCompleted => "RecoveryCompleted",
        }
    }
}

/// Records an event. A failure to record is logged, not returned: the action it
/// describes has already happened and must not be reported as failed.
const INSERT_EVENT: &str = "INSERT INTO security_events (user_id, kind, at, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// [`record`] as one of the transaction's deferred writes: it is kept or
/// rolled back with the rest.
pub fn record_later(
    batch: &mut crate::backend::infra::db::Batch,
    user: Option<UserId>,
    kind: EventKind,
    now: UnixTime,
    meta: &ClientMeta,
    detail: &str,
) {
    batch
        .add(INSERT_EVENT)
        .bind(user.map(|u| u.0))
        .bind(kind.as_str().to_string())
        .bind(now)
        .bind(meta.ip.clone())
        .bind(meta.user_agent.clone())
        .bind(detail.to_string());
}

pub async fn record(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user: Option<UserId>,
    kind: EventKind,
    now: UnixTime,
    meta: &ClientMeta,
    detail: &str,
) {
    let result = sqlx::query(INSERT_EVENT)
        .bind(user.map(|u| u.0))
        .bind(kind.as_str())
        .bind(now)
        .bind(meta.ip.as_deref())
        .bind(meta.user_agent.as_deref())
        .bind(detail)
        .execute(db)
        .await;
    if let Err(e) = result {
        tracing::error!(
            kind = kind.as_str(),
            "recording a security event failed: {e}"
        );
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

/// The user's own events, newest first, `limit` at a time, older than the
/// event id `before` when given. Other users' events are never selected.
pub async fn list(
    pool: &AnyPool,
    user: UserId,
    before: Option<i64>,
    limit: u32,
) -> Result<EventsPage, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, kind, at, ip, user_agent, detail FROM security_events
         WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(user.0)
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("listing security events", e))?;
    let more = rows.len() > limit as usize;
    let events: Vec<SecurityEvent> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| SecurityEvent {
            id: r.id,
            kind: r.kind,
            at: r.at,
            ip: r.ip,
            device: device_label(r.user_agent.as_deref()),
            detail: r.detail,
        })
        .collect();
    let next_before = if more {
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(EventsPage {
        events,
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_words_for_the_activity_list() {
        for kind in EventKind::ALL {
            assert_ne!(
                crate::api::display::event_text(kind.as_str()),
                "Security event",
                "{kind:?}"
            );
        }
    }
}
