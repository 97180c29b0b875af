//! The security event trail (SPEC section 4): one row per event.

use sqlx::SqlitePool;

use super::clock::UnixTime;
use super::{ClientMeta, UserId};

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
}

impl EventKind {
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
        }
    }
}

/// Records an event. A failure to record is logged, not returned: the action it
/// describes has already happened and must not be reported as failed.
pub async fn record(
    pool: &SqlitePool,
    user: Option<UserId>,
    kind: EventKind,
    now: UnixTime,
    meta: &ClientMeta,
    detail: &str,
) {
    let result = sqlx::query(
        "INSERT INTO security_events (user_id, kind, at, ip, user_agent, detail) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(user.map(|u| u.0))
    .bind(kind.as_str())
    .bind(now)
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref())
    .bind(detail)
    .execute(pool)
    .await;
    if let Err(e) = result {
        tracing::error!(
            kind = kind.as_str(),
            "recording a security event failed: {e}"
        );
    }
}
