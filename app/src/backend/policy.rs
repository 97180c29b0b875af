//! The organisation's MFA policy: who must use two-factor authentication,
//! and by when. Each covered account gets its own deadline, fixed the first
//! time the requirement applies to it; after that it can only enrol.

use sqlx::AnyPool;

use crate::api::{AppError, MfaPolicy, MfaRequirement, MfaState, Role};
use crate::backend::audit::{self, EventKind};
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, ClientMeta, UserId, internal};

pub const DAY_S: i64 = 24 * 60 * 60;
pub const MAX_GRACE_DAYS: u32 = 365;

/// Where an account stands with the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not covered, or already enrolled.
    Free,
    /// Covered and not enrolled; free to do anything until `by`.
    Grace { by: UnixTime },
    /// The deadline `by` has passed: enrolment is the only thing allowed.
    EnrolOnly { by: UnixTime },
}

impl Standing {
    pub fn required_by(self) -> Option<UnixTime> {
        match self {
            Standing::Free => None,
            Standing::Grace { by } | Standing::EnrolOnly { by } => Some(by),
        }
    }
}

/// The rule. Admins are never exempt from a policy that covers them.
pub fn standing(
    require: MfaRequirement,
    role: Role,
    mfa: MfaState,
    required_by: Option<UnixTime>,
    now: UnixTime,
) -> Standing {
    if !require.covers(role) || mfa == MfaState::Enabled {
        return Standing::Free;
    }
    match required_by {
        Some(by) if now >= by => Standing::EnrolOnly { by },
        Some(by) => Standing::Grace { by },
        // Not fixed yet: `standing_of` fixes it before asking.
        None => Standing::Free,
    }
}

/// The policy, from the pool or inside a transaction.
pub async fn load<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<MfaPolicy, AppError> {
    let (require, grace_days, allow_email_codes, allow_sms): (
        String,
        i64,
        crate::backend::infra::db::Flag,
        crate::backend::infra::db::Flag,
    ) = sqlx::query_as(
        "SELECT require, grace_days, allow_email_codes, allow_sms FROM mfa_policy WHERE id = 1",
    )
    .fetch_one(db)
    .await
    .map_err(|e| internal("reading the MFA policy", e))?;
    Ok(MfaPolicy {
        require: MfaRequirement::parse(&require)
            .ok_or_else(|| internal("unknown policy in database", &require))?,
        grace_days: u32::try_from(grace_days).unwrap_or(0),
        allow_email_codes: allow_email_codes.0,
        allow_sms: allow_sms.0,
    })
}

/// The account's standing now, fixing its deadline if the policy has just
/// come to cover it (a new account, a promotion).
pub async fn standing_of(
    pool: &AnyPool,
    user: UserId,
    now: UnixTime,
) -> Result<Standing, AppError> {
    let row: Option<(String, String, Option<i64>, String, i64)> = sqlx::query_as(
        "SELECT u.role, u.mfa_state, u.mfa_required_by, p.require, p.grace_days
         FROM users u JOIN mfa_policy p ON p.id = 1 WHERE u.id = $1",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading the policy standing", e))?;
    let (role, mfa, mut required_by, require, grace_days) = row.ok_or(AppError::NotSignedIn)?;
    let role = Role::parse(&role).ok_or_else(|| internal("unknown role", &role))?;
    let require =
        MfaRequirement::parse(&require).ok_or_else(|| internal("unknown policy", &require))?;
    // A setup in progress is not enrolment; its exact state does not matter here.
    let mfa = MfaState::parse(&mfa).unwrap_or(MfaState::Disabled);
    if require.covers(role) && mfa != MfaState::Enabled && required_by.is_none() {
        // Only while the policy read above is still the policy: a change in
        // between must not leave a deadline behind.
        required_by = sqlx::query_scalar::<_, Option<i64>>(
            "UPDATE users SET mfa_required_by = COALESCE(mfa_required_by, $1) WHERE id = $2
             AND EXISTS (SELECT 1 FROM mfa_policy WHERE id = 1 AND require = $3 AND grace_days = $4)
             RETURNING mfa_required_by",
        )
        .bind(now + grace_days * DAY_S)
        .bind(user.0)
        .bind(require.as_str())
        .bind(grace_days)
        .fetch_optional(pool)
        .await
        .map_err(|e| internal("fixing an enrolment deadline", e))?
        .flatten();
    }
    Ok(standing(require, role, mfa, required_by, now))
}

/// SQL condition on `users` for the accounts a requirement covers.
pub(super) fn covered_sql(require: MfaRequirement) -> &'static str {
    match require {
        MfaRequirement::Nobody => "FALSE",
        MfaRequirement::Admins => "role = 'Admin'",
        MfaRequirement::Everyone => "TRUE",
    }
}

/// After an admin's reset of `user`'s factors: under a policy that covers
/// them, enrolment is due at once (they lost their factors, so the next
/// sign-in leads straight into the wizard); otherwise no deadline.
pub async fn due_now_if_covered(
    tx: &mut sqlx::AnyConnection,
    user: UserId,
    now: UnixTime,
) -> Result<(), AppError> {
    let require = load(&mut *tx).await?.require;
    sqlx::query(&format!(
        "UPDATE users SET mfa_required_by = CASE WHEN ({}) THEN $1 ELSE NULL END WHERE id = $2",
        covered_sql(require)
    ))
    .bind(now)
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| internal("setting an enrolment deadline", e))?;
    Ok(())
}

/// Sets the policy. Accounts it newly covers get their deadline now (today
/// plus the grace period); accounts it no longer covers lose theirs; existing
/// deadlines stay as they were fixed.
pub async fn save(
    state: &AppState,
    admin: Option<UserId>,
    policy: MfaPolicy,
    meta: &ClientMeta,
) -> Result<MfaPolicy, AppError> {
    if policy.grace_days > MAX_GRACE_DAYS {
        return Err(AppError::validation(
            "grace_days",
            format!("The grace period is 0 to {MAX_GRACE_DAYS} days."),
        ));
    }
    let now = state.clock.now();
    let covered = covered_sql(policy.require);
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    sqlx::query(
        "UPDATE mfa_policy SET require = $1, grace_days = $2, allow_email_codes = $3, allow_sms = $4,
         updated_at = $5 WHERE id = 1",
    )
    .bind(policy.require.as_str())
    .bind(i64::from(policy.grace_days))
    .bind(policy.allow_email_codes)
    .bind(policy.allow_sms)
    .bind(now)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("saving the MFA policy", e))?;
    sqlx::query(&format!(
        "UPDATE users SET mfa_required_by = NULL WHERE NOT ({covered})"
    ))
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("clearing deadlines", e))?;
    sqlx::query(&format!(
        "UPDATE users SET mfa_required_by = $1 WHERE ({covered})
         AND mfa_required_by IS NULL AND mfa_state != 'Enabled'"
    ))
    .bind(now + i64::from(policy.grace_days) * DAY_S)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("fixing deadlines", e))?;
    tx.commit().await?;
    audit::record(
        &state.pool,
        admin,
        EventKind::PolicyChanged,
        now,
        meta,
        &format!(
            "MFA required for {}, {} days to enrol, email codes {}, texts {}",
            policy.require.as_str(),
            policy.grace_days,
            allowed(policy.allow_email_codes),
            allowed(policy.allow_sms),
        ),
    )
    .await;
    Ok(policy)
}

fn allowed(yes: bool) -> &'static str {
    if yes { "allowed" } else { "not allowed" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn who_is_covered() {
        use MfaRequirement::*;
        assert!(!Nobody.covers(Role::Admin));
        assert!(Admins.covers(Role::Admin) && !Admins.covers(Role::User));
        assert!(Everyone.covers(Role::User) && Everyone.covers(Role::Admin));
    }

    #[test]
    fn grace_then_enrol_only() {
        let by = NOW + 7 * DAY_S;
        let s = |mfa, now| standing(MfaRequirement::Everyone, Role::User, mfa, Some(by), now);
        assert_eq!(s(MfaState::Disabled, NOW), Standing::Grace { by });
        assert_eq!(s(MfaState::Disabled, by - 1), Standing::Grace { by });
        assert_eq!(s(MfaState::Disabled, by), Standing::EnrolOnly { by });
        assert_eq!(
            s(MfaState::SetupInProgress, by + 1),
            Standing::EnrolOnly { by }
        );
        assert_eq!(s(MfaState::Enabled, by + 1), Standing::Free);
    }

    #[test]
    fn admins_are_never_exempt_and_users_are_not_caught_by_admin_policy() {
        let by = NOW - 1;
        assert_eq!(
            standing(
                MfaRequirement::Admins,
                Role::Admin,
                MfaState::Disabled,
                Some(by),
                NOW
            ),
            Standing::EnrolOnly { by }
        );
        assert_eq!(
            standing(
                MfaRequirement::Admins,
                Role::User,
                MfaState::Disabled,
                Some(by),
                NOW
            ),
            Standing::Free
        );
        assert_eq!(
            standing(
                MfaRequirement::Nobody,
                Role::Admin,
                MfaState::Disabled,
                Some(by),
                NOW
            ),
            Standing::Free
        );
    }
}
